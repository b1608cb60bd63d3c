"""Reading a season's .ics file into the talks it describes: the rules of /talk import, without Discord.

icalendar parses the file; recurring-ical-events expands repeating events over the next 12 months.
Nothing here writes to the database: TalkService.import_talks creates the drafts in one transaction,
so an import creates all of its talks or none.

A file is small, but a repeating event is a loop it asks the reader to run: one line can stand for millions
of dates. So the reader refuses rules that repeat more than once a day, counts every date it goes through
(past ones included: a rule is expanded from its first date) against MAX_EXAMINED, and reads the file in
a separate process (bot.import_worker) that is stopped after a time and memory limit whatever the file does.

What the organizer reads is written as Texts and rendered in their language: the worker sends its refusals
back as checked JSON (bot.portable_text), and the summary is measured against Discord's limit once rendered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import recurring_ical_events
import x_wr_timezone
from dateutil.rrule import rrulestr
from icalendar import Calendar, Component, Event, vRecur

from bot import ical_values as ical
from bot import import_worker, portable_text
from bot.command_names import command
from bot.errors import InputError, StateError
from bot.i18n import Text, _, _n, render
from bot.models import Talk
from bot.portable_text import Day, MalformedTextError, Number
from bot.talks import DESCRIPTION_MAX, DURATION_MAX, LOCATION_MAX, TITLE_MAX, TalkInput
from bot.timeparse import discord_timestamp

log = logging.getLogger(__name__)
_SOURCE = "bot/importer.py"  # the worker's refusals are texts of this file (as the catalogue locates them)

MAX_BYTES = 1024 * 1024  # "1 MB"
LABEL_MAX = 60  # an event named in a refusal or the summary: its title, or its UID, shortened
MAX_EVENTS = 500  # upcoming events in the window, counted after repeating events are expanded
# Dates the reader may go through in one file: every event, every RDATE and EXDATE value, and every date of
# every repeating rule from its first one (DTSTART) to the end of the window. A school year of weekly talks
# is about 50; a daily rule since 1990 is 13,000. 50,000 take well under a second to read.
MAX_EXAMINED = 50_000
# Dates in the window, listed or given by a rule, before EXDATEs remove any: a file with far more than
# MAX_EVENTS can only be refused, so it is before recurring-ical-events builds an event for each.
UPCOMING_DATES_MAX = 4 * MAX_EVENTS
HORIZON = timedelta(days=365)
DEFAULT_DURATION_MIN = 60  # as /talk create, for events with no end (or an end equal to the start)
# The speaker of imported talks when the organizer names none, stored in the server's language.
DEFAULT_SPEAKER = _("To be confirmed")
ELLIPSIS = "…"
SOURCE_UID_MAX = 300  # longer UIDs are stored as a digest: still stable, still unique
FILE_EXAMPLE = command("talk import", file="season.ics")
_EXTENSIONS = (".ics", ".ical", ".icalendar")
_CONTENT_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")
_TEXT_PROPERTIES = ("UID", "SUMMARY", "DESCRIPTION", "LOCATION", "STATUS")
_DATE_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE")
_FIX = _(
    "Fix it in your calendar app, export the file again and run {example} again; nothing was imported.",
    example=FILE_EXAMPLE,
)
_SUB_DAILY = {"SECONDLY": _("every second"), "MINUTELY": _("every minute"), "HOURLY": _("every hour")}
# What the organizer reads when the reader's answer is not one it could have written (see bot.portable_text).
UNREADABLE = _(
    "I could not read this calendar file, so nothing was imported. Export the calendar again from your calendar "
    "app and attach that file: {example}.",
    example=FILE_EXAMPLE,
)
_TIMES_OF_DAY = ("BYHOUR", "BYMINUTE", "BYSECOND")  # several values: several times a day, whatever FREQ says


class SkipReason(StrEnum):
    """Why an event of the file did not become a talk; the value is how the reader's answer names it."""

    PAST = "past"
    LATER = "later"
    DUPLICATE = "duplicate"
    ALREADY_IMPORTED = "already_imported"
    CANCELLED = "cancelled"
    NO_TITLE = "no_title"
    ALL_DAY = "all_day"
    TOO_LONG = "too_long"

    def group(self, count: int) -> Text:
        """How the summary names ``count`` events skipped for this reason: "3 already started or over"."""
        if self is SkipReason.PAST:
            return _n("{count} already started or over", "{count} already started or over", count)
        if self is SkipReason.LATER:
            return _n("{count} more than 12 months ahead", "{count} more than 12 months ahead", count)
        if self is SkipReason.DUPLICATE:
            return _n("{count} listed twice in the file", "{count} listed twice in the file", count)
        if self is SkipReason.ALREADY_IMPORTED:
            return _n("{count} already imported", "{count} already imported", count)
        if self is SkipReason.CANCELLED:
            return _n("{count} marked cancelled in the calendar", "{count} marked cancelled in the calendar", count)
        if self is SkipReason.NO_TITLE:
            return _n("{count} without a title (SUMMARY)", "{count} without a title (SUMMARY)", count)
        if self is SkipReason.ALL_DAY:
            return _n("{count} all-day, with no start time", "{count} all-day, with no start time", count)
        return _n("{count} longer than 24 hours", "{count} longer than 24 hours", count)


