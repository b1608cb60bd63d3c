"""Check-in: who is present at a talk, with or without the code shown in the room, and walk-ins.

No Discord objects here. Check-in is open from CHECKIN_OPENS before the start until the end. A member with a
confirmed seat checks in on it; any other member (not registered, or on the waitlist) is a walk-in, accepted
while a seat is free (or when seating is unlimited): the walk-in then holds a seat (bot/store.py seats), counted
in the same transaction as the check-in, so capacity is never exceeded. A talk may require a code
(``talks.checkin_code``, set with ``/talk edit checkin_code:true``); wrong codes are counted per member and talk,
and past GUESS_LIMIT in GUESS_WINDOW the member waits.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import attendance_rows, store
from bot.attendance_rows import Checkin
from bot.checkin_codes import normalized_code
from bot.command_names import command
from bot.database import Database
from bot.errors import InputError, StateError
from bot.i18n import Text, _, _n
from bot.models import Registration, RegistrationStatus, Seats, Talk
from bot.sql import Connection
from bot.talks import MINE_HINT, no_such_talk
from bot.timeparse import discord_timestamp

CHECKIN_OPENS = timedelta(minutes=15)  # before the start
GUESS_LIMIT = 5  # wrong codes per member and talk ...
GUESS_WINDOW = timedelta(minutes=10)  # ... in any such window
NAME_MAX = 100


def opens_at(talk: Talk) -> datetime:
    return talk.start_at - CHECKIN_OPENS


def has_opened(talk: Talk, now: datetime) -> bool:
    """Whether check-in has begun (it may be over): only from then on do no-shows mean anything."""
    return now >= opens_at(talk)


class CodeRequiredError(InputError):
    """The talk needs its code and none was given: the button answers with a modal asking for it."""


@dataclass(frozen=True)
class CheckinOutcome:
    talk: Talk
    created: bool  # False: the member had already checked in, and nothing changed
    walk_in: bool
    checked_in_at: datetime
    seats: Seats
    registration: Registration | None = None  # the member's registration, if any (a waitlisted walk-in keeps it)


@dataclass(frozen=True)
class AttendanceSummary:
    """What /talk attendees adds: who checked in, and the confirmed members who did not."""

    opened: bool  # check-in has begun; before that there are no no-shows to count
    over: bool
    checkins: list[Checkin]
    no_shows: int

    @property
    def checked_in(self) -> int:
        return len(self.checkins)

    @property
    def walk_ins(self) -> int:
        return sum(checkin.walk_in for checkin in self.checkins)

    def by_member(self) -> dict[int, Checkin]:
        return {checkin.user_id: checkin for checkin in self.checkins}


class CheckinService:
    """Check-ins and check-in codes, on top of the database."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock
        # Wrong codes by (talk, member), oldest first. Kept in memory: a restart forgets them, which still leaves
        # a guesser GUESS_LIMIT tries per GUESS_WINDOW and restart against 244 million codes.
        self._wrong: dict[tuple[int, int], deque[datetime]] = {}

    # --- members ---------------------------------------------------------------------------------

    async def check_in(
        self, guild_id: int | None, talk_id: int, user_id: int, display_name: str, code: str | None
    ) -> CheckinOutcome:
        """Record that the member is present; ``guild_id`` is None from a button in a DM (the talk names it).

        Raises what stops it, in this order: a talk the member may not see, cancelled, not open yet, over; then
        (unless they already checked in) too many wrong codes, no code, a wrong code, and no seat for a walk-in.
        """
        async with self.db.transaction() as conn:
            await store.lock_talks(conn, (talk_id,))  # a walk-in takes a seat: counted under the talk's lock
            now = self.clock()
            talk = await self._visible(conn, guild_id, talk_id, user_id, now)
            _check_window(talk, now)
            already = await attendance_rows.checked_in_at(conn, talk.id, user_id)
            registration = await store.get_registration(conn, talk.id, user_id)
            if already is not None:
                return CheckinOutcome(
                    talk,
                    created=False,
                    walk_in=False,
                    checked_in_at=already,
                    seats=await store.seats(conn, talk),
                    registration=registration,
                )
            self._check_code(talk, user_id, code, now)
            seats = await store.seats(conn, talk)
            walk_in = registration is None or registration.status is not RegistrationStatus.CONFIRMED
            if walk_in and seats.left is not None and seats.left <= 0:
                raise _full(talk, registration)
            await attendance_rows.record_checkin(
                conn,
                talk_id=talk.id,
                guild_id=talk.guild_id,
                user_id=user_id,
                display_name=display_name[:NAME_MAX],
                walk_in=walk_in,
                now=now,
            )
            if walk_in:
                seats = await store.seats(conn, talk)
        return CheckinOutcome(
            talk, created=True, walk_in=walk_in, checked_in_at=now, seats=seats, registration=registration
        )

    async def _visible(self, conn: Connection, guild_id: int | None, talk_id: int, user_id: int, now: datetime) -> Talk:
        """The talk as the member may see it: announced, or one they registered for (see TalkService.member_talk)."""
        talk = (
            await store.get_talk_by_id(conn, talk_id)
            if guild_id is None
            else await store.get_talk(conn, guild_id, talk_id)
        )
        if (
            talk is not None
            and not talk.is_public(now)
            and await store.get_registration(conn, talk.id, user_id) is None
        ):
            talk = None
        if talk is None:
            raise no_such_talk(talk_id) if guild_id is not None else no_such_talk(talk_id, MINE_HINT)
        return talk

    def _check_code(self, talk: Talk, user_id: int, code: str | None, now: datetime) -> None:
        if talk.checkin_code is None:
            return
        key = (talk.id, user_id)
        wrong = self._wrong.get(key, deque())
        while wrong and wrong[0] <= now - GUESS_WINDOW:
            wrong.popleft()
        if len(wrong) >= GUESS_LIMIT:
            retry_at = wrong[0] + GUESS_WINDOW
            raise StateError(
                _(
                    "Too many wrong codes for **{title}**: {count} in {minutes} minutes. Nothing changed. Try again "
                    "{relative}, with the code shown in the room.",
                    title=talk.title,
                    count=GUESS_LIMIT,
                    minutes=int(GUESS_WINDOW.total_seconds() // 60),
                    relative=discord_timestamp(retry_at, "R"),
                )
            )
        if code is None or not normalized_code(code):
            raise CodeRequiredError(
                _(
                    "Checking in to **{title}** needs the code shown in the room: {example}.",
                    title=talk.title,
                    example=command("checkin", talk=talk.id, code="…"),
                )
            )
        if secrets.compare_digest(normalized_code(code), talk.checkin_code):
            self._wrong.pop(key, None)
            return
        wrong.append(now)
        self._wrong[key] = wrong
        left = GUESS_LIMIT - len(wrong)
        raise InputError(
            _n(
                "That is not the code for **{title}**; nothing changed. Check the code shown in the room ({count} "
                "try left for now).",
                "That is not the code for **{title}**; nothing changed. Check the code shown in the room ({count} "
                "tries left for now).",
                left,
                title=talk.title,
            )
        )

    # --- organizers ------------------------------------------------------------------------------

    async def code_of(self, guild_id: int, talk_id: int) -> Talk:
        """The talk with its code, for organizers; refused when it needs none."""
        async with self.db.reading() as conn:
            talk = await store.get_talk(conn, guild_id, talk_id)
        if talk is None:
            raise no_such_talk(talk_id)
        if talk.cancelled:
            raise StateError(_("**{title}** was cancelled, so there is no check-in.", title=talk.title))
        if talk.checkin_code is None:
            raise StateError(
                _(
                    "**{title}** needs no code: members check in with the button or {checkin} alone. To require "
                    "one, use {edit}.",
                    title=talk.title,
                    checkin=command("checkin"),
                    edit=command("talk edit", talk=talk.id, checkin_code="True"),
                )
            )
        return talk

    async def summary(self, talk: Talk) -> AttendanceSummary:
        now = self.clock()
        async with self.db.reading() as conn:
            checkins = await attendance_rows.checkin_list(conn, talk.id)
            confirmed = await store.registrations(conn, talk.id, RegistrationStatus.CONFIRMED)
        present = {checkin.user_id for checkin in checkins}
        opened = has_opened(talk, now) and not talk.cancelled
        return AttendanceSummary(
            opened=opened,
            over=talk.is_over(now),
            checkins=checkins,
            no_shows=sum(r.user_id not in present for r in confirmed) if opened else 0,
        )


def _check_window(talk: Talk, now: datetime) -> None:
    if talk.cancelled:
        raise StateError(_("**{title}** was cancelled, so there is no check-in.", title=talk.title))
    if talk.is_over(now):
        raise StateError(_("**{title}** is over, so check-in is closed.", title=talk.title))
    if now < opens_at(talk):
        opening = opens_at(talk)
        raise StateError(
            _(
                "Check-in for **{title}** opens {minutes} minutes before the start: {relative} (at {time}).",
                title=talk.title,
                minutes=int(CHECKIN_OPENS.total_seconds() // 60),
                relative=discord_timestamp(opening, "R"),
                time=discord_timestamp(opening, "f"),
            )
        )


def _full(talk: Talk, registration: Registration | None) -> StateError:
    if registration is not None and registration.position is not None:
        return StateError(
            _(
                "**{title}** is full: every seat is taken and you are #{position} on the waitlist, so I cannot "
                "check you in. If a seat frees up you will be confirmed automatically.",
                title=talk.title,
                position=registration.position,
            )
        )
    return StateError(
        _(
            "**{title}** is full: every seat is taken, so I cannot check you in without a registration.",
            title=talk.title,
        )
    )


def code_text(talk: Talk) -> Text:
    """What /talk code shows organizers."""
    return _(
        "Check-in code for **{title}**: **`{code}`**\nPut it on a slide in the room. Members type it in the check-in "
        "button's window, or with {checkin}. Check-in is open from {opens} until the end.",
        title=talk.title,
        code=talk.checkin_code,
        checkin=command("checkin", talk=talk.id, code=talk.checkin_code),
        opens=discord_timestamp(opens_at(talk), "f"),
    )
