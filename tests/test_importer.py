"""The .ics import on hand-made calendars: mapping, repetition, time zones, skips, limits and malformed files;
then TalkService.import_talks on a real temporary SQLite."""

from __future__ import annotations

import re
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiosqlite
import asyncpg
import pytest

from bot import import_worker
from bot.database import Database
from bot.errors import InputError, StateError
from bot.importer import (
    DEFAULT_SPEAKER,
    MAX_BYTES,
    MAX_EVENTS,
    MAX_EXAMINED,
    MESSAGE_MAX,
    ImportPlan,
    SkipReason,
    TalkDraft,
    check_upload,
    import_summary,
    plan_calendar,
    read_calendar,
)
from bot.models import Talk, TalkStatus
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the `clock` fixture's instant
GUILD = 111
MB = 1024 * 1024
ORGANIZER = 1


def vevent(uid: str | None = "talk-1@example.org", summary: str | None = "Drug discovery", *lines: str) -> str:
    """A VEVENT; ``lines`` are its date lines and anything else (DTSTART defaults to 2026-03-10 17:00 UTC)."""
    body = ["BEGIN:VEVENT", "DTSTAMP:20260101T000000Z"]
    if uid is not None:
        body.append(f"UID:{uid}")
    if summary is not None:
        body.append(f"SUMMARY:{summary}")
    if not any(line.startswith("DTSTART") for line in lines):
        body.append("DTSTART:20260310T170000Z")
    body += [*lines, "END:VEVENT"]
    return "\r\n".join(body)


def ics(*events: str, header: tuple[str, ...] = ()) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Tests//Import//EN", *header, *events, "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def read(data: bytes, zone: ZoneInfo = PARIS, now: datetime = NOW) -> ImportPlan:
    return plan_calendar(data, zone=zone, now=now)


def reasons(plan: ImportPlan) -> list[tuple[SkipReason, str]]:
    return [(skipped.reason, skipped.label) for skipped in plan.skipped]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- one event ------------------------------------------------------------------------------------------


def test_single_event_maps_its_fields() -> None:
    plan = read(
        ics(
            vevent(
                "abc@example.org",
                "CRISPR in the clinic",
                "DTSTART;TZID=Europe/Paris:20260314T183000",
                "DTEND;TZID=Europe/Paris:20260314T200000",
                "LOCATION:Amphi A\\, building 2",
                "DESCRIPTION:Gene editing\\nfrom bench to bedside.",
            )
        )
    )
    assert plan.skipped == []
    assert plan.drafts == [
        TalkDraft(
            source_uid="abc@example.org",
            title="CRISPR in the clinic",
            start_at=utc(2026, 3, 14, 17, 30),
            duration_min=90,
            location="Amphi A, building 2",
            description="Gene editing\nfrom bench to bedside.",
        )
    ]
    assert not plan.repeating


def test_duration_from_duration_property_default_and_rounding() -> None:
    plan = read(
        ics(
            vevent("d1", "With DURATION", "DTSTART:20260310T170000Z", "DURATION:PT1H15M"),
            vevent("d2", "No end", "DTSTART:20260311T170000Z"),
            vevent("d3", "Ends at start", "DTSTART:20260312T170000Z", "DTEND:20260312T170000Z"),
            vevent("d4", "Seconds", "DTSTART:20260313T170000Z", "DTEND:20260313T171030Z"),
            vevent("d5", "A whole day", "DTSTART:20260314T080000Z", "DURATION:PT24H"),
        )
    )
    assert [(d.source_uid, d.duration_min) for d in plan.drafts] == [
        ("d1", 75),
        ("d2", 60),
        ("d3", 60),
        ("d4", 11),
        ("d5", 24 * 60),
    ]


def test_too_long_texts_are_shortened_with_an_ellipsis() -> None:
    plan = read(ics(vevent("long", "T" * 150, f"DESCRIPTION:{'d' * 2500}", f"LOCATION:{'l' * 250}")))
    [draft] = plan.drafts
    assert len(draft.title) == 100 and draft.title.endswith("…")
    assert draft.description is not None and len(draft.description) == 2000 and draft.description.endswith("…")
    assert draft.location is not None and len(draft.location) == 200
    assert plan.shortened == [draft.title]


def test_a_repeated_text_property_keeps_the_first() -> None:
    [draft] = read(
        ics(vevent("twice", "First title", "SUMMARY:Second title", "LOCATION:Room 1", "LOCATION:Room 2"))
    ).drafts
    assert (draft.title, draft.location) == ("First title", "Room 1")


def test_whitespace_in_titles_is_folded() -> None:
    [draft] = read(ics(vevent("w", "  Drug\\n  discovery  "))).drafts
    assert draft.title == "Drug discovery"


# --- time zones -----------------------------------------------------------------------------------------