@dataclass(frozen=True)
class Skipped:
    reason: SkipReason
    label: str  # the event's title, or its UID when it has none


@dataclass(frozen=True)
class TalkDraft:
    """One talk to create, with everything the file says; speaker and capacity come from the command."""

    source_uid: str
    title: str
    start_at: datetime  # aware, UTC
    duration_min: int
    location: str | None = None
    description: str | None = None

    def as_input(self, *, speaker: str, capacity: int | None) -> TalkInput:
        """The same input /talk create builds, so TalkService applies the same rules to imported talks."""
        return TalkInput(
            title=self.title,
            speaker=speaker,
            start=self.start_at.isoformat(),
            duration=self.duration_min,
            location=self.location,
            capacity=capacity,
            description=self.description,
        )


@dataclass(frozen=True)
class ImportPlan:
    drafts: list[TalkDraft]
    skipped: list[Skipped]
    until: datetime  # repeating events were expanded up to here
    shortened: list[str] = field(default_factory=list)  # titles of drafts whose texts were cut to fit
    repeating: bool = False  # the file had repeating events, so later occurrences wait for a later import

    def after_import(self, already_imported: Collection[str]) -> ImportPlan:
        """The plan once the database said which drafts this server already has."""
        kept = [draft for draft in self.drafts if draft.source_uid not in already_imported]
        known = [Skipped(SkipReason.ALREADY_IMPORTED, d.title) for d in self.drafts if d.source_uid in already_imported]
        return replace(self, drafts=kept, skipped=self.skipped + known)


def check_upload(filename: str, content_type: str | None, size: int) -> None:
    """Refuse a file before downloading it: too large, empty, or plainly not a calendar."""
    if size > MAX_BYTES:
        raise InputError(
            _(
                "`{filename}` is {size} MB; I import calendars of up to 1 MB. Export a shorter period (for example "
                "one term at a time) and import each file, e.g. {example}.",
                filename=filename,
                size=Number.of(size / (1024 * 1024), digits=1),
                example=FILE_EXAMPLE,
            )
        )
    if size == 0:
        raise InputError(
            _("`{filename}` is empty. Export your calendar again and attach the .ics file.", filename=filename)
        )
    kind = (content_type or "").split(";")[0].strip().lower()
    # Some apps send calendars as text/plain or application/octet-stream: the name is enough, and the parse
    # that follows is strict anyway.
    if not filename.lower().endswith(_EXTENSIONS) and kind not in _CONTENT_TYPES:
        raise InputError(
            _(
                "`{filename}` is not an iCalendar (.ics) file. Export the calendar as .ics (Google Calendar: "
                "Settings → Import & export → Export; Outlook: Save calendar) and attach it, e.g. {example}.",
                filename=filename,
                example=FILE_EXAMPLE,
            )
        )


def read_calendar(data: bytes, *, zone: ZoneInfo, now: datetime) -> ImportPlan:
    """Work out which talks a .ics file describes, and which of its events are skipped and why.

    The file is read by plan_calendar in a child process (bot.import_worker) that is stopped after
    import_worker.TIME_LIMIT_S seconds or import_worker.MEMORY_LIMIT_MB of memory; this call blocks until then,
    so run it in a thread. Raises InputError with what to do when the file is malformed, too large or too
    costly to read, and StateError when other files are being read; such a file creates nothing.
    """
    _check_size(data)
    request = json.dumps({"zone": zone.key, "now": now.isoformat()}).encode() + b"\n" + data
    try:
        answer = import_worker.run(request)
    except import_worker.OutOfTimeError:
        raise InputError(
            _(
                "Reading this file took more than {seconds} seconds, so I stopped. A repeating event with an "
                "unusual rule (one that almost never happens, or that starts long ago) is the likely cause: "
                "simplify it or give it a recent start in your calendar app, or export only the period you need. "
                "Then run {example} again; nothing was imported.",
                seconds=Number.of(import_worker.TIME_LIMIT_S),
                example=FILE_EXAMPLE,
            )
        ) from None
    except import_worker.OutOfMemoryError:
        raise InputError(
            _(
                "Reading this file needed more than {megabytes} MB of memory, so I stopped. Export a shorter period "
                "(for example one term at a time) with fewer repeating events and import each file, e.g. "
                "{example}; nothing was imported.",
                megabytes=Number.of(import_worker.MEMORY_LIMIT_MB),
                example=FILE_EXAMPLE,
            )
        ) from None
    except import_worker.BusyError:
        raise StateError(
            _n(
                "I am already reading {count} calendar file for other organizers. Try again in a minute: "
                "{example}; nothing was imported.",
                "I am already reading {count} calendar files for other organizers. Try again in a minute: "
                "{example}; nothing was imported.",
                import_worker.AT_ONCE,
                example=FILE_EXAMPLE,
            )
        ) from None
    return _checked_plan(answer)


