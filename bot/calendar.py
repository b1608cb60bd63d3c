"""Calendar files (.ics) for talks, built with icalendar: DM invites, and the pieces feeds reuse.

Podium's own words in a file (the description's labels, the alarm's text) are in the reader's ``language``,
and the properties that carry them say so with RFC 5545's LANGUAGE parameter (``SUMMARY;LANGUAGE=fr:``), so
calendar apps and screen readers know what they are reading. The talk's title, speaker and abstract are
shown as the organizers typed them.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Component, Event

from bot.i18n import Text, _, render
from bot.models import Series, Talk

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


# --- seminar series: one event with an RRULE -----------------------------------------------------------------
# Properties that place an event in time or name its version rather than say what it is: left out when comparing
# a date with the series' pattern (bot/series.py), and set anew on the series' own components.
_PLACING = frozenset({"UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "RECURRENCE-ID", "RRULE", "EXDATE"})


def series_uid(series: Series) -> str:
    """One UID for the whole series in feeds; each date's DM invite keeps its own talk UID (one file per date)."""
    return f"series-{series.id}-guild-{series.guild_id}@podium"


@dataclass(frozen=True)
class SeriesDate:
    """One date of a series as one reader's calendar shows it."""

    slot: date  # the day the series' rule gives this date (bot/series.slot_days)
    talk: Talk
    event: Event  # the event a lone talk would have for this reader (confirmed, waitlisted, join link...)
    shown: bool  # False: not in this reader's calendar (cancelled, or a date they did not register for)


def _shape(event: Event, zone: ZoneInfo) -> tuple[time, timedelta, tuple[tuple[str, bytes], ...]]:
    """What a date looks like apart from its day: local start time, length and every other property."""
    start = event.decoded("DTSTART")
    length = event.decoded("DTEND") - start
    rest = tuple(
        (name, value.to_ical() if hasattr(value, "to_ical") else str(value).encode())
        for name, value in event.property_items(recursive=True, sorted=True)
        if name not in _PLACING
    )
    return start.astimezone(zone).time(), length, rest


def series_events(
    series: Series,
    days: Sequence[date],
    dates: Sequence[SeriesDate],
    *,
    freq: str,
    interval: int,
    zone: ZoneInfo,
) -> list[Event]:
    """The series as one recurring event (RFC 5545): a master with an RRULE over ``days`` (every day of the rule),
    an EXDATE for each day with no date shown, and a RECURRENCE-ID override for each shown date that differs from
    the master (moved, retitled, or waitlisted in a personal feed).

    The master follows the most common look among the shown dates (ties: the latest), so a change made to every
    date from some day on needs overrides only for the dates before it. Its SEQUENCE is the sum of the dates'
    (each only rises, so the sum never falls) and its DTSTAMP their latest change, so an unchanged series gives
    the same bytes on every fetch. With no date shown the series is one CANCELLED event, so calendars drop it.
    """
    stamp = max(d.talk.updated_at for d in dates)
    sequence = sum(d.talk.sequence for d in dates)
    shown = [d for d in dates if d.shown]
    shapes = {d.talk.id: _shape(d.event, zone) for d in shown}
    counts = Counter(shapes.values())
    best = max(shown, key=lambda d: (counts[shapes[d.talk.id]], d.slot)) if shown else dates[-1]
    at, length, _rest = shapes[best.talk.id] if shown else _shape(best.event, zone)

    def occurrence(day: date) -> datetime:
        # A wall time the clocks skip that day reads with the offset before the gap, as RFC 5545 says.
        return datetime.combine(day, at).replace(tzinfo=zone, fold=0)

    def placed(event: Event, **values: object) -> Event:
        copied = copy.deepcopy(event)
        for name in ("UID", "SEQUENCE", *(key.upper() for key in values)):
            copied.pop(name, None)
        copied.add("uid", series_uid(series))
        copied.add("sequence", sequence)
        for name, value in values.items():
            copied.add(name, value)
        return copied

    first = occurrence(days[0])
    master = placed(best.event, dtstart=first, dtend=first + length, dtstamp=stamp)
    rule: dict[str, object] = {"freq": freq, "count": series.count}
    if interval != 1:
        rule["interval"] = interval
    master.add("rrule", rule)
    if not shown:
        master.pop("STATUS", None)
        master.add("status", "CANCELLED")
        master.subcomponents.clear()  # no alarm for what does not happen
        return [master]
    # A day of the rule with no date to show (cancelled, not the member's, or not there at all) is left out.
    shown_days = {d.slot for d in shown}
    left_out = [occurrence(day) for day in days if day not in shown_days]
    if left_out:
        master.add("exdate", left_out)
    events = [master]
    for d in shown:
        start = d.event.decoded("DTSTART")
        if shapes[d.talk.id] == shapes[best.talk.id] and start == occurrence(d.slot):
            continue  # the rule gives this date as it is
        events.append(placed(d.event, **{"recurrence-id": occurrence(d.slot)}))
    return events
