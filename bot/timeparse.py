"""Parsing of the dates, durations, time zones and reminder offsets that organizers type.

Everyone may type ISO dates (``2026-12-03 18:00``); French organizers may also write the date day first, as
France does (``03/12/2026 18:00``, ``03/12/2026 18h00``, ``3/12/2026 18h``, ``03/12/2026 à 18h00``). Day-first
dates are refused in English, where ``03/12`` reads as March 12 to half of the readers. The errors quote an
example written the reader's way, a week from now at 18:00, so it can be typed back as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.command_names import option
from bot.errors import InputError
from bot.i18n import DEFAULT_LANGUAGE, Text, _

OFFSETS_EXAMPLE = "1d,1h,15m"
MAX_OFFSET = timedelta(days=30)
MAX_OFFSETS = 5
# Longer than any date a person types (ISO with seconds, fractions and an offset is 32): refused unread, so a
# pasted paragraph is never run through the patterns nor quoted back whole.
MAX_TYPED = 40
SHOWN_MAX = 40  # what is quoted back of a typed value
_LOCAL_FORMAT = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})$")
# 03/12/2026 18:00, 03/12/2026 18h00, 3/12/2026 18h, 03/12/2026 à 18h00 (French: the day comes first).
_DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+à)?\s+(\d{1,2})(?::(\d{2})|h(\d{2})?)$", re.IGNORECASE)
_DAY_FIRST_LANGUAGES = frozenset({"fr"})
_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_FIRST_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
# 18:30, 18h30, 18h (French writes the hour with an h).
_TIME_OF_DAY = re.compile(r"^(\d{1,2})(?::(\d{2})|h(\d{2})?)$", re.IGNORECASE)
_OFFSET = re.compile(r"^(\d+)\s*([dhm])$")
_UNIT_MINUTES = {"d": 24 * 60, "h": 60, "m": 1}
_NO_REMINDERS = ("", "none", "off", "aucun", "aucune")
# How a date-time is written for a reader of each language; others get ISO, which everyone may type.
_WRITTEN = {"fr": "%d/%m/%Y %Hh%M"}
_ISO_WRITTEN = "%Y-%m-%d %H:%M"
_UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class TypedDate(Text):
    """A date-time written as the reader would type it: `2026-12-10 18:00`, « 10/12/2026 18h00 » in French."""

    moment: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    zone: ZoneInfo = _UTC_ZONE

    def render(self, language: str) -> str:
        return self.moment.astimezone(self.zone).strftime(_WRITTEN.get(language, _ISO_WRITTEN))


def typed_date(moment: datetime, zone: ZoneInfo) -> TypedDate:
    return TypedDate(msgid=moment.astimezone(zone).strftime(_ISO_WRITTEN), moment=moment, zone=zone)


def date_example(now: datetime, zone: ZoneInfo) -> TypedDate:
    """A real date to copy: a week from ``now``, at 18:00 in ``zone`` (an hour no clock change skips)."""
    day = (now.astimezone(zone) + timedelta(days=7)).date()
    return typed_date(datetime(day.year, day.month, day.day, 18, 0, tzinfo=zone), zone)


def shown(value: str) -> str:
    """A typed value as quoted back in a code span: bounded, without the backticks that would end the span."""
    cleaned = value.replace("`", "'")
    return cleaned if len(cleaned) <= SHOWN_MAX else cleaned[: SHOWN_MAX - 1] + "…"


def parse_timezone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name``, or raise InputError with an example."""
    cleaned = name.strip()
    try:
        if not cleaned or cleaned.startswith(("/", ".")) or ".." in cleaned or len(cleaned) > MAX_TYPED:
            raise ValueError(cleaned)
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            _(
                "`{value}` is not a time zone I know. Use an IANA name such as `Europe/Paris`, `America/New_York` "
                "or `UTC`.",
                value=shown(name),
            )
        ) from None


def parse_when(
    text: str,
    tz: ZoneInfo,
    *,
    field: str = "start",
    language: str = DEFAULT_LANGUAGE,
    now: datetime | None = None,
) -> datetime:
    """Parse a date-time typed by an organizer into an aware UTC datetime.

    "YYYY-MM-DD HH:MM" is read in ``tz``, and so, for a ``language`` that writes the day first (French), are
    "DD/MM/YYYY HH:MM" and "DD/MM/YYYY HHhMM" (see the module's docstring); ISO 8601 with an offset
    ("2026-03-14T18:30+01:00" or "...Z") is taken as given. A wall time that does not exist in ``tz`` (the
    hour skipped when clocks go forward) is refused rather than guessed; one that happens twice (clocks going
    back) is the first. ``field`` is the option named in errors; their example is a week after ``now``.
    """
    raw = text.strip()
    example = date_example(now or datetime.now(UTC), tz)
    if len(raw) > MAX_TYPED:
        raise InputError(
            _(
                "{field} is {length} characters long, too long for a date. Write the date and time as "
                "YYYY-MM-DD HH:MM, for example `{example}`.",
                field=option(field),
                length=len(raw),
                example=example,
            )
        )
    naive = _local_wall_time(raw, language, field, example)
    if naive is not None:
        local = naive.replace(tzinfo=tz, fold=0)
        as_utc = local.astimezone(UTC)
        if as_utc.astimezone(tz).replace(tzinfo=None) != naive:
            raise InputError(
                _(
                    "`{value}` does not exist in {zone}: the clocks skip that hour (daylight saving time). "
                    "Pick a time outside the skipped hour, for example one hour later.",
                    value=shown(raw),
                    zone=tz.key,
                )
            )
        return as_utc
    iso = raw.replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InputError(
            _(
                "I could not read `{value}` as a date for {field}. Use YYYY-MM-DD HH:MM in the server's time zone "
                "({zone}), for example `{example}`, or ISO 8601 with an offset such as `{iso}`.",
                value=shown(raw),
                field=option(field),
                zone=tz.key,
                example=example,
                iso=example.moment.isoformat(timespec="minutes"),
            )
        )
    return parsed.astimezone(UTC)