def _checked_plan(answer: bytes) -> ImportPlan:
    """The plan the worker wrote, or InputError with its refusal. The worker read a file anyone can upload, so
    its answer is taken only in the shapes it could have written; anything else is refused as UNREADABLE."""
    try:
        fields = portable_text.read_json(answer)
        if not isinstance(fields, dict) or len(fields) != 1:
            raise MalformedTextError("neither a refusal nor a plan")
        if "plan" in fields:
            return _plan_from_json(fields["plan"])
        refusal = portable_text.load(fields["refusal"], portable_text.template(_SOURCE))
    except (MalformedTextError, KeyError, TypeError, ValueError) as error:
        log.warning("The calendar reader gave an answer it could not have written (%s); refused the file", error)
        refusal = UNREADABLE
    raise InputError(refusal)


def plan_calendar(data: bytes, *, zone: ZoneInfo, now: datetime) -> ImportPlan:
    """read_calendar's work, in this process and without its time and memory limits: what the worker runs.

    ``zone`` reads floating times (no TZID, no Z) unless the file names its own zone (X-WR-TIMEZONE).
    """
    _check_size(data)
    calendar = _parse(data)
    events = [component for component in calendar.walk("VEVENT") if isinstance(component, Event)]
    if not events:
        raise InputError(
            _(
                "This calendar has no events (VEVENT) in it. Check that you exported the calendar with the talks, "
                "not an empty one or a task list, then try again: {example}.",
                example=FILE_EXAMPLE,
            )
        )
    try:
        return _Reader(zone, now).read(calendar, events)
    except OverflowError:
        raise InputError(_("A date in this file is out of range (such as the year 9999). {fix}", fix=_FIX)) from None


def answer_request(request: bytes) -> bytes:
    """The worker's side of read_calendar: a request it made in, the plan or the refusal out (JSON)."""
    header, _, data = request.partition(b"\n")
    fields = json.loads(header)
    try:
        plan = plan_calendar(data, zone=ZoneInfo(fields["zone"]), now=datetime.fromisoformat(fields["now"]))
    except InputError as refusal:
        # Texts cross as JSON (bot.portable_text), never pickled: the bot checks them before showing them.
        text = refusal.text if isinstance(refusal.text, Text) else UNREADABLE
        try:
            written = portable_text.dump(text)
        except TypeError:
            written = portable_text.dump(UNREADABLE)
        return json.dumps({"refusal": written}, allow_nan=False, ensure_ascii=False).encode()
    return json.dumps({"plan": _plan_to_json(plan)}, ensure_ascii=False).encode()


