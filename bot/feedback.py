"""Feedback: when a talk ends its attendees are asked for a rating (1 to 5) and an optional comment, by DM.

No Discord objects: the rules are tested on a real SQLite (tests/test_feedback.py). The request is one outbox row
per attendee (DeliveryKind.FEEDBACK_REQUEST, key 0), recorded by the talk's timed job at its end (or at the next
start-up when the bot was down then), so each attendee is asked once, across restarts. Attendees are decided
by the ``attendance`` view (bot/attendance_rows.py): who checked in, or every confirmed member when nobody did.
Answers are accepted for FEEDBACK_WINDOW after the end, one per member, and may be changed until then.
Organizers see the count, the average, the distribution and the comments, never who gave which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot import attendance_rows, feedback_rows, store
from bot.command_names import command
from bot.errors import InputError, PermissionDeniedError, StateError
from bot.feedback_rows import Answer
from bot.i18n import _, _n
from bot.jobplan import FEEDBACK_WINDOW
from bot.models import Delivery, DeliveryKind, DeliveryStatus, Talk
from bot.sql import Connection
from bot.talks import TalkService, no_such_talk
from bot.timeparse import discord_timestamp

COMMENT_MAX = 1000  # characters
RATINGS = range(1, 6)


def closes_at(talk: Talk) -> datetime:
    """The last moment an answer is accepted (exclusive)."""
    return talk.end_at + FEEDBACK_WINDOW


@dataclass(frozen=True)
class Saved:
    talk: Talk
    answer: Answer
    changed: bool  # False: the member gave the same answer again, nothing changed
    replaced: bool  # True: the member had answered before


@dataclass(frozen=True)
class Summary:
    """What /talk feedback shows organizers: no names, no user ids, no times of answering."""

    talk: Talk
    asked: int  # attendees whose request went out (or is about to)
    unreachable: int  # attendees the DM could not reach (DMs closed)
    distribution: dict[int, int]  # rating -> how many
    comments: list[tuple[int, str]]  # (rating, comment), best rating first
    closes_at: datetime

    @property
    def count(self) -> int:
        return sum(self.distribution.values())

    @property
    def average(self) -> float | None:
        if not self.count:
            return None
        return sum(rating * n for rating, n in self.distribution.items()) / self.count


def parse_rating(typed: str) -> int:
    """The rating typed in the feedback window: a whole number from 1 to 5."""
    cleaned = typed.strip()
    # Only ASCII digits: str.isdigit() would also take "٣" or "４", which no one means to type here.
    if cleaned in {str(rating) for rating in RATINGS}:
        return int(cleaned)
    raise InputError(_("The rating must be a whole number from 1 (poor) to 5 (excellent). Type one and send again."))


def clean_comment(typed: str | None) -> str | None:
    """The comment as it is kept: surrounding blanks removed, None when empty, refused when too long."""
    cleaned = (typed or "").strip()
    if len(cleaned) > COMMENT_MAX:
        raise InputError(
            _(
                "Your comment is {length} characters long; the limit is {limit}. Shorten it and send it again.",
                length=len(cleaned),
                limit=COMMENT_MAX,
            )
        )
    return cleaned or None


class FeedbackBox:
    def __init__(self, service: TalkService) -> None:
        self.service = service
        self.db = service.db

    def _clock(self) -> datetime:
        return self.service.clock()

    async def owe_requests(self, talk: Talk) -> list[Delivery]:
        """Record one request per attendee once the talk is over; returns the rows still to send. Nothing for
        a cancelled talk, before the end, or once answers are no longer accepted."""
        now = self._clock()
        if talk.cancelled or not talk.is_over(now) or now >= closes_at(talk):
            return []
        async with self.db.transaction() as conn:
            fresh = await store.get_talk_by_id(conn, talk.id)  # cancelled in the meantime?
            if fresh is None or fresh.cancelled:
                return []
            attendees = await attendance_rows.attendees(conn, talk.id)
            return await store.ensure_deliveries(
                conn, fresh, "user", DeliveryKind.FEEDBACK_REQUEST, [(a.user_id, 0) for a in attendees], now
            )

    async def talks_not_asked(self) -> list[Talk]:
        """Talks that ended while the bot was down, recently enough to still ask for feedback."""
        now = self._clock()
        async with self.db.reading() as conn:
            ids = await feedback_rows.talks_not_asked(conn, now - FEEDBACK_WINDOW, now)
            talks = [await store.get_talk_by_id(conn, talk_id) for talk_id in ids]
        return [talk for talk in talks if talk is not None]

    async def _answerable(self, conn: Connection, talk_id: int, user_id: int) -> Talk:
        talk = await store.get_talk_by_id(conn, talk_id)
        if talk is None:
            raise no_such_talk(talk_id)
        now = self._clock()
        title = talk.title
        if talk.cancelled:
            raise StateError(_("**{title}** was cancelled, so it takes no feedback.", title=title))
        if not talk.is_over(now):
            raise StateError(
                _(
                    "Feedback on **{title}** opens when the talk ends, {time}.",
                    title=title,
                    time=discord_timestamp(talk.end_at, "R"),
                )
            )
        if now >= closes_at(talk):
            raise StateError(
                _n(
                    "Feedback on **{title}** closed on {time}, {count} day after the talk; answers can no longer "
                    "be given or changed.",
                    "Feedback on **{title}** closed on {time}, {count} days after the talk; answers can no longer "
                    "be given or changed.",
                    FEEDBACK_WINDOW.days,
                    title=title,
                    time=discord_timestamp(closes_at(talk), "f"),
                )
            )
        if not await attendance_rows.attended(conn, talk.id, user_id):
            raise PermissionDeniedError(
                _(
                    "Only members who attended **{title}** can give feedback on it, and it has no attendance "
                    "recorded for you. If you were there, ask an organizer.",
                    title=title,
                )
            )
        return talk

    async def current(self, talk_id: int, user_id: int) -> tuple[Talk, Answer | None]:
        """The talk and the member's answer so far, once they are known to be allowed to answer (the feedback
        window opens filled in with it)."""
        async with self.db.reading() as conn:
            talk = await self._answerable(conn, talk_id, user_id)
            return talk, await feedback_rows.get_answer(conn, talk.id, user_id)

    async def rate(self, talk_id: int, user_id: int, rating: int) -> Saved:
        """A rating button: the rating changes, a comment written before stays."""
        if rating not in RATINGS:
            raise InputError(_("The rating must be a whole number from 1 (poor) to 5 (excellent)."))
        return await self._save(talk_id, user_id, rating, None, keep_comment=True)

    async def answer(self, talk_id: int, user_id: int, rating: str, comment: str | None) -> Saved:
        """The feedback window: rating and comment together; an empty comment removes the one written before."""
        return await self._save(talk_id, user_id, parse_rating(rating), clean_comment(comment), keep_comment=False)

    async def _save(self, talk_id: int, user_id: int, rating: int, comment: str | None, *, keep_comment: bool) -> Saved:
        async with self.db.transaction() as conn:
            talk = await self._answerable(conn, talk_id, user_id)
            before = await feedback_rows.get_answer(conn, talk.id, user_id)
            unchanged = before is not None and before.rating == rating and (keep_comment or before.comment == comment)
            if not unchanged:
                await feedback_rows.save_answer(
                    conn,
                    talk_id=talk.id,
                    guild_id=talk.guild_id,
                    user_id=user_id,
                    rating=rating,
                    comment=comment,
                    keep_comment=keep_comment,
                    now=self._clock(),
                )
            after = await feedback_rows.get_answer(conn, talk.id, user_id)
        assert after is not None
        return Saved(talk, after, changed=not unchanged, replaced=before is not None)

    async def summary(self, guild_id: int, talk_id: int) -> Summary:
        """Organizers: refused for a cancelled talk (nobody was asked) and before the end (nothing to show yet)."""
        talk = await self.service.get_talk(guild_id, talk_id)
        if talk.cancelled:
            raise StateError(_("**{title}** was cancelled, so no feedback was asked for.", title=talk.title))
        if not talk.is_over(self._clock()):
            raise StateError(
                _(
                    "**{title}** is not over yet. Its attendees will be asked for feedback by DM when it ends, "
                    "{time}; run {feedback} again after that.",
                    title=talk.title,
                    time=discord_timestamp(talk.end_at, "R"),
                    feedback=command("talk feedback", talk=talk.id),
                )
            )
        async with self.db.reading() as conn:
            requests = await store.deliveries_for(conn, talk.id, DeliveryKind.FEEDBACK_REQUEST)
            counts = await feedback_rows.distribution(conn, talk.id)
            written = await feedback_rows.comments(conn, talk.id)
        return Summary(
            talk=talk,
            asked=sum(1 for row in requests if row.status in (DeliveryStatus.SENT, DeliveryStatus.PENDING)),
            unreachable=sum(1 for row in requests if row.status is DeliveryStatus.FAILED),
            distribution=counts,
            comments=written,
            closes_at=closes_at(talk),
        )
