"""Calendar files (.ics) for talks, built with icalendar: DM invites, and the pieces feeds reuse.

Podium's own words in a file (the description's labels, the alarm's text) are in the reader's ``language``,
and the properties that carry them say so with RFC 5545's LANGUAGE parameter (``SUMMARY;LANGUAGE=fr:``), so
calendar apps and screen readers know what they are reading. The talk's title, speaker and abstract are
shown as the organizers typed them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Component, Event

from bot.i18n import Text, _, render
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


def add_text(component: Component, name: str, text: Text | str, language: str) -> None:
    """A text property in ``language``, marked with its LANGUAGE parameter."""
    component.add(name, render(text, language), parameters={"LANGUAGE": language})


def invite_filename(talk: Talk) -> str:
    return f"podium-talk-{talk.id}.ics"


def new_calendar(method: Method) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method.value)
    return calendar


def talk_event(talk: Talk, *, tz: ZoneInfo, now: datetime, language: str, cancelled: bool = False) -> Event:
    """The talk's VEVENT: same UID and SEQUENCE wherever it appears (DM, feed, email), whatever the language."""
    event = Event()
    event.add("uid", talk_uid(talk))
    event.add("sequence", talk.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", talk.start_at.astimezone(tz))
    event.add("dtend", talk.end_at.astimezone(tz))
    add_text(event, "summary", summary(talk), language)
    add_text(event, "description", description(talk, language), language)
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
        add_text(alarm, "description", _("Starting soon: {summary}", summary=summary(talk)), language)
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


def build_invite(talk: Talk, *, tz: ZoneInfo, now: datetime, language: str, method: Method = Method.PUBLISH) -> bytes:
    """One VEVENT for ``talk``; METHOD:CANCEL (and STATUS:CANCELLED) withdraws the member's copy.

    Times carry the server's TZID with its VTIMEZONE so calendars show the talk in the organizers'
    zone and keep the right instant across daylight-saving changes.
    """
    calendar = new_calendar(method)
    calendar.add_component(talk_event(talk, tz=tz, now=now, language=language, cancelled=method is Method.CANCEL))
    return finish(calendar, [talk])


def description(talk: Talk, language: str) -> str:
    """The event's DESCRIPTION: who speaks, the bio and abstract as typed, why it was cancelled, the link."""
    parts: list[Text | str] = [_("Speaker: {speaker}", speaker=talk.speaker)]
    if talk.speaker_bio:
        parts.append(talk.speaker_bio)
    if talk.description:
        parts.append(talk.description)
    if talk.cancelled and talk.cancel_reason:
        parts.append(_("Cancelled: {reason}", reason=talk.cancel_reason))
    url = talk.announcement_url()
    if url:
        parts.append(_("Announcement: {url}", url=url))
    return "\n\n".join(render(part, language) for part in parts)