def _check_size(data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise InputError(
            _(
                "The file is larger than 1 MB. Export a shorter period and import each file, e.g. {example}.",
                example=FILE_EXAMPLE,
            )
        )


def _plan_to_json(plan: ImportPlan) -> dict[str, object]:
    return {
        "drafts": [
            [d.source_uid, d.title, d.start_at.isoformat(), d.duration_min, d.location, d.description]
            for d in plan.drafts
        ],
        "skipped": [[skipped.reason.value, skipped.label] for skipped in plan.skipped],
        "until": plan.until.isoformat(),
        "shortened": plan.shortened,
        "repeating": plan.repeating,
    }


def _plan_from_json(fields: Any) -> ImportPlan:
    """The plan _plan_to_json wrote, in the shapes and within the bounds the reader keeps; ValueError otherwise."""
    if not isinstance(fields, dict) or set(fields) != {"drafts", "skipped", "until", "shortened", "repeating"}:
        raise ValueError("not a plan")
    if not isinstance(fields["drafts"], list) or len(fields["drafts"]) > MAX_EVENTS:
        raise ValueError("not a list of at most MAX_EVENTS drafts")
    drafts = []
    for uid, title, start, duration, location, description in fields["drafts"]:
        if not isinstance(duration, int) or isinstance(duration, bool) or not 0 < duration <= DURATION_MAX:
            raise ValueError("a duration out of range")
        drafts.append(
            TalkDraft(
                _string(uid, SOURCE_UID_MAX),
                _string(title, TITLE_MAX),
                _moment(start),
                duration,
                None if location is None else _string(location, LOCATION_MAX),
                None if description is None else _string(description, DESCRIPTION_MAX),
            )
        )
    if not isinstance(fields["skipped"], list) or not isinstance(fields["shortened"], list):
        raise ValueError("skipped and shortened are lists")
    if not isinstance(fields["repeating"], bool):
        raise ValueError("repeating is true or false")
    return ImportPlan(
        drafts=drafts,
        skipped=[Skipped(SkipReason(reason), _string(label, LABEL_MAX)) for reason, label in fields["skipped"]],
        until=_moment(fields["until"]),
        shortened=[_string(title, TITLE_MAX) for title in fields["shortened"]],
        repeating=fields["repeating"],
    )


def _string(value: object, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"not a string of at most {limit} characters")
    return value


def _moment(value: object) -> datetime:
    moment = datetime.fromisoformat(_string(value, 40))
    if moment.tzinfo is None:
        raise ValueError("a moment without its offset")
    return moment


def _not_calendar(detail: Text | str | None = None) -> InputError:
    """The file is not a calendar; ``detail`` says why when it is known (the parser's own words are English)."""
    if detail is None:
        return InputError(
            _(
                "This file is not a valid iCalendar (.ics) file. Export the calendar again from your calendar app "
                "(Google Calendar: Settings → Import & export → Export) and attach that file: {example}.",
                example=FILE_EXAMPLE,
            )
        )
    return InputError(
        _(
            "This file is not a valid iCalendar (.ics) file ({detail}). Export the calendar again from your "
            "calendar app (Google Calendar: Settings → Import & export → Export) and attach that file: {example}.",
            detail=detail,
            example=FILE_EXAMPLE,
        )
    )


def _parse(data: bytes) -> Calendar:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _not_calendar(_("it is not UTF-8 text")) from None
    try:
        calendar = Calendar.from_ical(text)
    except (ValueError, KeyError, IndexError, TypeError) as error:
        detail = str(error).splitlines()[0][:120] if str(error) else ""
        raise _not_calendar(detail or None) from None
    if not isinstance(calendar, Calendar) or calendar.name != "VCALENDAR":
        raise _not_calendar(_("it does not start with BEGIN:VCALENDAR"))
    try:
        # Google Calendar exports name the calendar's zone in X-WR-TIMEZONE; make the file plain RFC 5545.
        return x_wr_timezone.to_standard(calendar)
    except (ValueError, KeyError) as error:
        unusable = _("its X-WR-TIMEZONE is unusable: {error}", error=str(error)[:120])
        raise _not_calendar(unusable) from None


def _label(event: Component) -> str:
    summary = " ".join((ical.text(event, "SUMMARY") or "").split())
    uid = ical.text(event, "UID")
    return _cut(summary or f"UID {'?' if uid is None else uid}", LABEL_MAX)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _stamp(value: date | datetime) -> str:
    """A RECURRENCE-ID as text: UTC when the time is absolute, so TZID and Z forms of one instant agree."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.strftime("%Y%m%dT%H%M%S")
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def _source_uid(uid: str, recurrence: date | datetime | None) -> str:
    key = uid if recurrence is None else f"{uid}/{_stamp(recurrence)}"
    if len(key) > SOURCE_UID_MAX:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


class _Reader:
    """One pass over a file: classifies every event, counting the upcoming ones against the limit."""

    def __init__(self, zone: ZoneInfo, now: datetime) -> None:
        self.zone = zone
        self.now = now
        self.until = now + HORIZON
        self.drafts: list[TalkDraft] = []
        self.skipped: list[Skipped] = []
        self.shortened: list[str] = []
        self.seen: set[str] = set()
        self.considered = 0
        self.examined = 0
        self.upcoming = 0  # dates in the window, listed or given by a rule, before EXDATEs remove any

    def utc(self, value: date | datetime) -> datetime:
        if isinstance(value, datetime):
            # A floating time is read in the server's zone. fold=0 is RFC 5545's rule: a time skipped by a
            # daylight-saving change uses the offset before it, and a time that happens twice is the first.
            local = value if value.tzinfo is not None else value.replace(tzinfo=self.zone, fold=0)
            return local.astimezone(UTC)
        return datetime.combine(value, time(), self.zone).astimezone(UTC)

    def read(self, calendar: Calendar, events: list[Event]) -> ImportPlan:
        for event in events:
            for name in _TEXT_PROPERTIES:
                value = event.get(name)
                if isinstance(value, list):  # the property appears twice: the first one counts
                    event[name] = value[0]
            _check_dates(event)
            if not (ical.text(event, "UID") or "").strip():
                # No UID breaks RFC 5545, but some exporters do it; a digest of what the event says keeps a
                # second import of the same file from creating it again.
                basis = f"{ical.text(event, 'SUMMARY') or ''}|{_stamp(ical.required_moment(event, 'DTSTART'))}"
                event.pop("UID", None)
                event.add("UID", "no-uid-" + hashlib.sha256(basis.encode()).hexdigest()[:24])
            _check_rules(event)
        self.examine_all(events)
        repeating = {str(event["UID"]) for event in events if "RRULE" in event or "RDATE" in event}
        series = Calendar()
        unique: set[tuple[str, str | None]] = set()
        for event in events:
            uid = str(event["UID"])
            recurrence = ical.moment(event, "RECURRENCE-ID")
            key = (uid, None if recurrence is None else _stamp(recurrence))
            if key in unique:
                self.skip(SkipReason.DUPLICATE, event, self.utc(ical.required_moment(event, "DTSTART")))
                continue
            unique.add(key)
            if uid in repeating:
                series.add_component(event)
            else:
                self.single(event, uid, recurrence)
        if repeating:
            self.expand(series, events, repeating)
        self.drafts.sort(key=lambda draft: (draft.start_at, draft.source_uid))
        return ImportPlan(self.drafts, self.skipped, self.until, self.shortened, repeating=bool(repeating))

    def single(self, event: Event, uid: str, recurrence: date | datetime | None) -> None:
        start = ical.required_moment(event, "DTSTART")
        end = ical.moment(event, "DTEND")
        if end is None:
            length = ical.duration(event, "DURATION")
            end = start if length is None else start + length
        if self.utc(start) > self.until:
            self.skipped.append(Skipped(SkipReason.LATER, _label(event)))
            return
        self.consider(event, start, end, _source_uid(uid, recurrence))

    def expand(self, series: Calendar, events: list[Event], repeating: set[str]) -> None:
        found: set[str] = set()
        try:
            # One query for the whole window: recurring-ical-events' after() asks day by day, and each ask goes
            # through the rule again from its first date. Floating times compare by their wall-clock reading,
            # so ask in the server's zone.
            window = (self.now.astimezone(self.zone), (self.until + timedelta(seconds=1)).astimezone(self.zone))
            occurrences = [
                (self.utc(ical.required_moment(occurrence, "DTSTART")), occurrence)
                for occurrence in recurring_ical_events.of(series).between(*window)
            ]
            occurrences.sort(key=lambda pair: (pair[0], str(pair[1]["UID"])))
            for start_utc, occurrence in occurrences:
                if start_utc > self.until:
                    continue
                start = ical.required_moment(occurrence, "DTSTART")
                uid = str(occurrence["UID"])
                found.add(uid)
                recurrence = ical.moment(occurrence, "RECURRENCE-ID")
                end = ical.required_moment(occurrence, "DTEND")
                self.consider(occurrence, start, end, _source_uid(uid, start if recurrence is None else recurrence))
        except (ValueError, KeyError, TypeError, OverflowError) as error:
            raise _not_expanded(error) from None
        firsts: dict[str, Event] = {}
        for event in events:
            firsts.setdefault(str(event["UID"]), event)
        for uid in sorted(repeating - found):
            # A series with no occurrence in the window ended before now, or begins after it.
            first = firsts[uid]
            later = self.utc(ical.required_moment(first, "DTSTART")) > self.until
            self.skipped.append(Skipped(SkipReason.LATER if later else SkipReason.PAST, _label(first)))

    def examine_all(self, events: list[Event]) -> None:
        """Count, before expanding anything, every date that reading the file goes through (see MAX_EXAMINED).

        Also refuses early a file whose repeating events have far more than MAX_EVENTS dates in the window,
        before recurring-ical-events holds them all in memory.
        """
        by_series: dict[str, int] = {}
        for event in events:
            rdates = _listed(event, "RDATE")
            dates = 1 + len(rdates) + len(_listed(event, "EXDATE"))
            self.examine(event, dates)
            listed = [ical.required_moment(event, "DTSTART"), *(d[0] if isinstance(d, tuple) else d for d in rdates)]
            self.in_window(sum(1 for moment in listed if self.now < self.utc(moment) <= self.until))
            try:
                for rule in {rule.to_ical(): rule for rule in _rules(event)}.values():
                    for upcoming in self.walk_rule(event, rule):
                        self.examine(event)
                        self.in_window(upcoming)
                        dates += 1
            except (ValueError, TypeError, OverflowError) as error:
                raise _not_expanded(error) from None
            if "RECURRENCE-ID" not in event:
                by_series[str(event["UID"])] = by_series.get(str(event["UID"]), 0) + dates
        for event in events:
            recurrence = event.get("RECURRENCE-ID")
            this_and_future = str(getattr(recurrence, "params", {}).get("RANGE", "")).upper() == "THISANDFUTURE"
            if recurrence is not None and ("RRULE" in event or this_and_future):
                # recurring-ical-events goes through the whole series again for each such change of it.
                self.examine(event, by_series.get(str(event["UID"]), 0))

    def walk_rule(self, event: Event, rule: vRecur) -> Iterator[bool]:
        """Goes through the dates a rule gives, from the event's first one to the end of the window, telling
        for each whether it is upcoming.

        The same dates, in the same order, as recurring-ical-events goes through (both use dateutil); only
        the zone is dropped, which at worst moves the window by the hour of a daylight-saving change.
        """
        start = ical.required_moment(event, "DTSTART")
        aware = isinstance(start, datetime) and start.tzinfo is not None
        zone = start.tzinfo if isinstance(start, datetime) and start.tzinfo is not None else self.zone
        first = start.replace(tzinfo=None) if isinstance(start, datetime) else datetime.combine(start, time())
        now = self.now.astimezone(zone).replace(tzinfo=None)
        stop = self.until.astimezone(zone).replace(tzinfo=None)
        parts = vRecur(rule)
        for until in parts.pop("UNTIL", [])[:1]:
            if isinstance(until, datetime):
                until_here = until.astimezone(zone) if until.tzinfo is not None and aware else until
                stop = min(stop, until_here.replace(tzinfo=None))
            elif isinstance(until, date):
                stop = min(stop, datetime.combine(until, time.max))
        if any(int(count) <= 0 for count in parts.get("COUNT", [])):
            parts.pop("COUNT")  # recurring-ical-events ignores a COUNT below 1 as well
        for moment in rrulestr(parts.to_ical().decode(), dtstart=first, cache=False):
            if moment > stop:
                return
            yield moment > now

    def in_window(self, dates: int) -> None:
        self.upcoming += dates
        if self.upcoming > UPCOMING_DATES_MAX:
            self.too_many_events()

    def examine(self, event: Event, dates: int = 1) -> None:
        self.examined += dates
        if self.examined > MAX_EXAMINED:
            start = ical.required_moment(event, "DTSTART")
            raise InputError(
                _(
                    "This file asks me to go through more than {limit} dates, and “{label}” (first date {first}) "
                    "takes it over. I count every event, every date in RDATE and EXDATE, and every date of a "
                    "repeating event from its first one (DTSTART) to 12 months ahead. Give repeating events a recent "
                    "first date (for example this term's) in your calendar app, or export only the period you "
                    "need, then run {example} again; nothing was imported.",
                    limit=Number.of(MAX_EXAMINED),
                    label=_label(event),
                    first=Day.of(start.date() if isinstance(start, datetime) else start),
                    example=FILE_EXAMPLE,
                )
            )

    def skip(self, reason: SkipReason, event: Component, start: datetime) -> None:
        if reason is not SkipReason.PAST and start > self.now:
            self.count()
        self.skipped.append(Skipped(reason, _label(event)))

    def count(self) -> None:
        self.considered += 1
        if self.considered > MAX_EVENTS:
            self.too_many_events()

    def too_many_events(self) -> NoReturn:
        raise InputError(
            _(
                "This file has more than {limit} events in the next 12 months, counting each repetition of a "
                "repeating event. Import at most {limit} at once: export a shorter period (for example one term) "
                "and import each file, e.g. {example}. Nothing was imported.",
                limit=Number.of(MAX_EVENTS),
                example=FILE_EXAMPLE,
            )
        )

    def consider(self, event: Component, start: date | datetime, end: date | datetime, source_uid: str) -> None:
        start_utc = self.utc(start)
        if start_utc <= self.now:
            self.skip(SkipReason.PAST, event, start_utc)
            return
        if source_uid in self.seen:
            self.skip(SkipReason.DUPLICATE, event, start_utc)
            return
        self.seen.add(source_uid)
        if (ical.text(event, "STATUS") or "").upper() == "CANCELLED":
            self.skip(SkipReason.CANCELLED, event, start_utc)
            return
        title = " ".join((ical.text(event, "SUMMARY") or "").split())
        if not title:
            self.skip(SkipReason.NO_TITLE, event, start_utc)
            return
        if not isinstance(start, datetime):
            self.skip(SkipReason.ALL_DAY, event, start_utc)
            return
        minutes = math.ceil((self.utc(end) - start_utc).total_seconds() / 60)
        if minutes <= 0:
            minutes = DEFAULT_DURATION_MIN
        if minutes > DURATION_MAX:
            self.skip(SkipReason.TOO_LONG, event, start_utc)
            return
        self.count()
        location = " ".join((ical.text(event, "LOCATION") or "").split()) or None
        description = (ical.text(event, "DESCRIPTION") or "").strip() or None
        draft = TalkDraft(
            source_uid=source_uid,
            title=_cut(title, TITLE_MAX),
            start_at=start_utc,
            duration_min=minutes,
            location=None if location is None else _cut(location, LOCATION_MAX),
            description=None if description is None else _cut(description, DESCRIPTION_MAX),
        )
        if (draft.title, draft.location, draft.description) != (title, location, description):
            self.shortened.append(draft.title)
        self.drafts.append(draft)


def _check_dates(event: Event) -> None:
    """Strict on dates: a file with a broken one is refused whole rather than half imported."""
    label = _label(event)
    for name, detail in getattr(event, "errors", []):
        if str(name).upper() in _DATE_PROPERTIES:
            raise InputError(
                _(
                    "The event “{label}” has a broken {name} ({detail}). {fix}",
                    label=label,
                    name=str(name)[:40],
                    detail=str(detail)[:100],
                    fix=_FIX,
                )
            )
    if "DTSTART" not in event:
        raise InputError(_("The event “{label}” has no start (DTSTART). {fix}", label=label, fix=_FIX))
    for name in ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
        if isinstance(event.get(name), list):
            raise InputError(_("The event “{label}” has more than one {name}. {fix}", label=label, name=name, fix=_FIX))
    for name, kind in (("DTSTART", date), ("DTEND", date), ("RECURRENCE-ID", date), ("DURATION", timedelta)):
        # icalendar also reads a bare time ("DTSTART:202603" is 20:26:03) or a period here: neither is a start.
        if name in event and not isinstance(ical.value(event, name), kind):
            if kind is timedelta:
                raise InputError(
                    _(
                        "The event “{label}” has a broken {name} (it is not a duration). {fix}",
                        label=label,
                        name=name,
                        fix=_FIX,
                    )
                )
            raise InputError(
                _(
                    "The event “{label}” has a broken {name} (it is not a date or a date-time). {fix}",
                    label=label,
                    name=name,
                    fix=_FIX,
                )
            )
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        tzid = ical.tzid(event, name)
        when = ical.moment(event, name)
        # icalendar reads a TZID it cannot resolve as a floating time: refuse rather than guess the zone.
        if tzid and isinstance(when, datetime) and when.tzinfo is None:
            raise InputError(
                _(
                    "The event “{label}” uses the time zone `{tzid}`, which I do not know. Use a zone name such as "
                    "Europe/Paris in your calendar app (or export with time zone definitions). {fix}",
                    label=label,
                    tzid=_cut(tzid, 100),
                    fix=_FIX,
                )
            )
    start = ical.required_moment(event, "DTSTART")
    end = ical.moment(event, "DTEND")
    length = ical.duration(event, "DURATION")
    if end is not None:
        if isinstance(start, datetime) != isinstance(end, datetime):
            raise InputError(
                _("The event “{label}” mixes a date and a date-time in DTSTART and DTEND. {fix}", label=label, fix=_FIX)
            )
        if _comparable(end) < _comparable(start):
            raise InputError(
                _("The event “{label}” ends (DTEND) before it starts (DTSTART). {fix}", label=label, fix=_FIX)
            )
    elif length is not None and length < timedelta(0):
        raise InputError(_("The event “{label}” has a negative DURATION. {fix}", label=label, fix=_FIX))


def _not_expanded(error: Exception) -> InputError:
    return InputError(_("A repeating event could not be expanded ({detail}). {fix}", detail=str(error)[:120], fix=_FIX))


def _rules(event: Event) -> list[vRecur]:
    found: object = event.get("RRULE")
    rules = found if isinstance(found, list) else [found]
    return [rule for rule in rules if isinstance(rule, vRecur)]


def _listed(event: Event, name: str) -> list[date | tuple[date, object]]:
    """The values of an RDATE or EXDATE property, all of its lines together: dates, date-times or periods."""
    found: object = event.get(name)
    lines = found if isinstance(found, list) else [] if found is None else [found]
    values = [getattr(value, "dt", None) for line in lines for value in getattr(line, "dts", [])]
    return [value for value in values if isinstance(value, date | tuple)]


def _check_rules(event: Event) -> None:
    """Talks repeat at most once a day: refuse a rule that repeats faster, before expanding anything."""
    for rule in _rules(event):
        frequency = str(next(iter(rule.get("FREQ", [])), "")).upper()
        if frequency in _SUB_DAILY:
            raise InputError(
                _(
                    "The repeating event “{label}” repeats {how} (RRULE FREQ={frequency}). I import talks that "
                    "repeat at most once a day: give it a daily, weekly or monthly rule in your calendar app, or make "
                    "each talk an event of its own. {fix}",
                    label=_label(event),
                    how=_SUB_DAILY[frequency],
                    frequency=frequency,
                    fix=_FIX,
                )
            )
        for name in _TIMES_OF_DAY:
            values = set(rule.get(name, []))
            if len(values) > 1:
                listed = sorted(int(value) for value in values)
                shown = ",".join(str(value) for value in listed[:6]) + (",…" if len(listed) > 6 else "")
                raise InputError(
                    _(
                        "The repeating event “{label}” repeats several times a day (RRULE {name}={shown}). I import "
                        "talks that repeat at most once a day: keep one time of day per repeating event in your "
                        "calendar app, or make each talk an event of its own. {fix}",
                        label=_label(event),
                        name=name,
                        shown=shown,
                        fix=_FIX,
                    )
                )


def _comparable(value: date | datetime) -> datetime:
    """Start and end of one event share their kind; floating ones compare as wall-clock readings in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), UTC)