def test_utc_tzid_and_floating_times_across_the_paris_dst_change() -> None:
    """Clocks go forward in Paris on 2026-03-29: 18:00 local is 17:00 UTC before and 16:00 UTC after."""
    plan = read(
        ics(
            vevent("utc", "UTC", "DTSTART:20260320T170000Z"),
            vevent("tz-before", "TZID before", "DTSTART;TZID=Europe/Paris:20260320T180000"),
            vevent("tz-after", "TZID after", "DTSTART;TZID=Europe/Paris:20260403T180000"),
            vevent("float-before", "Floating before", "DTSTART:20260320T180000"),
            vevent("float-after", "Floating after", "DTSTART:20260403T180000"),
            vevent("ny", "New York", "DTSTART;TZID=America/New_York:20260320T120000"),
        )
    )
    starts = {d.source_uid: d.start_at for d in plan.drafts}
    assert starts == {
        "utc": utc(2026, 3, 20, 17),
        "tz-before": utc(2026, 3, 20, 17),
        "tz-after": utc(2026, 4, 3, 16),
        "float-before": utc(2026, 3, 20, 17),
        "float-after": utc(2026, 4, 3, 16),
        "ny": utc(2026, 3, 20, 16),  # New York is already on summer time (since 8 March)
    }
    assert all(start.tzinfo is UTC for start in starts.values())


def test_floating_times_follow_the_server_zone() -> None:
    [draft] = read(ics(vevent("f", "Floating", "DTSTART:20260320T180000")), zone=ZoneInfo("America/New_York")).drafts
    assert draft.start_at == utc(2026, 3, 20, 22)


def test_floating_times_follow_x_wr_timezone_when_the_file_names_one() -> None:
    data = ics(vevent("f", "Floating", "DTSTART:20260320T180000"), header=("X-WR-TIMEZONE:America/New_York",))
    [draft] = read(data).drafts
    assert draft.start_at == utc(2026, 3, 20, 22)


def test_duration_across_the_dst_change_is_real_time() -> None:
    """01:00 to 04:00 local on the night clocks go forward lasts two hours."""
    [draft] = read(
        ics(
            vevent(
                "night",
                "Night lecture",
                "DTSTART;TZID=Europe/Paris:20260329T010000",
                "DTEND;TZID=Europe/Paris:20260329T040000",
            )
        )
    ).drafts
    assert draft.start_at == utc(2026, 3, 29, 0)
    assert draft.duration_min == 120


def test_a_time_skipped_by_dst_uses_the_offset_before_the_change() -> None:
    """RFC 5545 3.3.5: 02:30 does not exist in Paris on 2026-03-29; it is read with +01:00."""
    [draft] = read(ics(vevent("gap", "Gap", "DTSTART:20260329T023000"))).drafts
    assert draft.start_at == utc(2026, 3, 29, 1, 30)


def test_custom_vtimezone_is_used() -> None:
    vtimezone = "\r\n".join(
        [
            "BEGIN:VTIMEZONE",
            "TZID:Campus Time",
            "BEGIN:STANDARD",
            "DTSTART:19700101T000000",
            "TZOFFSETFROM:+0300",
            "TZOFFSETTO:+0300",
            "END:STANDARD",
            "END:VTIMEZONE",
        ]
    )
    [draft] = read(ics(vtimezone, vevent("c", "Campus", "DTSTART;TZID=Campus Time:20260320T180000"))).drafts
    assert draft.start_at == utc(2026, 3, 20, 15)


# --- repetition -----------------------------------------------------------------------------------------


def test_weekly_rrule_with_exdate_and_a_moved_occurrence_across_dst() -> None:
    plan = read(
        ics(
            vevent(
                "seminar@example.org",
                "Weekly seminar",
                "DTSTART;TZID=Europe/Paris:20260310T180000",
                "DTEND;TZID=Europe/Paris:20260310T193000",
                "RRULE:FREQ=WEEKLY;COUNT=6",
                "EXDATE;TZID=Europe/Paris:20260324T180000",
            ),
            vevent(
                "seminar@example.org",
                "Weekly seminar (moved)",
                "RECURRENCE-ID;TZID=Europe/Paris:20260331T180000",
                "DTSTART;TZID=Europe/Paris:20260401T190000",
                "DURATION:PT2H",
            ),
        )
    )
    assert plan.repeating
    assert plan.skipped == []
    assert [(d.source_uid, d.title, d.start_at, d.duration_min) for d in plan.drafts] == [
        ("seminar@example.org/20260310T170000Z", "Weekly seminar", utc(2026, 3, 10, 17), 90),
        ("seminar@example.org/20260317T170000Z", "Weekly seminar", utc(2026, 3, 17, 17), 90),
        # 24 March is excluded; after 29 March 18:00 in Paris is 16:00 UTC
        ("seminar@example.org/20260331T160000Z", "Weekly seminar (moved)", utc(2026, 4, 1, 17), 120),
        ("seminar@example.org/20260407T160000Z", "Weekly seminar", utc(2026, 4, 7, 16), 90),
        ("seminar@example.org/20260414T160000Z", "Weekly seminar", utc(2026, 4, 14, 16), 90),
    ]


def test_repetition_stops_after_twelve_months() -> None:
    plan = read(ics(vevent("forever", "Monthly colloquium", "DTSTART:20260310T170000Z", "RRULE:FREQ=MONTHLY")))
    assert [d.start_at.month for d in plan.drafts] == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2]
    assert plan.until == NOW + timedelta(days=365)


def test_past_occurrences_of_a_series_are_not_imported() -> None:
    plan = read(
        ics(vevent("s", "Seminar", "DTSTART:20260201T170000Z", "RRULE:FREQ=WEEKLY;COUNT=6")),
    )
    # 1, 8, 15, 22 Feb are over before 1 March; 1 March 17:00 UTC and 8 March remain
    assert [d.start_at for d in plan.drafts] == [utc(2026, 3, 1, 17), utc(2026, 3, 8, 17)]