def parse_day_of(
    text: str,
    tz: ZoneInfo,
    *,
    field: str,
    language: str = DEFAULT_LANGUAGE,
    now: datetime | None = None,
) -> date:
    """A day typed for a range (a series' ``until``, ``from_date``): a date alone (``2026-12-15``, French
    ``15/12/2026``) or anything parse_when reads, of which the local day in ``tz`` counts."""
    raw = text.strip()
    match = _ISO_DAY.match(raw)
    parts: tuple[int, int, int] | None = None
    if match:
        parts = (int(match[1]), int(match[2]), int(match[3]))
    elif language in _DAY_FIRST_LANGUAGES and (match := _DAY_FIRST_DAY.match(raw)):
        parts = (int(match[3]), int(match[2]), int(match[1]))
    if parts is None:
        return parse_when(raw, tz, field=field, language=language, now=now).astimezone(tz).date()
    try:
        return date(*parts)
    except ValueError:
        example = date_example(now or datetime.now(UTC), tz)
        raise InputError(
            _(
                "`{value}` is not a real date for {field}. Use YYYY-MM-DD, for example `{example}`.",
                value=shown(raw),
                field=option(field),
                example=example.moment.astimezone(tz).date().isoformat(),
            )
        ) from None


def parse_time_of_day(text: str, *, field: str) -> time:
    """A wall-clock time such as ``18:30``, ``18h30`` or ``18h``."""
    raw = text.strip()
    match = _TIME_OF_DAY.match(raw)
    try:
        if match is None:
            raise ValueError(raw)
        return time(int(match[1]), int(match[2] or match[3] or 0))
    except ValueError:
        raise InputError(
            _(
                "I could not read `{value}` as a time of day for {field}. Write it as HH:MM, for example `18:30`.",
                value=shown(raw),
                field=option(field),
            )
        ) from None


def wall_time(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """``day`` at ``at`` in ``tz``, as an aware UTC datetime; None when the clocks skip that time that day (the
    first of two is taken when they go back, as parse_when does)."""
    naive = datetime.combine(day, at)
    moment = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return moment if moment.astimezone(tz).replace(tzinfo=None) == naive else None


def _local_wall_time(raw: str, language: str, field: str, example: TypedDate) -> datetime | None:
    """The wall time of a date typed without an offset, None when ``raw`` is not written that way."""
    match = _LOCAL_FORMAT.match(raw)
    if match:
        year, month, day, hour, minute = (int(part) for part in match.groups())
    else:
        match = _DAY_FIRST.match(raw) if language in _DAY_FIRST_LANGUAGES else None
        if match is None:
            return None
        day, month, year, hour = (int(part) for part in match.groups()[:4])
        minute = int(match[5] or match[6] or 0)
    try:
        return datetime(year, month, day, hour, minute)  # noqa: DTZ001 - localised by the caller
    except ValueError:
        raise InputError(
            _(
                "`{value}` is not a real date and time for {field}. Use YYYY-MM-DD HH:MM, for example `{example}`.",
                value=shown(raw),
                field=option(field),
                example=example,
            )
        ) from None


def parse_offsets(text: str) -> tuple[int, ...]:
    """Parse reminder offsets such as "1d,1h,15m" into minutes, largest first, without repeats.

    An empty text means "no reminders", and so do "none" and "off" (« aucun » in French).
    """
    raw = text.strip().lower()
    if raw in _NO_REMINDERS:
        return ()
    minutes: set[int] = set()
    for part in raw.split(","):
        piece = part.strip()
        match = _OFFSET.match(piece)
        if not match:
            raise InputError(
                _(
                    "`{value}` is not a reminder offset. Write numbers with d, h or m separated by commas, for "
                    "example `{example}` (or `none` for no reminders).",
                    value=shown(piece or part),
                    example=OFFSETS_EXAMPLE,
                )
            )
        value = int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
        if value <= 0 or value > MAX_OFFSET.total_seconds() // 60:
            raise InputError(
                _(
                    "Reminder offset `{value}` must be between 1m and 30d before the talk, for example `{example}`.",
                    value=shown(piece),
                    example=OFFSETS_EXAMPLE,
                )
            )
        minutes.add(value)
        if len(minutes) > MAX_OFFSETS:
            raise InputError(
                _(
                    "At most {limit} reminders per talk, for example `{example}`.",
                    limit=MAX_OFFSETS,
                    example=OFFSETS_EXAMPLE,
                )
            )
    return tuple(sorted(minutes, reverse=True))


def format_offsets(minutes: tuple[int, ...]) -> str:
    """The canonical text for offsets, e.g. (1440, 60) -> "1d,1h"; () -> "none"."""
    if not minutes:
        return "none"
    parts = []
    for value in minutes:
        if value % (24 * 60) == 0:
            parts.append(f"{value // (24 * 60)}d")
        elif value % 60 == 0:
            parts.append(f"{value // 60}h")
        else:
            parts.append(f"{value}m")
    return ",".join(parts)


def format_local(moment: datetime, tz: ZoneInfo) -> str:
    """A plain-text local time, for places where Discord timestamps do not render (files, autocomplete)."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def discord_timestamp(moment: datetime, style: str = "F") -> str:
    """Discord's <t:unix:style> markup, shown to each member in their own time zone."""
    return f"<t:{int(moment.timestamp())}:{style}>"
