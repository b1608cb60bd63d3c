from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.errors import InputError
from bot.timeparse import discord_timestamp, format_offsets, parse_offsets, parse_timezone, parse_when

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-14 18:30", datetime(2026, 3, 14, 17, 30, tzinfo=UTC)),  # winter: UTC+1
        ("2026-07-14 18:30", datetime(2026, 7, 14, 16, 30, tzinfo=UTC)),  # summer: UTC+2
        ("2026-03-29 01:59", datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),  # just before clocks go forward
        ("2026-03-29 03:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),  # first minute after
        ("2026-10-25 01:30", datetime(2026, 10, 24, 23, 30, tzinfo=UTC)),
        ("2026-10-25 02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # happens twice: the first one
        ("2026-10-25 03:30", datetime(2026, 10, 25, 2, 30, tzinfo=UTC)),
        ("2026-3-4 9:05", datetime(2026, 3, 4, 8, 5, tzinfo=UTC)),
        ("2026-03-14T18:30", datetime(2026, 3, 14, 17, 30, tzinfo=UTC)),
        ("  2026-03-14 18:30  ", datetime(2026, 3, 14, 17, 30, tzinfo=UTC)),
        ("2026-03-14T18:30+05:30", datetime(2026, 3, 14, 13, 0, tzinfo=UTC)),
        ("2026-03-14T18:30Z", datetime(2026, 3, 14, 18, 30, tzinfo=UTC)),
        ("2026-03-14T18:30:00-04:00", datetime(2026, 3, 14, 22, 30, tzinfo=UTC)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text, PARIS) == expected


def test_parse_when_in_other_zone() -> None:
    assert parse_when("2026-03-14 18:30", ZoneInfo("America/New_York")) == datetime(2026, 3, 14, 22, 30, tzinfo=UTC)


def test_skipped_hour_is_refused_not_guessed() -> None:
    with pytest.raises(InputError, match="does not exist in Europe/Paris"):
        parse_when("2026-03-29 02:30", PARIS)


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",
        "2026-13-01 10:00",
        "2026-02-30 10:00",
        "2026-03-14 25:00",
        "14/03/2026 18:30",
        "",
        "2026-03-14",
        "2026-03-14 18:30 +01:00 extra",
    ],
)
def test_malformed_dates_explain_the_format(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_when(text, PARIS, now=datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    message = str(info.value)
    assert "YYYY-MM-DD HH:MM" in message
    assert "`2026-03-14 18:00`" in message  # a week after now, at 18:00


def test_error_names_the_field() -> None:
    with pytest.raises(InputError, match="announce_at"):
        parse_when("soon", PARIS, field="announce_at")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d,1h", (1440, 60)),
        ("15m, 1d ,1h", (1440, 60, 15)),
        ("60m,1h", (60,)),
        ("2m", (2,)),
        ("30d", (43200,)),
        ("", ()),
        ("none", ()),
        ("1D,2H", (1440, 120)),
    ],
)
def test_parse_offsets(text: str, expected: tuple[int, ...]) -> None:
    assert parse_offsets(text) == expected


@pytest.mark.parametrize("text", ["1w", "1 day", "-1h", "0m", "31d", "1h,,2h", "h", "1.5h", "1d,2d,3d,4d,5d,6d"])
def test_bad_offsets(text: str) -> None:
    with pytest.raises(InputError):
        parse_offsets(text)


def test_offsets_round_trip() -> None:
    for text in ("1d,1h,15m", "2h,90m", "none"):
        assert format_offsets(parse_offsets(text)) == (text if text != "2h,90m" else "2h,90m")
    assert format_offsets((90,)) == "90m"


def test_timezones() -> None:
    assert parse_timezone(" Europe/Paris ").key == "Europe/Paris"
    for bad in ("Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "Europe/../Paris"):
        with pytest.raises(InputError, match="IANA"):
            parse_timezone(bad)


def test_discord_timestamp() -> None:
    moment = datetime(2026, 3, 14, 17, 30, tzinfo=UTC)
    assert discord_timestamp(moment) == f"<t:{int(moment.timestamp())}:F>"
    assert discord_timestamp(moment, "R").endswith(":R>")