def test_series_entirely_past_or_later_are_skipped_with_their_reason() -> None:
    plan = read(
        ics(
            vevent("old", "Old series", "DTSTART:20250101T170000Z", "RRULE:FREQ=WEEKLY;COUNT=3"),
            vevent("new", "Next year's series", "DTSTART:20270601T170000Z", "RRULE:FREQ=WEEKLY;COUNT=3"),
        )
    )
    assert plan.drafts == []
    assert sorted(reasons(plan)) == sorted([(SkipReason.PAST, "Old series"), (SkipReason.LATER, "Next year's series")])


def test_floating_series_across_dst() -> None:
    plan = read(ics(vevent("fs", "Floating weekly", "DTSTART:20260324T180000", "RRULE:FREQ=WEEKLY;COUNT=2")))
    assert [(d.source_uid, d.start_at) for d in plan.drafts] == [
        ("fs/20260324T180000", utc(2026, 3, 24, 17)),
        ("fs/20260331T180000", utc(2026, 3, 31, 16)),
    ]


# --- skips ------------------------------------------------------------------------------------------------


def test_past_events_and_one_in_progress_are_skipped() -> None:
    plan = read(
        ics(
            vevent("past", "Last year", "DTSTART:20250310T170000Z"),
            vevent("running", "Running now", "DTSTART:20260301T110000Z", "DTEND:20260301T130000Z"),
            vevent("next", "Next week", "DTSTART:20260308T170000Z"),
        )
    )
    assert [d.source_uid for d in plan.drafts] == ["next"]
    assert reasons(plan) == [(SkipReason.PAST, "Last year"), (SkipReason.PAST, "Running now")]


def test_duplicates_in_the_file_are_created_once() -> None:
    plan = read(
        ics(
            vevent("same@x", "First copy", "DTSTART:20260310T170000Z"),
            vevent("same@x", "Second copy", "DTSTART:20260311T170000Z"),
            vevent("other@x", "Other", "DTSTART:20260310T170000Z"),
        )
    )
    assert [(d.source_uid, d.title) for d in plan.drafts] == [("other@x", "Other"), ("same@x", "First copy")]
    assert reasons(plan) == [(SkipReason.DUPLICATE, "Second copy")]


def test_a_repeating_event_listed_twice_is_expanded_once() -> None:
    series = vevent("s@x", "Seminar", "DTSTART:20260310T170000Z", "RRULE:FREQ=WEEKLY;COUNT=3")
    plan = read(ics(series, series))
    assert [d.source_uid for d in plan.drafts] == [
        "s@x/20260310T170000Z",
        "s@x/20260317T170000Z",
        "s@x/20260324T170000Z",
    ]
    assert reasons(plan) == [(SkipReason.DUPLICATE, "Seminar")]


def test_all_day_events_are_skipped() -> None:
    plan = read(
        ics(
            vevent("holiday", "Spring break", "DTSTART;VALUE=DATE:20260406", "DTEND;VALUE=DATE:20260411"),
            vevent("day", "Open day", "DTSTART;VALUE=DATE:20260320"),
            vevent("talk", "A talk"),
        )
    )
    assert [d.source_uid for d in plan.drafts] == ["talk"]
    assert sorted(reasons(plan)) == [(SkipReason.ALL_DAY, "Open day"), (SkipReason.ALL_DAY, "Spring break")]


def test_missing_or_blank_summary_is_skipped() -> None:
    plan = read(ics(vevent("nosummary@x", None), vevent("blank@x", "   "), vevent("ok@x", "Fine")))
    assert [d.source_uid for d in plan.drafts] == ["ok@x"]
    assert reasons(plan) == [(SkipReason.NO_TITLE, "UID nosummary@x"), (SkipReason.NO_TITLE, "UID blank@x")]


def test_longer_than_a_day_cancelled_and_later_events_are_skipped() -> None:
    plan = read(
        ics(
            vevent("long", "Summer school", "DTSTART:20260310T080000Z", "DTEND:20260312T170000Z"),
            vevent("cancelled", "Called off", "STATUS:CANCELLED"),
            vevent("later", "In two years", "DTSTART:20280310T170000Z"),
        )
    )
    assert plan.drafts == []
    assert reasons(plan) == [
        (SkipReason.TOO_LONG, "Summer school"),
        (SkipReason.CANCELLED, "Called off"),
        (SkipReason.LATER, "In two years"),
    ]


def test_events_without_uid_get_a_stable_key() -> None:
    data = ics(vevent(None, "No UID", "DTSTART:20260310T170000Z"))
    first, second = read(data).drafts, read(data).drafts
    assert first[0].source_uid.startswith("no-uid-")
    assert first[0].source_uid == second[0].source_uid


# --- limits and malformed files ----------------------------------------------------------------------------


def test_500_events_are_fine_and_501_are_refused() -> None:
    events = [
        vevent(f"e{i}@x", f"Talk {i}", f"DTSTART:{(NOW + timedelta(hours=i + 1)):%Y%m%dT%H%M%SZ}") for i in range(501)
    ]
    assert len(read(ics(*events[:MAX_EVENTS])).drafts) == MAX_EVENTS
    with pytest.raises(InputError, match="more than 500 events"):
        read(ics(*events))


