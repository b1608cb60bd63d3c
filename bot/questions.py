"""Questions for the speaker: members ask and upvote, organizers hide, the speaker gets the ranked list by DM.

No Discord objects: the rules are tested on a real SQLite (tests/test_questions.py). Who may ask: any member
who can see the talk (announced, or one they registered for), registered or not, until the talk ends. The
speaker's lists (24 hours and 1 hour before the start) are outbox rows recorded by the timed job
(DeliveryKind.QUESTIONS, keyed by the offset in minutes), so each goes out once, across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot import question_rows, store
from bot.command_names import command, option
from bot.errors import InputError, NotFoundError, StateError
from bot.i18n import _, _n
from bot.models import Delivery, DeliveryKind, Talk
from bot.question_rows import Question
from bot.talks import NO_SPEAKER_USER, TalkService, no_such_talk

QUESTION_MAX = 500  # characters of one question
QUESTIONS_PER_MEMBER = 10  # per talk: enough to ask what matters, too few to flood the speaker's list


@dataclass(frozen=True)
class Board:
    """The questions of one talk as a member sees them: visible ones, best first, with their own votes."""

    talk: Talk
    questions: list[Question]
    voting_open: bool


@dataclass(frozen=True)
class VoteOutcome:
    talk: Talk
    question: Question  # as it is after the click, with its new count
    voted: bool  # True: the vote was added; False: it was taken back


def clean_text(text: str) -> str:
    """The question as it is kept: surrounding blanks removed, refused when empty or too long."""
    cleaned = text.strip()
    if not cleaned:
        raise InputError(_("Your question is empty. Type it in the {question} box.", question=option("question")))
    if len(cleaned) > QUESTION_MAX:
        raise InputError(
            _(
                "Your question is {length} characters long; the limit is {limit}. Shorten it and ask again.",
                length=len(cleaned),
                limit=QUESTION_MAX,
            )
        )
    return cleaned


class QuestionBoard:
    def __init__(self, service: TalkService) -> None:
        self.service = service
        self.db = service.db

    def _clock(self) -> datetime:
        return self.service.clock()

    async def _open_talk(self, guild_id: int, talk_id: int, user_id: int) -> Talk:
        talk = await self.service.member_talk(guild_id, talk_id, user_id)
        if talk.cancelled:
            raise StateError(_("**{title}** was cancelled, so it takes no questions.", title=talk.title))
        if talk.is_over(self._clock()):
            raise StateError(_("**{title}** is over, so it takes no more questions.", title=talk.title))
        return talk

    async def ask(
        self, guild_id: int, talk_id: int, user_id: int, display_name: str, text: str, *, anonymous: bool
    ) -> tuple[Talk, Question]:
        """Record a member's question; refused for a talk they cannot see, that is over or cancelled, for an
        empty or too long text, and beyond QUESTIONS_PER_MEMBER for the talk."""
        cleaned = clean_text(text)
        talk = await self._open_talk(guild_id, talk_id, user_id)
        async with self.db.transaction() as conn:
            if await question_rows.asked_by(conn, talk.id, user_id) >= QUESTIONS_PER_MEMBER:
                raise StateError(
                    _n(
                        "You already asked {count} question for **{title}**, the most one member may ask, so that "
                        "the speaker's list stays readable. Upvote others' questions with {questions} instead.",
                        "You already asked {count} questions for **{title}**, the most one member may ask, so that "
                        "the speaker's list stays readable. Upvote others' questions with {questions} instead.",
                        QUESTIONS_PER_MEMBER,
                        title=talk.title,
                        questions=command("questions"),
                    )
                )
            question = await question_rows.insert_question(
                conn,
                talk_id=talk.id,
                guild_id=guild_id,
                user_id=user_id,
                display_name=display_name,
                text=cleaned,
                anonymous=anonymous,
                now=self._clock(),
            )
        return talk, question

    async def board(self, guild_id: int, talk_id: int, user_id: int) -> Board:
        """What /questions shows a member; an over talk's list can still be read, with voting closed."""
        talk = await self.service.member_talk(guild_id, talk_id, user_id)
        if talk.cancelled:
            raise StateError(_("**{title}** was cancelled, so it has no questions.", title=talk.title))
        async with self.db.reading() as conn:
            questions = await question_rows.ranked(conn, talk.id, reader_id=user_id)
        return Board(talk, questions, voting_open=not talk.is_over(self._clock()))

    async def vote(self, guild_id: int, question_id: int, user_id: int) -> VoteOutcome:
        """Upvote a question, or take the vote back on a second click; never one's own, only while the talk
        has not ended, and only questions the member may see."""
        async with self.db.reading() as conn:
            question = await question_rows.get_question(conn, question_id, user_id)
        if question is None or question.guild_id != guild_id or question.hidden:
            raise NotFoundError(
                _(
                    "Question #{question_id} is not open for votes (it may have been hidden). Run {questions} "
                    "again to see the current list.",
                    question_id=question_id,
                    questions=command("questions"),
                )
            )
        talk = await self.service.member_talk(guild_id, question.talk_id, user_id)
        if talk.cancelled:
            raise StateError(_("**{title}** was cancelled, so voting is closed.", title=talk.title))
        if talk.is_over(self._clock()):
            raise StateError(_("**{title}** is over, so voting is closed.", title=talk.title))
        if question.user_id == user_id:
            raise StateError(_("That is your own question: you cannot upvote it. Votes are for others' questions."))
        async with self.db.transaction() as conn:
            voted = await question_rows.toggle_vote(conn, question.id, user_id, self._clock())
            fresh = await question_rows.get_question(conn, question.id, user_id)
        assert fresh is not None
        return VoteOutcome(talk, fresh, voted)

    async def all_questions(self, guild_id: int, talk_id: int) -> tuple[Talk, list[Question]]:
        """Every question of the talk, hidden ones included, best first (organizers)."""
        talk = await self.service.get_talk(guild_id, talk_id)
        async with self.db.reading() as conn:
            return talk, await question_rows.ranked(conn, talk.id, include_hidden=True)

    async def speaker_list(self, talk_id: int) -> list[Question]:
        """What the speaker reads: the visible questions, best first."""
        async with self.db.reading() as conn:
            return await question_rows.ranked(conn, talk_id)

    async def speaker_talk(self, talk_id: int, user_id: int) -> Talk:
        """The talk whose speaker account this member is (for the button on the speaker's DM)."""
        async with self.db.reading() as conn:
            talk = await store.get_talk_by_id(conn, talk_id)
        if talk is None or talk.speaker_user_id != user_id:
            raise no_such_talk(talk_id)
        return talk

    async def set_hidden(self, guild_id: int, question_id: int, hidden: bool) -> tuple[Question, bool]:
        """Hide a question from members and the speaker (or show it again); returns it and whether it changed.
        Its votes are kept, so showing it again restores its place."""
        async with self.db.transaction() as conn:
            question = await question_rows.get_question(conn, question_id)
            if question is None or question.guild_id != guild_id:
                raise NotFoundError(
                    _(
                        "There is no question #{question_id} in this server. {list} shows each question's number.",
                        question_id=question_id,
                        list=command("talk questions"),
                    )
                )
            if question.hidden == hidden:
                return question, False
            await question_rows.set_hidden(conn, question.id, hidden)
            fresh = await question_rows.get_question(conn, question.id)
        assert fresh is not None
        return fresh, True

    async def owe_speaker_list(self, talk: Talk, offset: int) -> list[Delivery]:
        """Record the list the speaker is owed ``offset`` minutes before the start; returns the rows to send
        (none once the talk has started, or without a speaker account)."""
        now = self._clock()
        if talk.speaker_user_id is None or talk.cancelled:
            return []
        async with self.db.transaction() as conn:
            rows = await store.ensure_deliveries(
                conn, talk, "user", DeliveryKind.QUESTIONS, [(talk.speaker_user_id, offset)], now
            )
            if talk.has_started(now):
                await store.mark_pending_missed(conn, talk.id, [DeliveryKind.QUESTIONS], offset, now)
                return []
        return rows


def speaker_account(user_id: int | None, *, is_bot: bool, remove: bool) -> int | None:
    """The TalkInput.speaker_user of /talk create|edit: the member picked, NO_SPEAKER_USER to clear, or None."""
    if remove and user_id is not None:
        raise InputError(
            _(
                "Give either {speaker_user} or {remove}, not both.",
                speaker_user=option("speaker_user"),
                remove=option("remove_speaker_user"),
            )
        )
    if remove:
        return NO_SPEAKER_USER
    if user_id is not None and is_bot:
        raise InputError(
            _(
                "{speaker_user} must be the speaker's own account: a bot cannot read the questions.",
                speaker_user=option("speaker_user"),
            )
        )
    return user_id