# --- the organizer's summary -----------------------------------------------------------------------------

MESSAGE_MAX = 2000  # Discord's limit for one message
ANNOUNCE_AT_ONCE = 10  # announce:true posts this many at most, so a season does not flood the channel
_MARKDOWN = re.compile(r"([\\*_~|`<>#\[\]])")


def _plain(text: str, limit: int) -> str:
    """A title from the file, shortened and with Discord markdown neutralised."""
    return _MARKDOWN.sub(r"\\\1", _cut(text, limit))


def import_summary(
    plan: ImportPlan,
    created: list[Talk],
    *,
    filename: str,
    language: str,
    default_speaker: str | None = None,
    announced: Text | None = None,
) -> str:
    """What the organizer reads after /talk import, in ``language``: created, skipped and why, what to do next.

    ``default_speaker`` is the speaker every talk got because the organizer named none. Discord takes
    MESSAGE_MAX characters: the length is checked on the rendered text (French runs longer than English), and
    fewer talks and examples are listed ("…and N more") until it fits.
    """
    text = ""
    for shown, examples in ((10, 3), (7, 2), (5, 2), (3, 1), (1, 1), (0, 0)):
        text = "\n".join(_summary(plan, created, filename, default_speaker, announced, shown, examples, language))
        if len(text) <= MESSAGE_MAX:
            return text
    return _cut(text, MESSAGE_MAX)


