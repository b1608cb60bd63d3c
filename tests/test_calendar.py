from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from bot.calendar import Method, build_invite, talk_uid
from bot.talks import TalkInput, TalkService
from tests.conftest import PARIS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event_of(data: bytes) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(data)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


async def test_invite_has_every_property(service: TalkService) -> None:
    talk = await service.create_talk(
        1,
        2,
        TalkInput(
            title="Pharmacogenomics",
            speaker="Dr. Ada",
            start="2026-03-29 01:30",  # crosses the spring-forward change in Paris
            duration=120,
            location="Amphi B",
            description="Why genes matter; commas, and semicolons",
            speaker_bio="Pioneer.",
            reminders="1d,30m",
        ),
    )
    talk = await service.set_announcement(talk, 333, 444)
    calendar, event = event_of(build_invite(talk, tz=PARIS, now=NOW, language="en"))
    assert calendar["METHOD"] == "PUBLISH"
    assert calendar["VERSION"] == "2.0"
    assert "ATTENDEE" not in event
    assert event["UID"] == talk_uid(talk) == f"talk-{talk.id}-guild-1@podium"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTAMP") == NOW
    start = event.decoded("DTSTART")
    end = event.decoded("DTEND")
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert start == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET
    assert end == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)  # 04:30 CEST: two real hours later
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=2)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert str(event["SUMMARY"]) == "Pharmacogenomics — Dr. Ada"
    description = str(event["DESCRIPTION"])
    assert "Why genes matter; commas, and semicolons" in description
    assert "Pioneer." in description
    assert str(event["LOCATION"]) == "Amphi B"
    assert str(event["URL"]) == "https://discord.com/channels/1/333/444"
    assert str(event["STATUS"]) == "CONFIRMED"
    alarms = event.walk("VALARM")
    assert len(alarms) == 1
    assert alarms[0].decoded("TRIGGER") == timedelta(minutes=-30)
    assert str(alarms[0]["ACTION"]) == "DISPLAY"


async def test_updates_keep_uid_and_raise_sequence(service: TalkService) -> None:
    talk = await service.create_talk(1, 2, TalkInput(title="T", speaker="S", start="2026-03-14 18:30"))
    first = event_of(build_invite(talk, tz=PARIS, now=NOW, language="en"))[1]
    moved = (await service.edit_talk(1, talk.id, TalkInput(start="2026-07-01 09:00"))).talk
    second = event_of(build_invite(moved, tz=PARIS, now=NOW, language="en"))[1]
    assert first["UID"] == second["UID"]
    assert second["SEQUENCE"] > first["SEQUENCE"]
    assert second.decoded("DTSTART") == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # summer time, UTC+2


async def test_cancel_invite(service: TalkService) -> None:
    talk = await service.create_talk(1, 2, TalkInput(title="T", speaker="S", start="2026-03-14 18:30"))
    cancelled = (await service.cancel_talk(1, talk.id, "Speaker ill")).talk
    calendar, event = event_of(build_invite(cancelled, tz=PARIS, now=NOW, language="en", method=Method.CANCEL))
    assert calendar["METHOD"] == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert event["SEQUENCE"] == 1
    assert event["UID"] == talk_uid(talk)
    assert "Speaker ill" in str(event["DESCRIPTION"])
    assert event.walk("VALARM") == []
    personal = event_of(build_invite(talk, tz=PARIS, now=NOW, language="en", method=Method.CANCEL))
    assert personal[0]["METHOD"] == "CANCEL"
    assert str(personal[1]["STATUS"]) == "CANCELLED"


async def test_no_reminders_still_alarms_and_no_location(service: TalkService) -> None:
    talk = await service.create_talk(
        1, 2, TalkInput(title="T", speaker="S", start="2026-03-14 18:30", reminders="none")
    )
    event = event_of(build_invite(talk, tz=PARIS, now=NOW, language="en"))[1]
    assert "LOCATION" not in event
    assert "URL" not in event
    assert event.walk("VALARM")[0].decoded("TRIGGER") == timedelta(minutes=-15)