def test_repetitions_count_against_the_limit() -> None:
    def two_daily_series(second_count: int) -> bytes:
        return ics(
            vevent("morning", "Morning talk", "DTSTART:20260302T080000Z", "RRULE:FREQ=DAILY;COUNT=250"),
            vevent("evening", "Evening talk", "DTSTART:20260302T170000Z", f"RRULE:FREQ=DAILY;COUNT={second_count}"),
        )

    assert len(read(two_daily_series(250)).drafts) == MAX_EVENTS
    with pytest.raises(InputError, match="more than 500 events"):
        read(two_daily_series(251))


def test_past_events_do_not_count_against_the_limit() -> None:
    past = [
        vevent(f"p{i}", f"Old {i}", f"DTSTART:2025{i % 12 + 1:02d}{i % 28 + 1:02d}T{i % 24:02d}0000Z")
        for i in range(600)
    ]
    plan = read(ics(*past, vevent("new", "New")))
    assert [d.source_uid for d in plan.drafts] == ["new"]
    assert len(plan.skipped) == 600


def test_files_over_one_megabyte_are_refused() -> None:
    with pytest.raises(InputError, match="1 MB"):
        check_upload("season.ics", "text/calendar", MAX_BYTES + 1)
    big = ics(
        vevent("big", "Big", f"DESCRIPTION:{'x' * 70}"),
        *[vevent(f"pad{i}", "Pad", f"COMMENT:{'y' * 900}") for i in range(1200)],
    )
    assert len(big) > MAX_BYTES
    with pytest.raises(InputError, match="1 MB"):
        read(big)


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("season.ics", "text/calendar; charset=utf-8"),
        ("SEASON.ICS", None),
        ("season.ics", "application/octet-stream"),
        ("export", "text/calendar"),
    ],
)
def test_calendar_uploads_are_accepted_by_name_or_type(filename: str, content_type: str | None) -> None:
    check_upload(filename, content_type, 1000)


@pytest.mark.parametrize(
    ("filename", "content_type", "size", "fragment"),
    [
        ("photo.png", "image/png", 1000, "not an iCalendar"),
        ("notes.txt", "text/plain", 1000, "not an iCalendar"),
        ("season.ics", "text/calendar", 0, "empty"),
    ],
)
def test_other_uploads_are_refused(filename: str, content_type: str, size: int, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment) as caught:
        check_upload(filename, content_type, size)
    assert "/talk import" in str(caught.value) or "Export" in str(caught.value)


BROKEN = "BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:Broken\r\n{}\r\nEND:VEVENT"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"hello world", "not a valid iCalendar"),
        (b"<html><body>Not found</body></html>", "not a valid iCalendar"),
        (b"", "not a valid iCalendar"),
        ("caf\u00e9".encode("latin-1"), "not UTF-8"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\n", "not a valid iCalendar"),
        (vevent().encode(), "BEGIN:VCALENDAR"),
        (ics(), "no events"),
        (ics(BROKEN.format("DTSTART:2026-03-10 17:00")), "broken DTSTART"),
        (ics(BROKEN.format("DTSTART:20260310T170000Z\r\nDTEND:soon")), "broken DTEND"),
        (ics(BROKEN.format("DTSTART:20260310T170000Z\r\nRRULE:FREQ=SOMETIMES")), "broken RRULE"),
        (ics(BROKEN.format("DTSTART:20260310T170000Z\r\nDURATION:an hour")), "broken DURATION"),
        (ics(BROKEN.format("LOCATION:Nowhere")), "no start"),
        (ics(BROKEN.format("DTSTART;TZID=Mars/Olympus:20260310T170000")), "Mars/Olympus"),
        (ics(BROKEN.format("DTSTART:20260310T170000Z\r\nDTEND:20260310T160000Z")), "ends"),
        (ics(BROKEN.format("DTSTART;VALUE=DATE:20260310\r\nDTEND:20260310T160000Z")), "mixes a date"),
        (ics(BROKEN.format("DTSTART:20260310T170000Z\r\nDTSTART:20260311T170000Z")), "more than one DTSTART"),
        (ics(BROKEN.format("DTSTART:202603")), "broken DTSTART"),
        (ics(BROKEN.format("DTSTART:20260310T170000Z\r\nDTEND:90260310T170000Z\r\nRRULE:FREQ=DAILY")), "expanded"),
    ],
)
def test_malformed_files_are_refused_with_what_to_do(data: bytes, fragment: str) -> None:
    with pytest.raises(InputError, match=re.escape(fragment)) as caught:
        read(data)
    assert "/talk import file:" in str(caught.value)


def test_one_broken_event_refuses_the_whole_file() -> None:
    with pytest.raises(InputError, match="Broken"):
        read(ics(vevent("good", "Good"), BROKEN.format("DTSTART:2026-03-10")))


# --- costly repetitions ---------------------------------------------------------------------------------
# A repeating event is a loop the file asks the reader to run, from its first date (DTSTART) on. Each attack
# below is refused (or read) with its memory measured: before these bounds, a 250-byte FREQ=SECONDLY file
# starting a month back took 12 s and 205 MB, and the cost grew with the age of its DTSTART.