def _summary(
    plan: ImportPlan,
    created: list[Talk],
    filename: str,
    default_speaker: str | None,
    announced: Text | None,
    shown: int,
    examples: int,
    language: str,
) -> list[str]:
    def say(text: Text) -> None:
        lines.append(render(text, language))

    lines: list[str] = []
    if created:
        say(
            _n(
                "Imported **{count}** talk from `{filename}`:",
                "Imported **{count}** talks from `{filename}`:",
                len(created),
                filename=filename,
            )
        )
        lines += [
            f"• #{talk.id} **{_plain(talk.title, 60)}** — {discord_timestamp(talk.start_at, 'f')}"
            for talk in created[:shown]
        ]
        if len(created) > shown:
            rest = len(created) - shown
            say(
                _n("…and {count} more (see {talks}).", "…and {count} more (see {talks}).", rest, talks=command("talks"))
            )
    else:
        say(_("Nothing was imported from `{filename}`: none of its events makes a new talk.", filename=filename))
    if plan.skipped:
        say(_n("Skipped {count}:", "Skipped {count}:", len(plan.skipped)))
        for reason in SkipReason:
            labels = [skipped.label for skipped in plan.skipped if skipped.reason is reason]
            if not labels:
                continue
            group = render(reason.group(len(labels)), language)
            distinct = list(dict.fromkeys(labels))  # a repeating event's dates share one title
            names = ", ".join(_plain(label, 40) for label in distinct[:examples])
            if not names:
                lines.append(f"• {group}")
                continue
            ellipsis = ", …" if len(distinct) > examples else ""
            say(_("• {group}: {names}", group=group, names=names + ellipsis))
    if plan.shortened:
        say(
            _n(
                "{count} talk had a title, place or abstract too long for Podium; it was shortened and ends in “…”. "
                "Fix it with {edit} if needed.",
                "{count} talks had a title, place or abstract too long for Podium; they were shortened and end in "
                "“…”. Fix them with {edit} if needed.",
                len(plan.shortened),
                edit=command("talk edit"),
            )
        )
    if plan.repeating:
        say(
            _(
                "Repeating events were read up to {until}. Import the same file again later for the next dates: "
                "talks already imported are skipped.",
                until=discord_timestamp(plan.until, "D"),
            )
        )
    if created:
        first = created[0].id
        if default_speaker is not None:
            edit = command("talk edit", talk=first, speaker="...")
            say(_("The speaker is “{speaker}”: set it with {edit}.", speaker=_plain(default_speaker, 100), edit=edit))
        say(
            announced
            or _n(
                "Next step: it is listed in {talks} and open for registration, but not announced in the channel "
                "yet: post it with {announce}.",
                "Next step: they are listed in {talks} and open for registration, but not announced in the channel "
                "yet: post each with {announce}.",
                len(created),
                talks=command("talks"),
                announce=command("talk announce", talk=first),
            )
        )
    elif not plan.skipped:
        say(
            _(
                "Check that you exported the calendar that holds the talks, then try again: {example}.",
                example=FILE_EXAMPLE,
            )
        )
    return lines
