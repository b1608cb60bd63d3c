"""Calendar files (.ics) for talks, built with icalendar: DM invites, and the pieces feeds reuse."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event

from bot.models import Talk

PRODID = "-//Podium//Speaker talks//EN"
DEFAULT_ALARM_MINUTES = 15


class Method(StrEnum):
    PUBLISH = "PUBLISH"
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


def talk_uid(talk: Talk) -> str:
    """Stable for the life of the talk, so calendars update the event instead of adding another."""
    return f"talk-{talk.id}-guild-{talk.guild_id}@podium"


def summary(talk: Talk) -> str:
    return f"{talk.title} — {talk.speaker}"


def invite_filename(talk: Talk) -> str:
    return f"podium-talk-{talk.id}.ics"


def new_calendar(method: Method) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method.value)
    return calendar


def talk_event(talk: Talk, *, tz: ZoneInfo, now: datetime, cancelled: bool = False) -> Event:
    """The talk's VEVENT: same UID and SEQUENCE wherever it appears (DM, feed, email)."""
    event = Event()
    event.add("uid", talk_uid(talk))
    event.add("sequence", talk.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", talk.start_at.astimezone(tz))
    event.add("dtend", talk.end_at.astimezone(tz))
    event.add("summary", summary(talk))
    event.add("description", _description(talk))
    if talk.location:
        event.add("location", talk.location)
    url = talk.announcement_url()
    if url:
        event.add("url", url)
    cancelled = cancelled or talk.cancelled
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    if not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"Starting soon: {summary(talk)}")
        minutes = min(talk.reminders) if talk.reminders else DEFAULT_ALARM_MINUTES
        alarm.add("trigger", timedelta(minutes=-minutes))
        event.add_component(alarm)
    return event


def finish(calendar: Calendar, talks: Iterable[Talk]) -> bytes:
    """Add the VTIMEZONEs the events need and serialise."""
    spans = [(talk.start_at, talk.end_at) for talk in talks]
    if spans:
        # A VTIMEZONE covering a year either side keeps the file small yet valid for the talks' dates.
        calendar.add_missing_timezones(
            first_date=(min(start for start, _ in spans) - timedelta(days=366)).date(),
            last_date=(max(end for _, end in spans) + timedelta(days=366)).date(),
        )
    return calendar.to_ical()


def build_invite(talk: Talk, *, tz: ZoneInfo, now: datetime, method: Method = Method.PUBLISH) -> bytes:
    """One VEVENT for ``talk``; METHOD:CANCEL (and STATUS:CANCELLED) withdraws the member's copy.

    Times carry the server's TZID with its VTIMEZONE so calendars show the talk in the organizers'
    zone and keep the right instant across daylight-saving changes.
    """
    calendar = new_calendar(method)
    calendar.add_component(talk_event(talk, tz=tz, now=now, cancelled=method is Method.CANCEL))
    return finish(calendar, [talk])


def _description(talk: Talk) -> str:
    parts = [f"Speaker: {talk.speaker}"]
    if talk.speaker_bio:
        parts.append(talk.speaker_bio)
    if talk.description:
        parts.append(talk.description)
    if talk.cancelled and talk.cancel_reason:
        parts.append(f"Cancelled: {talk.cancel_reason}")
    url = talk.announcement_url()
    if url:
        parts.append(f"Announcement: {url}")
    return "\n\n".join(parts)