def measured(data: bytes) -> tuple[ImportPlan | InputError, float]:
    """What reading the file gives (a plan, or the refusal), and the peak of Python memory it took, in MB."""
    tracemalloc.start()
    try:
        try:
            outcome: ImportPlan | InputError = read(data)
        except InputError as refusal:
            outcome = refusal
        return outcome, tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()


def refusal_of(data: bytes, *, peak_mb: float) -> str:
    outcome, peak = measured(data)
    assert isinstance(outcome, InputError), outcome
    assert peak < peak_mb, f"{peak:.1f} MB"
    assert "/talk import file:" in str(outcome) and "nothing was imported" in str(outcome).lower()
    return str(outcome)


def listed_days(count: int, first: date = date(1900, 1, 1)) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("FREQ=SECONDLY", "repeats every second (RRULE FREQ=SECONDLY)"),
        ("FREQ=MINUTELY;INTERVAL=15", "repeats every minute (RRULE FREQ=MINUTELY)"),
        ("FREQ=HOURLY;COUNT=3", "repeats every hour (RRULE FREQ=HOURLY)"),
        (
            "FREQ=DAILY;BYSECOND=" + ",".join(map(str, range(60))),
            "repeats several times a day (RRULE BYSECOND=0,1,2,3,4,5,…)",
        ),
        ("FREQ=DAILY;BYMINUTE=0,30", "repeats several times a day (RRULE BYMINUTE=0,30)"),
        (
            "FREQ=DAILY;INTERVAL=1;BYHOUR=" + ",".join(map(str, range(24))),
            "repeats several times a day (RRULE BYHOUR=0,1,2,3,4,5,…)",
        ),
        ("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9,14", "repeats several times a day (RRULE BYHOUR=9,14)"),
    ],
)
def test_rules_that_repeat_more_than_once_a_day_are_refused_before_expanding(rule: str, fragment: str) -> None:
    # The reported file: starting a month before now, so the old reader went through 2.6 million seconds.
    data = ics(vevent("bomb@x", "Bomb", "DTSTART:20260201T120000Z", f"RRULE:{rule}"))
    assert len(data) < 600
    text = refusal_of(data, peak_mb=2)
    assert f"The repeating event “Bomb” {fragment}" in text
    assert "at most once a day" in text


def test_one_time_of_day_in_a_daily_rule_is_fine() -> None:
    plan = read(ics(vevent("d", "Journal club", "DTSTART:20260302T183000Z", "RRULE:FREQ=DAILY;BYHOUR=18;BYMINUTE=30")))
    assert len(plan.drafts) == 364  # 2 March 2026 to 28 February 2027
    assert {(d.start_at.hour, d.start_at.minute) for d in plan.drafts} == {(18, 30)}


@pytest.mark.parametrize(
    ("events", "peak_mb"),
    [
        # a daily rule since the 18th century, with or without a huge COUNT: 82,000 dates before today
        ([vevent("old", "Old", "DTSTART:18000101T120000Z", "RRULE:FREQ=DAILY")], 2),
        ([vevent("old", "Old", "DTSTART:18000101T120000Z", "RRULE:FREQ=DAILY;COUNT=100000000")], 2),
        ([vevent("old", "Old", "DTSTART:00010101T120000Z", "RRULE:FREQ=WEEKLY")], 2),
        # 200 weekly series since 2000: 274,000 dates
        ([vevent(f"w{i}", f"Weekly {i}", "DTSTART:20000103T120000Z", "RRULE:FREQ=WEEKLY") for i in range(200)], 4),
        # 51,000 RDATEs (about 460 KB), or 51,000 EXDATEs (about 870 KB): parsing the file is most of the memory
        (
            [
                vevent(
                    "r",
                    "Listed",
                    "DTSTART;VALUE=DATE:20260310",
                    "RDATE;VALUE=DATE:" + ",".join(f"{d:%Y%m%d}" for d in listed_days(51_000)),
                )
            ],
            64,
        ),
        (
            [
                vevent(
                    "x",
                    "Excluded",
                    "DTSTART:20260310T120000Z",
                    "RRULE:FREQ=WEEKLY",
                    "EXDATE:" + ",".join(f"{d:%Y%m%d}T120000Z" for d in listed_days(51_000)),
                )
            ],
            64,
        ),
        # a daily series since 1990 (13,000 dates) with changes of it that repeat too: recurring-ical-events
        # goes through the series again for each one
        (
            [
                vevent("s", "Series", "DTSTART:19900101T120000Z", "RRULE:FREQ=DAILY", "SEQUENCE:2"),
                *(
                    vevent(
                        "s",
                        "Changed",
                        f"RECURRENCE-ID:2026031{i}T120000Z",
                        f"DTSTART:2026031{i}T130000Z",
                        "RRULE:FREQ=DAILY;COUNT=1",
                        "SEQUENCE:1",
                    )
                    for i in range(4)
                ),
            ],
            4,
        ),
    ],
)
def test_files_that_go_through_too_many_dates_are_refused_early(events: list[str], peak_mb: float) -> None:
    data = ics(*events)
    assert len(data) <= MAX_BYTES
    text = refusal_of(data, peak_mb=peak_mb)
    assert f"more than {MAX_EXAMINED:,} dates" in text
    assert "from its first one (DTSTART)" in text
    assert "Give repeating events a recent first date" in text


