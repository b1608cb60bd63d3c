"""Feedback: the rules on a real SQLite (who is asked, answers and changes, the window, the organizers' summary)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from bot import attendance_rows, store
from bot.errors import InputError, NotFoundError, PermissionDeniedError, StateError
from bot.feedback import COMMENT_MAX, FeedbackBox, clean_comment, parse_rating
from bot.feedback_messages import comments_csv, feedback_modal, request_message, request_view, summary_text
from bot.models import DeliveryKind, DeliveryStatus, Talk
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

GUILD = 111
OTHER_GUILD = 222
ORGANIZER = 1
ALICE, BOB, CAROL, DAVE = 10, 11, 12, 13


async def make_talk(service: TalkService, **overrides: object) -> Talk:
    values: dict[str, object] = {"title": "Drug *discovery*", "speaker": "Prof. Curie", "start": "2026-03-14 18:30"}
    values.update(overrides)
    return await service.create_talk(GUILD, ORGANIZER, TalkInput(**values))  # type: ignore[arg-type]


async def check_in(service: TalkService, talk: Talk, user: int, *, walk_in: bool = False) -> None:
    async with service.db.transaction() as conn:
        await attendance_rows.record_checkin(
            conn,
            talk_id=talk.id,
            guild_id=GUILD,
            user_id=user,
            display_name=str(user),
            walk_in=walk_in,
            now=talk.start_at,
        )


@pytest.fixture
def box(service: TalkService) -> FeedbackBox:
    return FeedbackBox(service)


async def ended(service: TalkService, clock: Clock, *, capacity: int | None = None, checked_in: tuple[int, ...] = ()):
    """A talk with Alice, Bob and Carol confirmed (Dave waitlisted when capacity is 3), over by ten minutes."""
    talk = await make_talk(service, capacity=capacity)
    for user in (ALICE, BOB, CAROL, DAVE):
        await service.register(GUILD, talk.id, user, f"member {user}")
    for user in checked_in:
        await check_in(service, talk, user)
    clock.now = talk.end_at + timedelta(minutes=10)
    return talk


async def test_without_check_in_every_confirmed_member_is_asked_once(
    service: TalkService, box: FeedbackBox, clock: Clock
) -> None:
    talk = await ended(service, clock, capacity=3)
    rows = await box.owe_requests(talk)
    assert sorted(row.recipient_id for row in rows) == [ALICE, BOB, CAROL]  # Dave was on the waitlist
    assert {(row.kind, row.key) for row in rows} == {(DeliveryKind.FEEDBACK_REQUEST, 0)}
    async with service.db.transaction() as conn:
        await store.finish_delivery(conn, rows[0].id, DeliveryStatus.SENT, clock.now, message_id=1)
    again = await box.owe_requests(talk)  # the job again: a restart, a planning pass
    assert sorted(row.recipient_id for row in again) == sorted(row.recipient_id for row in rows[1:])
    async with service.db.reading() as conn:
        assert len(await store.deliveries_for(conn, talk.id, DeliveryKind.FEEDBACK_REQUEST)) == 3


async def test_with_check_ins_only_those_present_are_asked(
    service: TalkService, box: FeedbackBox, clock: Clock
) -> None:
    talk = await make_talk(service)
    for user in (ALICE, BOB):
        await service.register(GUILD, talk.id, user, f"member {user}")
    await check_in(service, talk, ALICE)
    await check_in(service, talk, CAROL, walk_in=True)  # came without registering
    clock.now = talk.end_at
    rows = await box.owe_requests(talk)
    assert sorted(row.recipient_id for row in rows) == [ALICE, CAROL]  # Bob did not come


async def test_nothing_is_owed_before_the_end_when_cancelled_or_too_late(
    service: TalkService, box: FeedbackBox, clock: Clock
) -> None:
    talk = await make_talk(service)
    other = await make_talk(service, start="2026-03-02 18:00")
    for each in (talk, other):
        await service.register(GUILD, each.id, ALICE, "Alice")
    clock.now = talk.end_at - timedelta(seconds=1)
    assert await box.owe_requests(talk) == []
    clock.now = talk.end_at + timedelta(days=7)
    assert await box.owe_requests(talk) == []
    clock.now = other.start_at - timedelta(hours=1)
    cancelled = (await service.cancel_talk(GUILD, other.id, None)).talk
    clock.now = cancelled.end_at + timedelta(hours=1)
    assert await box.owe_requests(cancelled) == []
    assert await box.owe_requests(other) == []  # a stale copy read before the cancellation
    async with service.db.reading() as conn:
        assert await store.deliveries_for(conn, other.id, DeliveryKind.FEEDBACK_REQUEST) == []


async def test_talks_that_ended_while_down_are_found(service: TalkService, box: FeedbackBox, clock: Clock) -> None:
    old = await make_talk(service, start="2026-03-02 18:00")
    recent = await make_talk(service, start="2026-03-10 18:00")
    running = await make_talk(service, start="2026-03-12 18:00", duration=600)
    for talk in (old, recent, running):
        await service.register(GUILD, talk.id, ALICE, "Alice")
    clock.now = running.start_at + timedelta(hours=1)  # old ended more than 7 days ago
    assert [talk.id for talk in await box.talks_not_asked()] == [recent.id]
    await box.owe_requests(recent)
    assert await box.talks_not_asked() == []


async def test_answers_are_one_per_member_and_can_be_changed(
    service: TalkService, box: FeedbackBox, clock: Clock
) -> None:
    talk = await ended(service, clock)
    first = await box.rate(talk.id, ALICE, 4)
    assert (first.answer.rating, first.answer.comment, first.changed, first.replaced) == (4, None, True, False)
    same = await box.rate(talk.id, ALICE, 4)
    assert not same.changed and same.replaced
    with_comment = await box.answer(talk.id, ALICE, " 5 ", "  Clear and lively.  ")
    assert (with_comment.answer.rating, with_comment.answer.comment) == (5, "Clear and lively.")
    clock.now += timedelta(hours=1)
    rated = await box.rate(talk.id, ALICE, 3)  # a button keeps the comment
    assert (rated.answer.rating, rated.answer.comment) == (3, "Clear and lively.")
    assert rated.answer.updated_at == clock.now and rated.answer.answered_at < clock.now
    cleared = await box.answer(talk.id, ALICE, "3", "   ")  # an emptied comment removes it
    assert cleared.answer.comment is None and cleared.changed
    async with service.db.reading() as conn:
        count = list(await conn.execute_fetchall("SELECT COUNT(*) FROM feedback WHERE talk_id = ?", (talk.id,)))
    assert count[0][0] == 1


@pytest.mark.parametrize("typed", ["0", "6", "a", "", "  ", "12", "4.5", "٣", "-1"])
async def test_bad_ratings_are_refused(service: TalkService, box: FeedbackBox, clock: Clock, typed: str) -> None:
    talk = await ended(service, clock)
    with pytest.raises(InputError, match="whole number from 1"):
        await box.answer(talk.id, ALICE, typed, "text")
    with pytest.raises(InputError):
        await box.rate(talk.id, ALICE, 0)
    _, answer = await box.current(talk.id, ALICE)
    assert answer is None


async def test_comments_are_bounded(service: TalkService, box: FeedbackBox, clock: Clock) -> None:
    talk = await ended(service, clock)
    with pytest.raises(InputError, match="1001 characters long; the limit is 1000"):
        await box.answer(talk.id, ALICE, "4", "x" * (COMMENT_MAX + 1))
    assert (await box.current(talk.id, ALICE))[1] is None
    kept = await box.answer(talk.id, ALICE, "4", "é" * COMMENT_MAX)
    assert kept.answer.comment == "é" * COMMENT_MAX
    assert clean_comment(None) is None and parse_rating("\t2\n") == 2


async def test_who_and_when_may_answer(service: TalkService, box: FeedbackBox, clock: Clock) -> None:
    talk = await ended(service, clock, capacity=3, checked_in=(ALICE,))
    with pytest.raises(PermissionDeniedError, match="Only members who attended"):
        await box.rate(talk.id, BOB, 5)  # confirmed, but did not check in while others did
    with pytest.raises(PermissionDeniedError):
        await box.rate(talk.id, DAVE, 5)  # waitlisted
    with pytest.raises(NotFoundError, match="no talk #999"):
        await box.rate(999, ALICE, 5)
    clock.now = talk.end_at - timedelta(minutes=1)
    with pytest.raises(StateError, match="opens when the talk ends"):
        await box.rate(talk.id, ALICE, 5)
    clock.now = talk.end_at + timedelta(days=7) - timedelta(seconds=1)
    assert (await box.rate(talk.id, ALICE, 5)).answer.rating == 5  # the last second of the window
    clock.now = talk.end_at + timedelta(days=7)
    with pytest.raises(StateError, match=r"closed on .*7 days after the talk"):
        await box.rate(talk.id, ALICE, 2)
    with pytest.raises(StateError):
        await box.current(talk.id, ALICE)
    assert (await box.summary(GUILD, talk.id)).distribution[5] == 1  # the change was refused


async def test_a_cancelled_talk_takes_no_feedback(service: TalkService, box: FeedbackBox, clock: Clock) -> None:
    talk = await make_talk(service)
    await service.register(GUILD, talk.id, ALICE, "Alice")
    await service.cancel_talk(GUILD, talk.id, "ill")
    clock.now = talk.end_at + timedelta(hours=1)
    with pytest.raises(StateError, match="was cancelled, so it takes no feedback"):
        await box.rate(talk.id, ALICE, 4)
    with pytest.raises(StateError, match="no feedback was asked for"):
        await box.summary(GUILD, talk.id)


async def test_summary_counts_averages_and_hides_who(service: TalkService, box: FeedbackBox, clock: Clock) -> None:
    talk = await ended(service, clock)
    rows = await box.owe_requests(talk)
    async with service.db.transaction() as conn:
        failed = next(row for row in rows if row.recipient_id == DAVE)
        await store.finish_delivery(conn, failed.id, DeliveryStatus.FAILED, clock.now, error="403 50007")
    await box.answer(talk.id, ALICE, "5", '=HYPERLINK("http://evil")')
    await box.answer(talk.id, BOB, "4", "Great @everyone <@10>")
    await box.rate(talk.id, CAROL, 4)
    summary = await box.summary(GUILD, talk.id)
    assert (summary.asked, summary.unreachable, summary.count) == (3, 1, 3)
    assert summary.distribution == {1: 0, 2: 0, 3: 0, 4: 2, 5: 1}
    assert summary.average == pytest.approx(13 / 3)
    assert summary.comments == [(5, '=HYPERLINK("http://evil")'), (4, "Great @everyone <@10>")]
    english = summary_text(summary, True, "en")
    assert "3 answers from 3 attendees asked, average **4.3/5**" in english
    assert "`4 ★ ███████░░░` 2" in english and "`1 ★ ░░░░░░░░░░` 0" in english
    assert "2 comments are in the attached file" in english and "1 attendee could not be asked" in english
    assert "Answers are accepted until <t:" in english
    french = summary_text(summary, False, "fr")
    assert "moyenne **4,3/5**" in french and "Les réponses sont closes depuis le <t:" in french
    assert len(english) < 2000
    table = list(csv.reader(io.StringIO(comments_csv(summary, "en").decode("utf-8-sig"))))
    assert table == [["rating", "comment"], ["5", '\'=HYPERLINK("http://evil")'], ["4", "Great @everyone <@10>"]]
    for text in (english, comments_csv(summary, "en").decode()):
        assert "member" not in text  # no display names
    with pytest.raises(NotFoundError):
        await box.summary(OTHER_GUILD, talk.id)


async def test_summary_before_the_end_and_with_nobody(service: TalkService, box: FeedbackBox, clock: Clock) -> None:
    talk = await make_talk(service)
    with pytest.raises(StateError, match="is not over yet"):
        await box.summary(GUILD, talk.id)
    clock.now = talk.end_at + timedelta(minutes=1)
    await box.owe_requests(talk)
    empty = await box.summary(GUILD, talk.id)
    assert empty.asked == 0 and empty.average is None
    assert "Nobody was asked for feedback" in summary_text(empty, True, "en")
    await service.register(GUILD, (other := await make_talk(service, start="2026-03-20 18:00")).id, ALICE, "A")
    clock.now = other.end_at
    await box.owe_requests(other)
    waiting = await box.summary(GUILD, other.id)
    assert "No answers yet from the 1 attendee asked." in summary_text(waiting, True, "en")
    assert "Aucune réponse pour l'instant (1 personne sollicitée)." in summary_text(waiting, True, "fr")


async def test_a_request_left_pending_past_the_window_is_not_sent(
    service: TalkService, box: FeedbackBox, clock: Clock
) -> None:
    talk = await ended(service, clock)
    rows = await box.owe_requests(talk)
    clock.now = talk.end_at + timedelta(days=7)
    assert await service.claim_delivery(rows[0].id) is DeliveryStatus.MISSED
    async with service.db.reading() as conn:
        row = await store.get_delivery(conn, rows[0].id)
    assert row is not None and row.last_error == "feedback on the talk is closed"


async def test_messages_escape_mark_and_prefill(service: TalkService, box: FeedbackBox, clock: Clock) -> None:
    talk = await ended(service, clock)
    english = request_message(talk, "en")
    assert english.startswith("Thank you for attending **Drug \\*discovery\\*** with Prof. Curie (<t:")
    assert "**Add a comment** lets you say more" in english
    french = request_message(talk, "fr")
    assert "Merci d'avoir assisté à **Drug \\*discovery\\***" in french and "Qu'en avez-vous pensé\u00a0?" in french
    ids = [item.custom_id for item in request_view(talk, "m42", "en").children]  # type: ignore[attr-defined]
    assert ids == [f"podium:rate:{talk.id}:{n}:m42" for n in range(1, 6)] + [f"podium:feedback:{talk.id}:m42"]
    saved = await box.answer(talk.id, ALICE, "2", "Too fast")
    view = request_view(talk, "m42", "en", saved.answer)
    styles = [item.style.name for item in view.children]  # type: ignore[attr-defined]
    assert styles[:5] == ["secondary", "primary", "secondary", "secondary", "secondary"]
    assert view.children[5].label == "Edit your comment"  # type: ignore[attr-defined]
    assert "✅ Your answer: **2/5**, with a comment." in request_message(talk, "en", saved.answer)
    modal = feedback_modal(talk, saved.answer, "m42", "fr")
    assert modal.custom_id == f"podium:feedback-form:{talk.id}:m42" and modal.title == "Votre avis"
    fields = {item.custom_id: item for item in modal.children}  # type: ignore[attr-defined]
    assert fields["rating"].default == "2" and fields["comment"].default == "Too fast"
    assert fields["comment"].max_length == COMMENT_MAX
