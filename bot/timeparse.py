"""Parsing of the dates, durations, time zones and reminder offsets that organizers type."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import InputError

DATE_EXAMPLE = "2026-03-14 18:30"
OFFSETS_EXAMPLE = "1d,1h,15m"
MAX_OFFSET = timedelta(days=30)
MAX_OFFSETS = 5
_LOCAL_FORMAT = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})$")
_OFFSET = re.compile(r"^(\d+)\s*([dhm])$")
_UNIT_MINUTES = {"d": 24 * 60, "h": 60, "m": 1}


def parse_timezone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name``, or raise InputError with an example."""
    cleaned = name.strip()
    try:
        if not cleaned or cleaned.startswith(("/", ".")) or ".." in cleaned:
            raise ValueError(cleaned)
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"`{name}` is not a time zone I know. Use an IANA name such as `Europe/Paris`, `America/New_York` or `UTC`."
        ) from None


def parse_when(text: str, tz: ZoneInfo, *, field: str = "start") -> datetime:
    """Parse a date-time typed by an organizer into an aware UTC datetime.

    "YYYY-MM-DD HH:MM" is read in ``tz``; ISO 8601 with an offset ("2026-03-14T18:30+01:00" or "...Z")
    is taken as given. A wall time that does not exist in ``tz`` (the hour skipped when clocks go
    forward) is refused rather than guessed; one that happens twice (clocks going back) is the first.
    """
    raw = text.strip()
    match = _LOCAL_FORMAT.match(raw)
    if match:
        year, month, day, hour, minute = (int(part) for part in match.groups())
        try:
            naive = datetime(year, month, day, hour, minute)  # noqa: DTZ001 - localised just below
        except ValueError:
            raise InputError(
                f"`{raw}` is not a real date and time for `{field}`. Use YYYY-MM-DD HH:MM, "
                f"for example `{DATE_EXAMPLE}`."
            ) from None
        local = naive.replace(tzinfo=tz, fold=0)
        as_utc = local.astimezone(UTC)
        if as_utc.astimezone(tz).replace(tzinfo=None) != naive:
            raise InputError(
                f"`{raw}` does not exist in {tz.key}: the clocks skip that hour (daylight saving time). "
                "Pick a time outside the skipped hour, for example one hour later."
            )
        return as_utc
    iso = raw.replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InputError(
            f"I could not read `{raw}` as a date for `{field}`. Use YYYY-MM-DD HH:MM in the server's "
            f"time zone ({tz.key}), for example `{DATE_EXAMPLE}`, or ISO 8601 with an offset such as "
            "`2026-03-14T18:30+01:00`."
        )
    return parsed.astimezone(UTC)


def parse_offsets(text: str) -> tuple[int, ...]:
    """Parse reminder offsets such as "1d,1h,15m" into minutes, largest first, without repeats.

    An empty text means "no reminders".
    """
    raw = text.strip().lower()
    if raw in ("", "none", "off"):
        return ()
    minutes: set[int] = set()
    for part in raw.split(","):
        piece = part.strip()
        match = _OFFSET.match(piece)
        if not match:
            raise InputError(
                f"`{piece or part}` is not a reminder offset. Write numbers with d, h or m separated by "
                f"commas, for example `{OFFSETS_EXAMPLE}` (or `none` for no reminders)."
            )
        value = int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
        if value <= 0 or value > MAX_OFFSET.total_seconds() // 60:
            raise InputError(
                f"Reminder offset `{piece}` must be between 1m and 30d before the talk, "
                f"for example `{OFFSETS_EXAMPLE}`."
            )
        minutes.add(value)
    if len(minutes) > MAX_OFFSETS:
        raise InputError(f"At most {MAX_OFFSETS} reminders per talk, for example `{OFFSETS_EXAMPLE}`.")
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
