"""Seminar series on a real SQLite: the dates, the count/until rules, edit and cancel from a date, single dates
changed on their own, and registering for every date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import store
from bot.errors import InputError, NotFoundError, StateError
from bot.models import DeliveryKind, RegistrationStatus, Repeat
from bot.series import SERIES_MAX, SeriesService, slot_day
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

GUILD = 111
OTHER_GUILD = 222
ORGANIZER = 1
PARIS = ZoneInfo("Europe/Paris")


def seminar(**overrides: object) -> TalkInput:
    values: dict[str, object] = {"title": "Grand rounds", "speaker": "Prof. Curie", "start": "2026-10-06 18:00"}
    values.update(overrides)
    return TalkInput(**values)  # type: ignore[arg-type]


@pytest.fixture
def series(service: TalkService) -> SeriesService:
    return SeriesService(service)


async def test_weekly_dates_keep_the_local_hour_across_the_end_of_daylight_saving(series: SeriesService) -> None:
    created = await series.create(GUILD, ORGANIZER, seminar(capacity=30), repeat="weekly", count=10, until=None)
    talks = created.talks
    assert len(talks) == 10
    assert [talk.series_index for talk in talks] == list(range(10))
    assert {talk.series_id for talk in talks} == {created.series.id}
    # 18:00 in Paris every Tuesday; the clocks go back on Sunday 25 October 2026: 16:00 UTC, then 17:00 UTC.
    assert all(talk.start_at.astimezone(PARIS).strftime("%a %H:%M") == "Tue 18:00" for talk in talks)
    assert [talk.start_at.astimezone(PARIS).date() for talk in talks] == [
        date(2026, 10, 6) + timedelta(weeks=week) for week in range(10)
    ]
    assert talks[2].start_at == datetime(2026, 10, 20, 16, 0, tzinfo=UTC)
    assert talks[3].start_at == datetime(2026, 10, 27, 17, 0, tzinfo=UTC)
    assert all(talk.capacity == 30 and talk.title == "Grand rounds" for talk in talks)
    assert created.series.repeat is Repeat.WEEKLY
    assert (created.series.first_day, created.series.timezone, created.series.count) == (
        date(2026, 10, 6),
        "Europe/Paris",
        10,
    )
    # Each date is an ordinary talk, not announced one by one (the series' message is their announcement).
    assert all(talk.announcement_message_id is None for talk in talks)
    assert (await series.get(GUILD, created.series.id)).talks == talks


async def test_every_two_weeks_and_monthly(series: SeriesService) -> None:
    biweekly = await series.create(GUILD, ORGANIZER, seminar(), repeat="biweekly", count=3, until=None)
    assert [t.start_at.astimezone(PARIS).date() for t in biweekly.talks] == [
        date(2026, 10, 6),
        date(2026, 10, 20),
        date(2026, 11, 3),
    ]
    monthly = await series.create(
        GUILD, ORGANIZER, seminar(start="2026-11-15 09:30"), repeat="monthly", count=4, until=None
    )
    assert [t.start_at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") for t in monthly.talks] == [
        "2026-11-15 09:30",
        "2026-12-15 09:30",
        "2027-01-15 09:30",
        "2027-02-15 09:30",
    ]
    assert slot_day(date(2026, 12, 28), Repeat.MONTHLY, 14) == date(2028, 2, 28)


async def test_until_gives_as_many_dates_as_fit_and_count_caps(series: SeriesService) -> None:
    # until is a day (or a date-time, whose day counts), included.
    by_until = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=None, until="2026-10-27")
    assert len(by_until.talks) == 4
    assert by_until.series.count == 4
    with_time = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=None, until="2026-10-26 23:00")
    assert len(with_time.talks) == 3
    both = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=2, until="2026-12-31")
    assert len(both.talks) == 2
    capped = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=10, until="2026-10-13")
    assert len(capped.talks) == 2
    french = await series.create(
        GUILD,
        ORGANIZER,
        seminar(start="06/10/2026 18h00", language="fr"),
        repeat="weekly",
        count=None,
        until="20/10/2026",
    )
    assert len(french.talks) == 3
    same_day = await series.create(GUILD, ORGANIZER, seminar(), repeat="monthly", count=None, until="2026-10-06")
    assert len(same_day.talks) == 1
    year = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=SERIES_MAX, until=None)
    assert len(year.talks) == SERIES_MAX


@pytest.mark.parametrize(
    ("repeat", "count", "until", "overrides", "error", "fragment"),
    [
        ("weekly", 0, None, {}, InputError, "from 1 to 52; you gave 0"),
        ("weekly", 53, None, {}, InputError, "from 1 to 52; you gave 53"),
        ("weekly", -1, None, {}, InputError, "from 1 to 52"),
        ("weekly", None, None, {}, InputError, "give `count`"),
        ("weekly", None, "2026-10-05", {}, InputError, "comes before `start`"),
        ("weekly", 3, "2026-09-30 18:00", {}, InputError, "comes before `start`"),
        ("weekly", None, "2027-10-06", {}, InputError, "more than 52 dates"),
        ("weekly", None, "31/12/2026", {}, InputError, "could not read"),  # day first is French only
        ("weekly", None, "2026-02-30", {}, InputError, "not a real date"),
        (None, 3, None, {}, InputError, "needs `repeat`"),
        ("", 3, None, {}, InputError, "needs `repeat`"),
        ("daily", 3, None, {}, InputError, "`daily` is not"),
        ("monthly", 3, None, {"start": "2026-10-30 18:00"}, InputError, "not every month has a day 30"),
        ("weekly", 3, None, {"start": "2026-02-20 18:00"}, InputError, "in the past"),
        ("weekly", 3, None, {"start": None}, InputError, "needs a `title`, a `speaker` and a `start`"),
        ("weekly", 3, None, {"title": " "}, InputError, "cannot be empty"),
        ("weekly", 3, None, {"capacity": 0}, InputError, "at least 1"),
        ("weekly", 3, None, {"announce_at": "2026-10-07 10:00"}, InputError, "must come before"),
        # 02:30 does not exist on Sunday 28 March 2027 in Paris (the clocks go forward).
        ("weekly", 3, None, {"start": "2027-03-14 02:30"}, InputError, "does not exist on 2027-03-28"),
    ],
)
async def test_bad_input_creates_nothing(
    series: SeriesService,
    service: TalkService,
    repeat: str | None,
    count: int | None,
    until: str | None,
    overrides: dict[str, object],
    error: type[Exception],
    fragment: str,
) -> None:
    with pytest.raises(error, match=fragment):
        await series.create(GUILD, ORGANIZER, seminar(**overrides), repeat=repeat, count=count, until=until)
    assert await service.upcoming(GUILD, public_only=False) == []
    assert await series.choices(GUILD, organizer=True) == []


async def test_series_are_scoped_by_server_and_hidden_until_announced(
    series: SeriesService, service: TalkService, clock: Clock
) -> None:
    held = await series.create(
        GUILD, ORGANIZER, seminar(announce_at="2026-10-01 09:00"), repeat="weekly", count=2, until=None
    )
    open_series = await series.create(GUILD, ORGANIZER, seminar(title="Open"), repeat="weekly", count=2, until=None)
    for guild, series_id in ((OTHER_GUILD, held.series.id), (GUILD, 9999)):
        with pytest.raises(NotFoundError, match=f"no series #{series_id} in this server"):
            await series.get(guild, series_id)
        with pytest.raises(NotFoundError):
            await series.edit(guild, series_id, TalkInput(title="Hijacked"), at=None, from_date=None)
        with pytest.raises(NotFoundError):
            await series.cancel(guild, series_id, None, from_date=None, language="en")
    # Members do not see a series held back until its announcement, in the words of one that does not exist.
    with pytest.raises(NotFoundError, match=f"no series #{held.series.id} in this server"):
        await series.open_dates(GUILD, held.series.id)
    assert [d.series.id for d in await series.choices(GUILD, organizer=False)] == [open_series.series.id]
    assert {d.series.id for d in await series.choices(GUILD, organizer=True)} == {
        held.series.id,
        open_series.series.id,
    }
    clock.now = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)  # 10:00 in Paris: announce_at has passed
    _dates, found = await series.open_dates(GUILD, held.series.id)
    assert len(found) == 2


async def test_edit_every_upcoming_date(series: SeriesService, service: TalkService, clock: Clock) -> None:
    created = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=4, until=None)
    member = 50
    for talk in created.talks:
        await service.register(GUILD, talk.id, member, "Member")
    clock.now = created.talks[1].start_at - timedelta(hours=1)  # the first date is over
    edited = await series.edit(
        GUILD,
        created.series.id,
        TalkInput(title="Grand rounds: cardiology", location="Amphi B"),
        at=None,
        from_date=None,
    )
    assert [o.talk.id for o in edited.outcomes] == [t.id for t in created.talks[1:]]
    assert all(o.changed == {"title", "location"} and o.updated == 1 for o in edited.outcomes)
    after = edited.dates.talks
    assert after[0].title == "Grand rounds" and after[0].sequence == 0
    assert all(t.title == "Grand rounds: cardiology" and t.location == "Amphi B" for t in after[1:])
    assert all(t.sequence == 1 for t in after[1:])
    async with service.db.reading() as conn:
        for talk in after[1:]:
            [update] = await store.deliveries_for(conn, talk.id, DeliveryKind.INVITE_UPDATED)
            assert (update.recipient_id, update.key) == (member, 1)
        assert await store.deliveries_for(conn, after[0].id, DeliveryKind.INVITE_UPDATED) == []
    nothing = await series.edit(
        GUILD, created.series.id, TalkInput(title="Grand rounds: cardiology"), at=None, from_date=None
    )
    assert all(not o.changed for o in nothing.outcomes)
    with pytest.raises(InputError, match="Nothing to change"):
        await series.edit(GUILD, created.series.id, TalkInput(), at=None, from_date=None)


async def test_a_time_change_from_a_date_keeps_each_day_and_the_local_hour(
    series: SeriesService, service: TalkService
) -> None:
    created = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=6, until=None)
    edited = await series.edit(GUILD, created.series.id, TalkInput(), at="19h30", from_date="2026-10-20")
    after = edited.dates.talks
    assert [t.start_at.astimezone(PARIS).strftime("%m-%d %H:%M") for t in after] == [
        "10-06 18:00",
        "10-13 18:00",
        "10-20 19:30",
        "10-27 19:30",
        "11-03 19:30",
        "11-10 19:30",
    ]
    assert after[2].start_at == datetime(2026, 10, 20, 17, 30, tzinfo=UTC)
    assert after[3].start_at == datetime(2026, 10, 27, 18, 30, tzinfo=UTC)
    assert [o.changed for o in edited.outcomes] == [frozenset({"start_at"})] * 4
    # Their place in the rule does not change: a calendar names each moved date by the day the rule gives.
    assert [t.series_index for t in after] == list(range(6))
    with pytest.raises(InputError, match="as a time of day"):
        await series.edit(GUILD, created.series.id, TalkInput(), at="7pm", from_date=None)


async def test_edit_and_cancel_refuse_what_does_not_fit(
    series: SeriesService, service: TalkService, clock: Clock
) -> None:
    created = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=3, until=None)
    series_id = created.series.id
    with pytest.raises(
        InputError, match=r"\(2026-10-21\) is after the last date of \*\*Grand rounds\*\* \(2026-10-20\)"
    ):
        await series.edit(GUILD, series_id, TalkInput(title="X"), at=None, from_date="2026-10-21")
    with pytest.raises(InputError, match="after the last date"):
        await series.cancel(GUILD, series_id, None, from_date="2026-11-01", language="en")
    # One date that refuses the change leaves every date as it was: the first is already announced.
    await service.set_announcement(created.talks[0], 5, 6)
    with pytest.raises(StateError, match="already announced"):
        await series.edit(
            GUILD, series_id, TalkInput(title="X", announce_at="2026-10-01 10:00"), at=None, from_date=None
        )
    assert [t.title for t in (await series.get(GUILD, series_id)).talks] == ["Grand rounds"] * 3
    # All over: nothing left to change or cancel.
    clock.now = created.talks[-1].end_at + timedelta(minutes=1)
    with pytest.raises(StateError, match="over, under way or cancelled, so there is nothing to change"):
        await series.edit(GUILD, series_id, TalkInput(title="X"), at=None, from_date=None)
    with pytest.raises(StateError, match="talk cancel"):
        await series.cancel(GUILD, series_id, None, from_date=None, language="en")


async def test_everything_cancelled_leaves_nothing_to_edit(series: SeriesService) -> None:
    created = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=2, until=None)
    cancelled = await series.cancel(GUILD, created.series.id, "Strike", from_date=None, language="en")
    assert len(cancelled.outcomes) == 2
    with pytest.raises(StateError, match="nothing to change"):
        await series.edit(GUILD, created.series.id, TalkInput(title="X"), at=None, from_date=None)
    with pytest.raises(StateError, match="registration is closed"):
        await series.open_dates(GUILD, created.series.id)


async def test_cancel_from_a_date_tells_each_dates_registrants(series: SeriesService, service: TalkService) -> None:
    created = await series.create(GUILD, ORGANIZER, seminar(capacity=1), repeat="weekly", count=4, until=None)
    for talk in created.talks:
        await service.register(GUILD, talk.id, 50, "First")
        await service.register(GUILD, talk.id, 51, "Second")  # waitlisted
    cancelled = await series.cancel(
        GUILD, created.series.id, "The speaker is on leave", from_date="2026-10-20 08:00", language="en"
    )
    assert [o.talk.id for o in cancelled.outcomes] == [t.id for t in created.talks[2:]]
    statuses = [t.cancelled for t in cancelled.dates.talks]
    assert statuses == [False, False, True, True]
    assert all(t.cancel_reason == "The speaker is on leave" for t in cancelled.dates.talks[2:])
    async with service.db.reading() as conn:
        for talk in created.talks[2:]:
            rows = await store.deliveries_for(conn, talk.id, DeliveryKind.INVITE_CANCELLED)
            assert sorted(row.recipient_id for row in rows) == [50, 51]
    with pytest.raises(InputError, match="limit is 500"):
        await series.cancel(GUILD, created.series.id, "x" * 501, from_date=None, language="en")
    assert [t.cancelled for t in (await series.get(GUILD, created.series.id)).talks] == statuses


async def test_a_date_changed_or_cancelled_on_its_own(series: SeriesService, service: TalkService) -> None:
    created = await series.create(GUILD, ORGANIZER, seminar(), repeat="weekly", count=4, until=None)
    first, second, third, _fourth = created.talks
    moved = await service.edit_talk(GUILD, second.id, TalkInput(start="2026-10-14 12:00", location="Library"))
    assert moved.talk.series_id == created.series.id and moved.talk.series_index == 1
    await service.cancel_talk(GUILD, third.id, "Holiday")
    # The series commands then leave the cancelled date alone and still change the moved one.
    edited = await series.edit(GUILD, created.series.id, TalkInput(speaker="Dr. Who"), at=None, from_date=None)
    assert [o.talk.id for o in edited.outcomes] == [first.id, second.id, created.talks[3].id]
    after = edited.dates.talks
    assert after[1].start_at.astimezone(PARIS).strftime("%m-%d %H:%M") == "10-14 12:00"
    assert after[1].location == "Library"
    assert after[2].cancelled and after[2].speaker == "Prof. Curie"
    assert [t.speaker for t in after] == ["Dr. Who", "Dr. Who", "Prof. Curie", "Dr. Who"]


async def test_registering_for_every_date_keeps_each_dates_seats(series: SeriesService, service: TalkService) -> None:
    created = await series.create(GUILD, ORGANIZER, seminar(capacity=1), repeat="weekly", count=3, until=None)
    await service.register(GUILD, created.talks[1].id, 60, "Early bird")  # takes the second date's only seat
    await service.cancel_talk(GUILD, created.talks[2].id, None)
    _dates, found = await series.open_dates(GUILD, created.series.id)
    assert [t.id for t in found] == [t.id for t in created.talks[:2]]
    outcomes = [await service.register(GUILD, talk.id, 61, "Member") for talk in found]
    assert [o.registration.status for o in outcomes] == [RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]
    assert outcomes[1].registration.position == 1
    assert [o.invite is not None for o in outcomes] == [True, False]
    seats = [await service.seats(talk) for talk in created.talks]
    assert [(s.confirmed, s.waitlisted) for s in seats] == [(1, 0), (1, 1), (0, 0)]