def test_a_long_running_daily_series_is_read_at_a_bounded_cost() -> None:
    # Since 1900 is 46,000 dates: within the limit, so the series is read, and it costs little.
    outcome, peak = measured(ics(vevent("old", "Daily", "DTSTART:19000101T120000Z", "RRULE:FREQ=DAILY")))
    assert isinstance(outcome, ImportPlan)
    assert len(outcome.drafts) == 365
    assert reasons(outcome) == [(SkipReason.PAST, "Daily")]  # the one occurring at "now"'s noon is over
    assert peak < 10, f"{peak:.1f} MB"


@pytest.mark.parametrize(
    "events",
    [
        # 136 daily series: 49,600 dates in the window, which recurring-ical-events would build one by one
        [
            vevent(f"d{i}", f"Daily {i}", f"DTSTART:20260302T{i % 24:02d}{i // 24:02d}00Z", "RRULE:FREQ=DAILY")
            for i in range(136)
        ],
        # one event with 24 rules, one per hour
        [vevent("h", "Hourly", "DTSTART:20260302T000000Z", *(f"RRULE:FREQ=DAILY;BYHOUR={h}" for h in range(24)))],
    ],
)
def test_far_too_many_dates_in_the_window_are_refused_before_expanding(events: list[str]) -> None:
    text = refusal_of(ics(*events), peak_mb=4)
    assert f"more than {MAX_EVENTS} events in the next 12 months" in text


def test_a_school_year_of_weekly_seminars_with_holidays() -> None:
    """The legitimate case: started in September, holidays excluded, read in March."""
    first = datetime(2025, 9, 15, 18, 0, tzinfo=PARIS)
    holidays = [date(2025, 10, 27), date(2025, 11, 3), date(2025, 12, 22), date(2025, 12, 29), date(2026, 2, 23)]
    holidays += [date(2026, 4, 6), date(2026, 4, 20), date(2026, 4, 27), date(2026, 5, 25)]
    data = ics(
        vevent(
            "seminar@med.example",
            "Monday seminar",
            "DTSTART;TZID=Europe/Paris:20250915T180000",
            "DTEND;TZID=Europe/Paris:20250915T193000",
            "RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260629T160000Z",
            *(f"EXDATE;TZID=Europe/Paris:{day:%Y%m%d}T180000" for day in holidays),
            "LOCATION:Amphi Charcot",
        )
    )
    mondays = [first + timedelta(weeks=i) for i in range(42)]  # up to 29 June 2026
    held = [monday for monday in mondays if monday.date() not in holidays]
    upcoming = [monday.astimezone(UTC) for monday in held if monday > NOW]

    plan = read(data)
    assert [d.start_at for d in plan.drafts] == upcoming
    assert len(upcoming) == 14
    assert {(d.start_at.astimezone(PARIS).hour, d.duration_min, d.location) for d in plan.drafts} == {
        (18, 90, "Amphi Charcot")
    }
    assert len(held) - len(upcoming) == 19  # September to February: not in the window, so not even skipped
    assert reasons(plan) == []
    assert plan.repeating
    # and the same through the worker process the bot uses
    assert read_calendar(data, zone=PARIS, now=NOW) == plan


# --- the worker process ---------------------------------------------------------------------------------


def never_happening(count: int) -> bytes:
    """Rules that never give a date (30 February): dateutil goes through every day up to the year 9999."""
    return ics(
        *(
            vevent(f"n{i}", f"Never {i}", "DTSTART:20250101T120000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
            for i in range(count)
        )
    )


def test_the_worker_gives_the_plan_read_here() -> None:
    data = ics(
        vevent("a", "Keynote", "DTSTART:20260310T170000Z", "DURATION:PT45M", "DESCRIPTION:Opening\\, at last."),
        vevent("s", "Seminar", "DTSTART;TZID=Europe/Paris:20260311T180000", "RRULE:FREQ=WEEKLY;COUNT=3"),
        vevent("p", "Last year", "DTSTART:20250310T170000Z"),
        vevent("l", "T" * 300, "DTSTART:20260312T170000Z"),
    )
    plan = read(data)
    assert len(plan.drafts) == 5 and plan.skipped and plan.shortened and plan.repeating
    assert read_calendar(data, zone=PARIS, now=NOW) == plan


def test_a_refusal_comes_back_from_the_worker_as_is() -> None:
    data = ics(vevent("bomb@x", "Bomb", "DTSTART:20260201T120000Z", "RRULE:FREQ=SECONDLY"))
    with pytest.raises(InputError) as here:
        read(data)
    with pytest.raises(InputError) as there:
        read_calendar(data, zone=PARIS, now=NOW)
    assert str(there.value) == str(here.value)


def test_a_file_that_takes_too_long_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_worker, "TIME_LIMIT_S", 2.0)
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        read_calendar(never_happening(20), zone=PARIS, now=NOW)  # unstopped, about two minutes
    assert "took more than 2 seconds, so I stopped" in str(caught.value)
    assert "/talk import file:" in str(caught.value)
    assert time.monotonic() - started < 2.0 + import_worker.GRACE_S + 30  # generous: a loaded machine


