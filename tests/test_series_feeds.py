"""A series in the feeds is one event with an RRULE, read back by icalendar, vobject and recurring-ical-events:
cancelled dates are EXDATEs, a date changed on its own is a RECURRENCE-ID override, and a personal feed keeps
only the member's own dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar, Event

from bot.feeds import FeedService, member_calendar, public_calendar
from bot.series import SeriesDates, SeriesService
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock
from tests.web_helpers import both_parsers

GUILD = 111
ORGANIZER = 1
PARIS = ZoneInfo("Europe/Paris")
SERIES_UID = "series-{id}-guild-111@podium"


@pytest.fixture
def feeds(service: TalkService) -> FeedService:
    return FeedService(service)


async def ten_weeks(service: TalkService, **options: Any) -> SeriesDates:
    """Tuesdays at 18:00 in Paris from 6 October 2026: the clocks go back on the 25th, between dates 3 and 4."""
    await service.update_settings(GUILD, public_calendar=True)
    data = TalkInput(title="Grand rounds", speaker="Prof. Curie", start="2026-10-06 18:00", **options)
    return await SeriesService(service).create(GUILD, ORGANIZER, data, repeat="weekly", count=10, until=None)


def series_components(cal: Calendar, uid: str) -> tuple[Event, list[Event]]:
    found = [event for event in cal.walk("VEVENT") if str(event["UID"]) == uid]
    [master] = [event for event in found if "RECURRENCE-ID" not in event]
    return master, [event for event in found if "RECURRENCE-ID" in event]


def vobject_series(vcal: Any, uid: str) -> tuple[Any, list[Any]]:
    found = [event for event in vcal.contents["vevent"] if event.uid.value == uid]
    [master] = [event for event in found if "recurrence-id" not in event.contents]
    return master, [event for event in found if "recurrence-id" in event.contents]


def paris(day: date, hour: int = 18, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


TUESDAYS = [date(2026, 10, 6) + timedelta(weeks=week) for week in range(10)]


async def test_the_server_feed_writes_a_series_as_one_recurring_event(service: TalkService, feeds: FeedService) -> None:
    created = await ten_weeks(service, location="Amphi A", duration=90)
    talks = created.talks
    lone = await service.create_talk(GUILD, ORGANIZER, TalkInput(title="Lone", speaker="S", start="2026-10-08 12:00"))
    # One date moved to the Wednesday at noon in another room, on its own; another cancelled on its own.
    await service.edit_talk(GUILD, talks[4].id, TalkInput(start="2026-11-04 12:00", location="Library"))
    await service.cancel_talk(GUILD, talks[6].id, "Holiday")
    feed = await feeds.public_feed(GUILD)
    assert feed is not None
    body = public_calendar(feed, "Faculty", "en")
    cal, vcal = both_parsers(body)
    uid = SERIES_UID.format(id=created.series.id)
    assert sorted({str(e["UID"]) for e in cal.walk("VEVENT")}) == sorted({uid, f"talk-{lone.id}-guild-{GUILD}@podium"})

    master, overrides = series_components(cal, uid)
    rule = master["RRULE"]
    assert (rule["FREQ"], rule["COUNT"], rule.get("INTERVAL")) == (["WEEKLY"], [10], None)
    assert master.decoded("DTSTART") == paris(TUESDAYS[0])
    assert master["DTSTART"].params["TZID"] == "Europe/Paris"
    assert master.decoded("DTEND") - master.decoded("DTSTART") == timedelta(minutes=90)
    assert str(master["LOCATION"]) == "Amphi A"
    assert [d.dt for d in master["EXDATE"].dts] == [paris(TUESDAYS[6])]
    [moved] = overrides
    assert all("DTSTAMP" in event for event in (master, moved))
    assert moved.decoded("RECURRENCE-ID") == paris(TUESDAYS[4])
    assert moved.decoded("DTSTART") == paris(date(2026, 11, 4), 12)
    assert str(moved["LOCATION"]) == "Library"

    # vobject: the rule gives exactly the dates not cancelled, each at 18:00 in Paris, across the clock change.
    vmaster, voverrides = vobject_series(vcal, uid)
    dates = list(vmaster.getrruleset())
    assert [d.astimezone(UTC) for d in dates] == [
        paris(day).astimezone(UTC) for i, day in enumerate(TUESDAYS) if i != 6
    ]
    assert {d.astimezone(PARIS).strftime("%H:%M") for d in dates} == {"18:00"}
    assert dates[2].utcoffset() == timedelta(hours=2) and dates[3].utcoffset() == timedelta(hours=1)
    [voverride] = voverrides
    assert voverride.recurrence_id.value.astimezone(UTC) == paris(TUESDAYS[4]).astimezone(UTC)
    assert voverride.dtstart.value.astimezone(UTC) == paris(date(2026, 11, 4), 12).astimezone(UTC)

    # A calendar app's expansion: every date the organizers hold, where and when they hold it.
    expanded = recurring_ical_events.of(cal).between(datetime(2026, 9, 1), datetime(2027, 1, 1))
    held = sorted(
        (e.decoded("DTSTART").astimezone(UTC), str(e.get("LOCATION"))) for e in expanded if str(e["UID"]) == uid
    )
    now = (await SeriesService(service).get(GUILD, created.series.id)).talks
    assert held == sorted((talk.start_at, talk.location or "None") for talk in now if not talk.cancelled)


async def test_a_change_to_the_later_dates_needs_overrides_only_for_the_fewer(
    service: TalkService, feeds: FeedService
) -> None:
    created = await ten_weeks(service)
    await SeriesService(service).edit(
        GUILD, created.series.id, TalkInput(title="Grand rounds: cardiology"), at="19:00", from_date="2026-11-24"
    )
    feed = await feeds.public_feed(GUILD)
    assert feed is not None
    cal, vcal = both_parsers(public_calendar(feed, "Faculty", "en"))
    master, overrides = series_components(cal, SERIES_UID.format(id=created.series.id))
    # Seven dates keep the old title and time, three changed: the master is the seven's, the three override it.
    assert str(master["SUMMARY"]) == "Grand rounds — Prof. Curie"
    assert "EXDATE" not in master
    assert sorted(o.decoded("RECURRENCE-ID") for o in overrides) == [paris(day) for day in TUESDAYS[7:]]
    assert {str(o["SUMMARY"]) for o in overrides} == {"Grand rounds: cardiology — Prof. Curie"}
    assert sorted(o.decoded("DTSTART") for o in overrides) == [paris(day, 19) for day in TUESDAYS[7:]]
    vmaster, _voverrides = vobject_series(vcal, SERIES_UID.format(id=created.series.id))
    assert len(list(vmaster.getrruleset())) == 10


async def test_a_personal_feed_shows_only_the_members_dates(service: TalkService, feeds: FeedService) -> None:
    created = await ten_weeks(service, capacity=1)
    talks = created.talks
    member, other = 50, 51
    await service.register(GUILD, talks[2].id, other, "Other")  # takes date 2's only seat
    for index in (1, 2, 3, 5):
        await service.register(GUILD, talks[index].id, member, "Member")  # waitlisted on date 2
    await service.cancel_talk(GUILD, talks[5].id, None)
    link = await feeds.link(GUILD, member, reset=False)
    feed = await feeds.member_feed(link.token or "")
    assert feed is not None
    cal, vcal = both_parsers(member_calendar(feed, "Faculty", "en"))
    uid = SERIES_UID.format(id=created.series.id)
    master, overrides = series_components(cal, uid)
    # Not registered (0, 4, 6-9) or cancelled (5): EXDATEs. Confirmed: the rule. Waitlisted: tentative override.
    excluded = sorted(d.dt for d in master["EXDATE"].dts)
    assert excluded == [paris(TUESDAYS[i]) for i in (0, 4, 5, 6, 7, 8, 9)]
    assert str(master["STATUS"]) == "CONFIRMED"
    [waiting] = overrides
    assert waiting.decoded("RECURRENCE-ID") == paris(TUESDAYS[2])
    assert str(waiting["STATUS"]) == "TENTATIVE"
    assert str(waiting["SUMMARY"]) == "Grand rounds — Prof. Curie (waitlist #1)"
    vmaster, _ = vobject_series(vcal, uid)
    assert [d.astimezone(UTC) for d in vmaster.getrruleset()] == [t.start_at for t in (talks[1], talks[2], talks[3])]
    # The other member, registered for one date only: one date in the rule, nine EXDATEs.
    other_feed = await feeds.member_feed((await feeds.link(GUILD, other, reset=False)).token or "")
    assert other_feed is not None
    _cal, other_vcal = both_parsers(member_calendar(other_feed, "Faculty", "en"))
    other_master, other_overrides = vobject_series(other_vcal, uid)
    assert [d.astimezone(UTC) for d in other_master.getrruleset()] == [talks[2].start_at]
    assert other_overrides == []


async def test_a_series_cancelled_whole_is_one_cancelled_event(service: TalkService, feeds: FeedService) -> None:
    created = await ten_weeks(service)
    await SeriesService(service).cancel(GUILD, created.series.id, None, from_date=None, language="en")
    feed = await feeds.public_feed(GUILD)
    assert feed is not None
    cal, _vcal = both_parsers(public_calendar(feed, "Faculty", "en"))
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == SERIES_UID.format(id=created.series.id)
    assert str(event["STATUS"]) == "CANCELLED"
    assert event.walk("VALARM") == []


async def test_the_same_data_gives_the_same_bytes(service: TalkService, feeds: FeedService) -> None:
    created = await ten_weeks(service)
    await service.edit_talk(GUILD, created.talks[3].id, TalkInput(title="Special"))
    first = await feeds.public_feed(GUILD)
    second = await feeds.public_feed(GUILD)
    assert first is not None and second is not None
    assert public_calendar(first, "Faculty", "en") == public_calendar(second, "Faculty", "en")


async def test_a_date_held_back_on_its_own_stays_out(service: TalkService, feeds: FeedService, clock: Clock) -> None:
    created = await ten_weeks(service, announce_at="2026-09-01 09:00")
    hidden = created.talks[5]
    await service.edit_talk(GUILD, hidden.id, TalkInput(title="Secret", announce_at="2026-11-01 09:00"))
    clock.now = datetime(2026, 9, 2, tzinfo=UTC)
    feed = await feeds.public_feed(GUILD)
    assert feed is not None
    body = public_calendar(feed, "Faculty", "en")
    assert b"Secret" not in body
    _cal, vcal = both_parsers(body)
    vmaster, overrides = vobject_series(vcal, SERIES_UID.format(id=created.series.id))
    assert [d.astimezone(UTC) for d in vmaster.getrruleset()] == [t.start_at for t in created.talks if t != hidden]
    assert overrides == []
