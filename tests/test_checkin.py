"""Check-in rules on a real SQLite: the window, codes and their throttle, walk-ins holding seats, twice, errors."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot import attendance_rows, store
from bot.checkin import GUESS_LIMIT, CheckinService, CodeRequiredError
from bot.checkin_codes import CODE_ALPHABET, CODE_LENGTH, new_code, normalized_code
from bot.errors import InputError, NotFoundError, StateError
from bot.i18n import render
from bot.models import Talk
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

GUILD = 111
ORGANIZER = 1
START = datetime(2026, 3, 14, 17, 30, tzinfo=UTC)  # 18:30 in Paris
ALICE, BOB, CAROL, DAVE = 10, 11, 12, 13


@pytest.fixture
def checkins(service: TalkService, clock: Clock) -> CheckinService:
    return CheckinService(service.db, clock)


async def make_talk(service: TalkService, **overrides: object) -> Talk:
    values: dict[str, object] = {"title": "Cardiology", "speaker": "Dr Heart", "start": "2026-03-14 18:30"}
    values.update(overrides)
    return await service.create_talk(GUILD, ORGANIZER, TalkInput(**values))  # type: ignore[arg-type]


def text(error: pytest.ExceptionInfo[Exception]) -> str:
    assert isinstance(error.value, InputError | StateError | NotFoundError)
    return render(error.value.text, "en")


def test_codes_are_random_and_unambiguous() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert not set("01OIL58BSZ2") & set(CODE_ALPHABET)
    assert normalized_code(" acd-efg ") == "ACDEFG"


async def test_the_window_opens_15_minutes_before_and_closes_at_the_end(
    service: TalkService, checkins: CheckinService, clock: Clock
) -> None:
    talk = await make_talk(service)
    await service.register(GUILD, talk.id, ALICE, "Alice")
    clock.now = START - timedelta(minutes=16)
    with pytest.raises(StateError) as early:
        await checkins.check_in(GUILD, talk.id, ALICE, "Alice", None)
    opening = int((START - timedelta(minutes=15)).timestamp())
    assert "opens 15 minutes before the start" in text(early)
    assert f"<t:{opening}:R>" in text(early)
    clock.now = START - timedelta(minutes=15)
    outcome = await checkins.check_in(GUILD, talk.id, ALICE, "Alice", None)
    assert outcome.created and not outcome.walk_in
    assert outcome.checked_in_at == clock.now
    clock.now = START + timedelta(minutes=60)
    with pytest.raises(StateError) as late:
        await checkins.check_in(GUILD, talk.id, BOB, "Bob", None)
    assert "is over, so check-in is closed" in text(late)


async def test_twice_changes_nothing(service: TalkService, checkins: CheckinService, clock: Clock) -> None:
    talk = await make_talk(service)
    await service.register(GUILD, talk.id, ALICE, "Alice")
    clock.now = START
    first = await checkins.check_in(GUILD, talk.id, ALICE, "Alice", None)
    clock.now = START + timedelta(minutes=5)
    again = await checkins.check_in(GUILD, talk.id, ALICE, "Alice", "whatever")
    assert first.created and not again.created
    assert again.checked_in_at == START
    async with service.db.reading() as conn:
        assert [c.user_id for c in await attendance_rows.checkin_list(conn, talk.id)] == [ALICE]


async def test_walk_ins_take_free_seats_and_never_exceed_capacity(
    service: TalkService, checkins: CheckinService, clock: Clock
) -> None:
    talk = await make_talk(service, capacity=2)
    await service.register(GUILD, talk.id, ALICE, "Alice")
    clock.now = START - timedelta(minutes=5)
    walk_in = await checkins.check_in(GUILD, talk.id, BOB, "Bob", None)
    assert walk_in.created and walk_in.walk_in
    assert (walk_in.seats.confirmed, walk_in.seats.walk_ins, walk_in.seats.left) == (1, 1, 0)
    with pytest.raises(StateError) as full:
        await checkins.check_in(GUILD, talk.id, CAROL, "Carol", None)
    assert "is full" in text(full)
    # The walk-in's seat counts for registration too: a late registrant goes to the waitlist.
    late = await service.register(GUILD, talk.id, DAVE, "Dave")
    assert not late.registration.confirmed
    # The confirmed member still checks in on their own seat.
    own = await checkins.check_in(GUILD, talk.id, ALICE, "Alice", None)
    assert own.created and not own.walk_in
    # Dave, waitlisted, finds no free seat: told so, with his place.
    with pytest.raises(StateError) as waitlisted:
        await checkins.check_in(GUILD, talk.id, DAVE, "Dave", None)
    assert "#1 on the waitlist" in text(waitlisted)
    seats = await service.seats(talk)
    assert seats.taken == 2 and seats.left == 0


async def test_a_walk_in_later_promoted_holds_one_seat(
    service: TalkService, checkins: CheckinService, clock: Clock
) -> None:
    """A confirmed member leaving frees one seat; the walk-in who then gets promoted is counted once."""
    talk = await make_talk(service, capacity=2)
    await service.register(GUILD, talk.id, ALICE, "Alice")
    clock.now = START - timedelta(minutes=5)
    await checkins.check_in(GUILD, talk.id, BOB, "Bob", None)  # walk-in: full now
    await service.register(GUILD, talk.id, BOB, "Bob")  # Bob registers too: waitlisted, still one seat
    assert (await service.seats(talk)).taken == 2
    clock.now += timedelta(minutes=1)
    outcome = await service.unregister(GUILD, talk.id, ALICE)
    assert [r.user_id for r in outcome.promoted] == [BOB]
    seats = await service.seats(talk)
    assert (seats.confirmed, seats.walk_ins, seats.left) == (1, 0, 1)


async def test_unlimited_seats_take_every_walk_in(service: TalkService, checkins: CheckinService, clock: Clock) -> None:
    talk = await make_talk(service)
    clock.now = START
    for user in (ALICE, BOB, CAROL):
        assert (await checkins.check_in(GUILD, talk.id, user, f"member {user}", None)).walk_in
    assert (await service.seats(talk)).walk_ins == 3


async def test_a_code_is_required_checked_and_throttled(
    service: TalkService, checkins: CheckinService, clock: Clock
) -> None:
    talk = await make_talk(service, checkin_code=True)
    assert talk.checkin_code is not None and re.fullmatch(f"[{CODE_ALPHABET}]{{6}}", talk.checkin_code)
    assert (await checkins.code_of(GUILD, talk.id)).checkin_code == talk.checkin_code
    clock.now = START
    with pytest.raises(CodeRequiredError) as missing:
        await checkins.check_in(GUILD, talk.id, ALICE, "Alice", None)
    assert "needs the code shown in the room" in text(missing)
    with pytest.raises(InputError) as wrong:
        await checkins.check_in(GUILD, talk.id, ALICE, "Alice", "AAAAAA")
    assert "not the code" in text(wrong) and f"{GUESS_LIMIT - 1} tries left" in text(wrong)
    lower = talk.checkin_code.lower()
    assert (await checkins.check_in(GUILD, talk.id, ALICE, "Alice", f" {lower[:3]}-{lower[3:]} ")).created
    # Bob guesses: after GUESS_LIMIT wrong codes even the right one waits.
    for _ in range(GUESS_LIMIT):
        with pytest.raises(InputError):
            await checkins.check_in(GUILD, talk.id, BOB, "Bob", "AAAAAA")
    with pytest.raises(StateError) as throttled:
        await checkins.check_in(GUILD, talk.id, BOB, "Bob", talk.checkin_code)
    assert "Too many wrong codes" in text(throttled)
    assert (await checkins.check_in(GUILD, talk.id, CAROL, "Carol", talk.checkin_code)).created  # others unaffected
    clock.now += timedelta(minutes=10)
    assert (await checkins.check_in(GUILD, talk.id, BOB, "Bob", talk.checkin_code)).created
    async with service.db.reading() as conn:
        assert sorted(c.user_id for c in await attendance_rows.checkin_list(conn, talk.id)) == [ALICE, BOB, CAROL]


async def test_editing_the_code_keeps_it_or_removes_it(service: TalkService, checkins: CheckinService) -> None:
    talk = await make_talk(service)
    with pytest.raises(StateError) as none:
        await checkins.code_of(GUILD, talk.id)
    assert "needs no code" in text(none)
    on = await service.edit_talk(GUILD, talk.id, TalkInput(checkin_code=True))
    code = on.talk.checkin_code
    assert code is not None and "checkin_code" in on.changed
    again = await service.edit_talk(GUILD, talk.id, TalkInput(checkin_code=True))
    assert again.talk.checkin_code == code and not again.changed  # the slide stays right
    off = await service.edit_talk(GUILD, talk.id, TalkInput(checkin_code=False))
    assert off.talk.checkin_code is None and "checkin_code" in off.changed


async def test_wrong_cancelled_and_hidden_talks(service: TalkService, checkins: CheckinService, clock: Clock) -> None:
    with pytest.raises(NotFoundError):
        await checkins.check_in(GUILD, 99, ALICE, "Alice", None)
    other = await service.create_talk(222, ORGANIZER, TalkInput("Elsewhere", "X", "2026-03-14 18:30"))
    clock.now = START
    with pytest.raises(NotFoundError):
        await checkins.check_in(GUILD, other.id, ALICE, "Alice", None)
    clock.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    cancelled = await make_talk(service)
    await service.cancel_talk(GUILD, cancelled.id, None)
    hidden = await make_talk(service, announce_at="2026-03-14 18:20")  # held back until 10 minutes before
    clock.now = START - timedelta(minutes=12)
    with pytest.raises(StateError) as gone:
        await checkins.check_in(GUILD, cancelled.id, ALICE, "Alice", None)
    assert "was cancelled" in text(gone)
    with pytest.raises(NotFoundError) as unseen:
        await checkins.check_in(GUILD, hidden.id, ALICE, "Alice", None)
    assert f"no talk #{hidden.id}" in text(unseen)
    # From a DM (no server) the talk names its server.
    clock.now = START
    assert (await checkins.check_in(None, other.id, ALICE, "Alice", None)).talk.guild_id == 222


async def test_summary_counts_checked_in_walk_ins_and_no_shows(
    service: TalkService, checkins: CheckinService, clock: Clock
) -> None:
    talk = await make_talk(service, capacity=3)
    for user in (ALICE, BOB):
        await service.register(GUILD, talk.id, user, f"member {user}")
    before = await checkins.summary(talk)
    assert not before.opened and before.no_shows == 0
    clock.now = START
    await checkins.check_in(GUILD, talk.id, ALICE, "Alice", None)
    await checkins.check_in(GUILD, talk.id, CAROL, "Carol", None)
    during = await checkins.summary(talk)
    assert (during.opened, during.over, during.checked_in, during.walk_ins, during.no_shows) == (True, False, 2, 1, 1)
    clock.now = START + timedelta(hours=2)
    after = await checkins.summary(talk)
    assert after.over and after.no_shows == 1
    async with service.db.reading() as conn:
        seats = await store.seats(conn, talk)
        assert (seats.confirmed, seats.walk_ins) == (2, 1)
        listed = await store.seats_of(conn, [talk])
    assert listed[talk.id] == seats


async def test_simultaneous_walk_ins_never_exceed_capacity(
    service: TalkService, checkins: CheckinService, clock: Clock
) -> None:
    talk = await make_talk(service, capacity=3)
    await service.register(GUILD, talk.id, ALICE, "Alice")
    clock.now = START
    results = await asyncio.gather(
        *(checkins.check_in(GUILD, talk.id, 100 + n, f"member {n}", None) for n in range(10)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, StateError)]
    assert (len(accepted), len(refused)) == (2, 8)
    seats = await service.seats(talk)
    assert (seats.taken, seats.left) == (3, 0)
    assert (await checkins.check_in(GUILD, talk.id, ALICE, "Alice", None)).created  # her own seat is kept