def test_a_worker_that_does_not_stop_itself_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_worker, "_MODULE", "tests.hanging_worker")
    monkeypatch.setattr(import_worker, "TIME_LIMIT_S", 0.5)
    monkeypatch.setattr(import_worker, "GRACE_S", 1.0)
    started = time.monotonic()
    with pytest.raises(InputError, match=re.escape("took more than 0.5 seconds")):
        read_calendar(ics(vevent()), zone=PARIS, now=NOW)
    assert time.monotonic() - started < 30  # the stand-in would sleep for ten minutes


def test_a_file_that_needs_too_much_memory_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ics(*(vevent(f"p{i}", f"Old {i}", "DTSTART:20250310T170000Z") for i in range(3000)))
    assert len(read_calendar(data, zone=PARIS, now=NOW).skipped) == 3000  # within the real limit
    monkeypatch.setattr(import_worker, "MEMORY_LIMIT_MB", 2)
    with pytest.raises(InputError) as caught:
        read_calendar(data, zone=PARIS, now=NOW)
    assert "needed more than 2 MB of memory, so I stopped" in str(caught.value)


def test_files_beyond_the_ones_being_read_wait_for_a_later_try() -> None:
    held = 0
    try:
        while import_worker._slots.acquire(blocking=False):
            held += 1
        assert held == import_worker.AT_ONCE
        with pytest.raises(StateError, match="already reading 2 calendar files"):
            read_calendar(ics(vevent()), zone=PARIS, now=NOW)
    finally:
        for _ in range(held):
            import_worker._slots.release()
    assert read_calendar(ics(vevent()), zone=PARIS, now=NOW).drafts  # the slots are back


