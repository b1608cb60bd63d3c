"""Questions for the speaker: the rules on a real SQLite (asking, ranking, votes, hiding, the speaker's lists)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from bot import owed, store
from bot.errors import InputError, NotFoundError, StateError
from bot.jobplan import HORIZON, JobAction, plan_jobs
from bot.models import DeliveryKind, DeliveryStatus, Talk
from bot.question_messages import MESSAGE_MAX, board_page, organizer_reply, questions_csv, shown, speaker_list
from bot.questions import QUESTION_MAX, QUESTIONS_PER_MEMBER, QuestionBoard, speaker_account
from bot.talks import NO_SPEAKER_USER, TalkInput, TalkService
from tests.conftest import Clock

GUILD = 111
OTHER_GUILD = 222
ORGANIZER = 1
SPEAKER = 50
ALICE, BOB, CAROL = 10, 11, 12


async def make_talk(service: TalkService, **overrides: object) -> Talk:
    values: dict[str, object] = {"title": "Drug discovery", "speaker": "Prof. Curie", "start": "2026-03-14 18:30"}
    values.update(overrides)
    return await service.create_talk(GUILD, ORGANIZER, TalkInput(**values))  # type: ignore[arg-type]


@pytest.fixture
def board(service: TalkService) -> QuestionBoard:
    return QuestionBoard(service)


async def test_ask_records_the_question(service: TalkService, board: QuestionBoard, clock: Clock) -> None:
    talk = await make_talk(service)
    _, question = await board.ask(GUILD, talk.id, ALICE, "Alice", "  How long do trials take?  ", anonymous=False)
    assert question.text == "How long do trials take?"
    assert (question.user_id, question.display_name) == (ALICE, "Alice")
    assert not question.anonymous and not question.hidden
    assert question.asked_at == clock.now
    anonymous = (await board.ask(GUILD, talk.id, BOB, "Bob", "And the cost?", anonymous=True))[1]
    assert anonymous.anonymous


@pytest.mark.parametrize(("text", "fragment"), [("", "empty"), ("   ", "empty"), ("x" * 501, "501 characters")])
async def test_bad_texts_are_refused(service: TalkService, board: QuestionBoard, text: str, fragment: str) -> None:
    talk = await make_talk(service)
    with pytest.raises(InputError, match=fragment):
        await board.ask(GUILD, talk.id, ALICE, "Alice", text, anonymous=False)
    assert (await board.ask(GUILD, talk.id, ALICE, "Alice", "x" * QUESTION_MAX, anonymous=False))[1]


async def test_wrong_over_cancelled_and_hidden_talks_are_refused(
    service: TalkService, board: QuestionBoard, clock: Clock
) -> None:
    talk = await make_talk(service)
    with pytest.raises(NotFoundError):
        await board.ask(GUILD, 999, ALICE, "Alice", "?", anonymous=False)
    with pytest.raises(NotFoundError):
        await board.ask(OTHER_GUILD, talk.id, ALICE, "Alice", "?", anonymous=False)
    held = await make_talk(service, announce_at="2026-03-10 10:00")
    with pytest.raises(NotFoundError):  # not announced yet: members cannot see it
        await board.ask(GUILD, held.id, ALICE, "Alice", "?", anonymous=False)
    cancelled = await make_talk(service, title="Gone")
    await service.cancel_talk(GUILD, cancelled.id, None)
    with pytest.raises(StateError, match="cancelled"):
        await board.ask(GUILD, cancelled.id, ALICE, "Alice", "?", anonymous=False)
    await board.ask(GUILD, talk.id, ALICE, "Alice", "Just before the end?", anonymous=False)
    clock.now = talk.end_at
    with pytest.raises(StateError, match="over"):
        await board.ask(GUILD, talk.id, ALICE, "Alice", "?", anonymous=False)


async def test_a_member_asks_at_most_ten(service: TalkService, board: QuestionBoard) -> None:
    talk = await make_talk(service)
    other = await make_talk(service, title="Other")
    for n in range(QUESTIONS_PER_MEMBER):
        await board.ask(GUILD, talk.id, ALICE, "Alice", f"Q{n}", anonymous=n % 2 == 0)
    with pytest.raises(StateError, match="10 questions"):
        await board.ask(GUILD, talk.id, ALICE, "Alice", "one more", anonymous=False)
    await board.ask(GUILD, talk.id, BOB, "Bob", "mine", anonymous=False)  # others still may
    await board.ask(GUILD, other.id, ALICE, "Alice", "another talk", anonymous=False)  # per talk


async def test_votes_rank_toggle_and_refuse_own(service: TalkService, board: QuestionBoard, clock: Clock) -> None:
    talk = await make_talk(service)
    _, first = await board.ask(GUILD, talk.id, ALICE, "Alice", "first", anonymous=False)
    clock.now += timedelta(minutes=1)
    _, second = await board.ask(GUILD, talk.id, BOB, "Bob", "second", anonymous=False)
    clock.now += timedelta(minutes=1)
    _, third = await board.ask(GUILD, talk.id, CAROL, "Carol", "third", anonymous=False)
    # no votes: oldest first
    assert [q.id for q in (await board.board(GUILD, talk.id, ALICE)).questions] == [first.id, second.id, third.id]
    outcome = await board.vote(GUILD, third.id, ALICE)
    assert outcome.voted and outcome.question.votes == 1 and outcome.question.voted
    await board.vote(GUILD, third.id, BOB)
    await board.vote(GUILD, second.id, CAROL)
    seen = await board.board(GUILD, talk.id, ALICE)
    assert [(q.id, q.votes) for q in seen.questions] == [(third.id, 2), (second.id, 1), (first.id, 0)]
    assert [q.voted for q in seen.questions] == [True, False, False]
    with pytest.raises(StateError, match="your own question"):
        await board.vote(GUILD, first.id, ALICE)
    taken_back = await board.vote(GUILD, third.id, ALICE)  # second click
    assert not taken_back.voted and taken_back.question.votes == 1
    with pytest.raises(NotFoundError):
        await board.vote(OTHER_GUILD, third.id, ALICE)
    with pytest.raises(NotFoundError):
        await board.vote(GUILD, 999, ALICE)
    clock.now = talk.end_at
    with pytest.raises(StateError, match="voting is closed"):
        await board.vote(GUILD, second.id, ALICE)
    over = await board.board(GUILD, talk.id, ALICE)  # still readable
    assert not over.voting_open and len(over.questions) == 3


async def test_hidden_questions_leave_members_and_speaker(service: TalkService, board: QuestionBoard) -> None:
    talk = await make_talk(service)
    _, rude = await board.ask(GUILD, talk.id, ALICE, "Alice", "rude", anonymous=False)
    _, fine = await board.ask(GUILD, talk.id, BOB, "Bob", "fine", anonymous=False)
    await board.vote(GUILD, rude.id, BOB)
    hidden, changed = await board.set_hidden(GUILD, rude.id, True)
    assert changed and hidden.hidden
    assert (await board.set_hidden(GUILD, rude.id, True))[1] is False  # twice: nothing changes
    assert [q.id for q in (await board.board(GUILD, talk.id, CAROL)).questions] == [fine.id]
    assert [q.id for q in await board.speaker_list(talk.id)] == [fine.id]
    with pytest.raises(NotFoundError, match="hidden"):
        await board.vote(GUILD, rude.id, CAROL)
    _, everything = await board.all_questions(GUILD, talk.id)
    assert [(q.id, q.hidden) for q in everything] == [(rude.id, True), (fine.id, False)]
    shown_again, _ = await board.set_hidden(GUILD, rude.id, False)
    assert shown_again.votes == 1  # votes were kept
    with pytest.raises(NotFoundError):
        await board.set_hidden(OTHER_GUILD, rude.id, True)


async def test_speaker_account_on_create_and_edit(service: TalkService) -> None:
    talk = await make_talk(service, speaker_user=SPEAKER)
    assert talk.speaker_user_id == SPEAKER
    edited = await service.edit_talk(GUILD, talk.id, TalkInput(speaker_user=NO_SPEAKER_USER))
    assert edited.changed == {"speaker_user_id"} and edited.talk.speaker_user_id is None
    assert edited.owed == []  # no invite: calendars do not carry it
    assert speaker_account(None, is_bot=False, remove=True) == NO_SPEAKER_USER
    assert speaker_account(SPEAKER, is_bot=False, remove=False) == SPEAKER
    with pytest.raises(InputError, match="bot"):
        speaker_account(SPEAKER, is_bot=True, remove=False)
    with pytest.raises(InputError, match="not both"):
        speaker_account(SPEAKER, is_bot=False, remove=True)


async def test_jobs_for_the_speaker(service: TalkService, clock: Clock) -> None:
    talk = await make_talk(service, start="2026-03-02 18:30", speaker_user=SPEAKER)
    jobs = {job.id: job for job in plan_jobs(talk, clock.now, clock.now + HORIZON)}
    assert jobs["questions:1:1440"].run_at == talk.start_at - timedelta(days=1)
    assert jobs["questions:1:60"].run_at == talk.start_at - timedelta(hours=1)
    without = await make_talk(service, start="2026-03-02 18:30")
    assert not [job for job in plan_jobs(without, clock.now, clock.now + HORIZON) if job.action is JobAction.QUESTIONS]
    # created 3 hours before the start: the 24-hour list was never owed
    soon = await make_talk(service, start="2026-03-01 16:00", speaker_user=SPEAKER)
    assert [j.key for j in plan_jobs(soon, clock.now, clock.now + HORIZON) if j.action is JobAction.QUESTIONS] == [60]


async def test_speaker_lists_are_owed_once_and_go_stale(
    service: TalkService, board: QuestionBoard, clock: Clock
) -> None:
    talk = await make_talk(service, start="2026-03-02 18:30", speaker_user=SPEAKER)
    rows = await board.owe_speaker_list(talk, 1440)
    assert [(r.recipient_id, r.kind, r.key) for r in rows] == [(SPEAKER, DeliveryKind.QUESTIONS, 1440)]
    assert [r.id for r in await board.owe_speaker_list(talk, 1440)] == [rows[0].id]  # the same row again
    async with service.db.transaction() as conn:
        await store.finish_delivery(conn, rows[0].id, DeliveryStatus.SENT, clock.now, message_id=1)
    assert await board.owe_speaker_list(talk, 1440) == []  # sent: never again
    # a pending list for a replaced speaker account, or after the start, is no longer owed
    pending = (await board.owe_speaker_list(talk, 60))[0]
    changed = (await service.edit_talk(GUILD, talk.id, TalkInput(speaker_user=SPEAKER + 1))).talk
    async with service.db.reading() as conn:
        assert await owed.stale_reason(conn, pending, changed, clock.now) == "the talk has another speaker account now"
        assert await owed.stale_reason(conn, pending, talk, talk.start_at) is not None
        assert await owed.stale_reason(conn, pending, talk, clock.now) is None
    clock.now = talk.start_at + timedelta(minutes=1)
    assert await board.owe_speaker_list(changed, 60) == []  # after the start: recorded as missed
    async with service.db.reading() as conn:
        late = [r for r in await store.deliveries_for(conn, talk.id, DeliveryKind.QUESTIONS) if r.key == 60]
    assert {r.status for r in late} == {DeliveryStatus.MISSED}


async def test_moving_the_talk_owes_the_lists_again(service: TalkService, board: QuestionBoard, clock: Clock) -> None:
    talk = await make_talk(service, start="2026-03-02 18:30", speaker_user=SPEAKER)
    [row] = await board.owe_speaker_list(talk, 1440)
    async with service.db.transaction() as conn:
        await store.finish_delivery(conn, row.id, DeliveryStatus.SENT, clock.now, message_id=1)
    moved = (await service.edit_talk(GUILD, talk.id, TalkInput(start="2026-03-05 18:30"))).talk
    assert len(await board.owe_speaker_list(moved, 1440)) == 1


def test_rendering_escapes_and_fits(clock: Clock) -> None:
    from bot.question_rows import Question

    talk = Talk(
        id=7, guild_id=GUILD, title="T", speaker="S", speaker_bio=None, description=None, location=None,
        start_at=clock.now + timedelta(days=1), duration_min=60, capacity=None, reminders=(), announce_at=None,
        status="scheduled", cancel_reason=None, sequence=0, announcement_channel_id=None,
        announcement_message_id=None, created_by=1, created_at=clock.now, updated_at=clock.now,
        speaker_user_id=SPEAKER,
    )  # fmt: skip
    nasty = "@everyone look <@123456789012345678> **bold** `code`"
    assert "@everyone" not in shown(nasty) and "<@123456789012345678>" not in shown(nasty) and "**" not in shown(nasty)
    many = [
        Question(i, 7, GUILD, 100 + i, f"N{i}", "q" * 500, i % 3 == 0, i % 5 == 0, clock.now, votes=40 - i)
        for i in range(1, 31)
    ]
    visible = [q for q in many if not q.hidden]
    listed = speaker_list(talk, visible, "en", marker="m9")
    assert len(listed.content) <= MESSAGE_MAX
    assert listed.file is not None and listed.file.filename == "talk-7-questions-m9.txt"
    assert speaker_list(talk, visible[:2], "fr").file is None
    assert "No questions yet" in speaker_list(talk, [], "en").content
    for page in range(5):
        shown_page = board_page(talk, visible, page, voting_open=True, language="fr")
        assert len(shown_page.embed.description or "") <= 4096
        assert shown_page.view is not None and len(shown_page.view.children) <= 25
        assert len(shown_page.embed) <= 6000
    assert len(organizer_reply(talk, many, "fr", speaker_unreachable=True)) <= MESSAGE_MAX
    stars = [
        Question(i, 7, GUILD, 100 + i, "*" * 32, "*_`@everyone" * 41, False, False, clock.now) for i in range(1, 6)
    ]
    worst = board_page(talk, stars, 0, voting_open=True, language="en")
    assert len(worst.embed.description or "") <= 4096 and len(worst.embed) <= 6000
    assert len(speaker_list(talk, stars, "en").content) <= MESSAGE_MAX
    rows = list(csv.reader(io.StringIO(questions_csv(many, "en").decode("utf-8-sig"))))
    assert rows[0][:3] == ["question_id", "rank", "votes"]
    assert len(rows) == 31
    anonymous = next(r for r in rows[1:] if r[0] == "3")
    assert anonymous[5:7] == ["", ""]  # no author for an anonymous question, organizers included