def test_the_worker_gets_none_of_the_bots_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "token-value")
    monkeypatch.setenv("SMTP_PASSWORD", "password-value")
    environment = import_worker._environment()
    assert "token-value" not in environment.values() and "password-value" not in environment.values()
    assert set(environment) <= {"PATH", "LANG", "LC_ALL", "TZ", "PYTHONTZPATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}


# --- the summary ----------------------------------------------------------------------------------------


def made(draft: TalkDraft, talk_id: int) -> Talk:
    return Talk(
        id=talk_id,
        guild_id=GUILD,
        title=draft.title,
        speaker=str(DEFAULT_SPEAKER),
        speaker_bio=None,
        description=None,
        location=None,
        start_at=draft.start_at,
        duration_min=draft.duration_min,
        capacity=None,
        reminders=(),
        announce_at=None,
        status=TalkStatus.SCHEDULED,
        cancel_reason=None,
        sequence=0,
        announcement_channel_id=None,
        announcement_message_id=None,
        created_by=ORGANIZER,
        created_at=NOW,
        updated_at=NOW,
        source_uid=draft.source_uid,
    )


def test_summary_lists_created_talks_skips_and_the_next_step() -> None:
    plan = read(
        ics(
            vevent("a", "*Bold* talk", "DTSTART:20260310T170000Z"),
            vevent("b", "Second", "DTSTART:20260311T170000Z"),
            vevent("old", "Old", "DTSTART:20250311T170000Z"),
            vevent("h", "Holiday", "DTSTART;VALUE=DATE:20260320"),
        )
    )
    talks = [made(draft, 7 + index) for index, draft in enumerate(plan.drafts)]
    text = import_summary(
        plan.after_import({"b"}), talks[:1], filename="season.ics", language="en", default_speaker=str(DEFAULT_SPEAKER)
    )
    assert "Imported **1** talk from `season.ics`" in text
    assert f"#7 **\\*Bold\\* talk** — <t:{int(utc(2026, 3, 10, 17).timestamp())}:f>" in text
    assert "Skipped 3:" in text
    assert "• 1 already started or over: Old" in text
    assert "• 1 already imported: Second" in text
    assert "• 1 all-day, with no start time: Holiday" in text
    assert "`/talk announce talk:7`" in text
    assert "speaker:" in text


def test_summary_of_an_import_that_created_nothing() -> None:
    plan = read(ics(vevent("a", "A"))).after_import({"a"})
    text = import_summary(plan, [], filename="season.ics", language="en")
    assert text.startswith("Nothing was imported from `season.ics`")
    assert "1 already imported" in text
    assert "/talk announce" not in text


def test_summary_stays_under_discords_limit() -> None:
    events = [
        vevent(
            f"e{i}@x",
            f"A rather long title for talk number {i} " + "x" * 80,
            f"DTSTART:{(NOW + timedelta(hours=i + 1)):%Y%m%dT%H%M%SZ}",
        )
        for i in range(300)
    ]
    skipped = [
        vevent(f"h{i}@x", f"Holiday with a long name {i} " + "y" * 60, "DTSTART;VALUE=DATE:20260320") for i in range(50)
    ]
    plan = read(ics(*events, *skipped))
    talks = [made(draft, index + 1) for index, draft in enumerate(plan.drafts)]
    text = import_summary(plan, talks, filename="season.ics", language="en", default_speaker=str(DEFAULT_SPEAKER))
    assert len(text) <= MESSAGE_MAX
    assert "more (see `/talks`)" in text
    assert "Imported **300** talks" in text
    assert "50 all-day" in text


# --- TalkService.import_talks on a real database ------------------------------------------------------------


def inputs(plan: ImportPlan, **options: object) -> list[tuple[str, TalkInput]]:
    speaker = str(options.get("speaker", DEFAULT_SPEAKER))
    capacity = options.get("capacity")
    return [(d.source_uid, d.as_input(speaker=speaker, capacity=capacity)) for d in plan.drafts]  # type: ignore[arg-type]


SEASON = ics(
    vevent(
        "seminar@x",
        "Weekly seminar",
        "DTSTART;TZID=Europe/Paris:20260310T180000",
        "DTEND;TZID=Europe/Paris:20260310T193000",
        "RRULE:FREQ=WEEKLY;COUNT=4",
        "LOCATION:Amphi B",
    ),
    vevent("keynote@x", "Keynote", "DTSTART:20260320T090000Z", "DESCRIPTION:The opening talk."),
)


async def test_import_creates_every_talk_with_server_defaults(service: TalkService) -> None:
    await service.update_settings(GUILD, reminders="2h")
    plan = read(SEASON)
    outcome = await service.import_talks(GUILD, ORGANIZER, inputs(plan, capacity=40))
    assert outcome.already_imported == set()
    assert [talk.source_uid for talk in outcome.created] == [
        "seminar@x/20260310T170000Z",
        "seminar@x/20260317T170000Z",
        "keynote@x",
        "seminar@x/20260324T170000Z",
        "seminar@x/20260331T160000Z",
    ]
    for talk in outcome.created:
        assert talk.speaker == str(DEFAULT_SPEAKER)
        assert talk.capacity == 40
        assert talk.reminders == (120,)
        assert talk.created_by == ORGANIZER
        assert talk.announce_at is None and talk.announcement_message_id is None
        assert await service.get_talk(GUILD, talk.id) == talk
    keynote = outcome.created[2]
    assert (keynote.title, keynote.description, keynote.duration_min) == ("Keynote", "The opening talk.", 60)
    assert outcome.created[4].location == "Amphi B"


async def test_a_second_import_of_the_same_file_creates_nothing(service: TalkService) -> None:
    first = await service.import_talks(GUILD, ORGANIZER, inputs(read(SEASON)))
    again = await service.import_talks(GUILD, ORGANIZER, inputs(read(SEASON)))
    assert again.created == []
    assert again.already_imported == {talk.source_uid for talk in first.created}
    assert len(await service.upcoming(GUILD, limit=100)) == 5
    # another server imports the same file independently
    other = await service.import_talks(222, ORGANIZER, inputs(read(SEASON)))
    assert len(other.created) == 5


async def test_an_edited_file_adds_only_the_new_events(service: TalkService) -> None:
    await service.import_talks(GUILD, ORGANIZER, inputs(read(SEASON)))
    grown = ics(vevent("keynote@x", "Keynote", "DTSTART:20260320T090000Z"), vevent("closing@x", "Closing"))
    outcome = await service.import_talks(GUILD, ORGANIZER, inputs(read(grown)))
    assert [talk.source_uid for talk in outcome.created] == ["closing@x"]
    assert outcome.already_imported == {"keynote@x"}


async def test_a_cancelled_imported_talk_is_not_brought_back(service: TalkService) -> None:
    first = await service.import_talks(GUILD, ORGANIZER, inputs(read(SEASON)))
    await service.cancel_talk(GUILD, first.created[0].id, "Speaker ill")
    again = await service.import_talks(GUILD, ORGANIZER, inputs(read(SEASON)))
    assert again.created == []


async def test_one_draft_breaking_a_rule_creates_nothing(service: TalkService, clock: Clock) -> None:
    plan = read(SEASON)
    drafts = inputs(plan)
    # A start that passed between reading the file and creating the talks.
    drafts.append(
        ("late@x", TalkInput(title="Too late", speaker="S", start=(clock.now - timedelta(minutes=1)).isoformat()))
    )
    with pytest.raises(InputError, match=r"Nothing was imported.*Too late.*in the past"):
        await service.import_talks(GUILD, ORGANIZER, drafts)
    assert await service.upcoming(GUILD, limit=100) == []


async def test_speaker_and_capacity_options_follow_the_create_rules(service: TalkService) -> None:
    with pytest.raises(InputError, match="capacity"):
        await service.import_talks(GUILD, ORGANIZER, inputs(read(SEASON), capacity=0))
    with pytest.raises(InputError, match="speaker"):
        await service.import_talks(GUILD, ORGANIZER, inputs(read(SEASON), speaker="x" * 101))
    assert await service.upcoming(GUILD, limit=100) == []


async def test_the_database_refuses_one_source_uid_twice_in_a_server(db: Database) -> None:
    insert = (
        "INSERT INTO talks (guild_id, title, speaker, start_at, duration_min, reminders, created_by, created_at, "
        "updated_at, source_uid) VALUES (?, 'T', 'S', 0, 60, '', 1, 0, 0, ?)"
    )
    async with db.transaction() as conn:
        await conn.execute(insert, (GUILD, "dup@x"))
        await conn.execute(insert, (GUILD, None))
        await conn.execute(insert, (GUILD, None))  # talks made by /talk create have none, any number of them
        await conn.execute(insert, (222, "dup@x"))
    with pytest.raises((aiosqlite.IntegrityError, asyncpg.UniqueViolationError)):
        async with db.transaction() as conn:
            await conn.execute(insert, (GUILD, "dup@x"))
