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


# --- the organizer's own way of writing dates ----------------------------------------------------------------
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # a Thursday; examples fall a week later, at 18:00
DECEMBER_3_18H = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)  # 18:00 in Paris (winter, UTC+1)


def refusal(text: str, language: str, **options: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_when(text, PARIS, language=language, now=NOW, **options)
    return info.value


def refusal_at(text: str, now: datetime) -> InputError:
    with pytest.raises(InputError) as info:
        parse_when(text, PARIS, now=now)
    return info.value


@pytest.mark.parametrize(
    "text",
    [
        "03/12/2026 18h00",
        "03/12/2026 18:00",
        "3/12/2026 18h",
        "3/12/2026 18h00",
        "03/12/2026 à 18h00",
        "03/12/2026 18H00",
    ],
)
def test_french_organizers_may_write_the_day_first(text: str) -> None:
    assert parse_when(text, PARIS, language="fr", now=NOW) == DECEMBER_3_18H


@pytest.mark.parametrize("text", ["03/12/2026 18h00", "03/12/2026 18:00", "3/12/2026 18h"])
def test_day_first_dates_are_refused_in_english(text: str) -> None:
    refused = refusal(text, "en")
    assert "YYYY-MM-DD HH:MM" in refused.render("en")
    assert "`2026-12-10 18:00`" in refused.render("en")


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    "text", ["2026-12-03 18:00", "2026-12-03T18:00", "2026-12-03T17:00Z", "2026-12-03T18:00+01:00"]
)
def test_iso_works_for_everyone(language: str, text: str) -> None:
    assert parse_when(text, PARIS, language=language, now=NOW) == DECEMBER_3_18H


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2026 18h00",
        "32/12/2026 18h00",
        "03/12/2026 25h00",
        "03/12/2026 18h60",
        "03/13/2026 18:00",
        "00/12/2026 18h",
    ],
)
def test_impossible_french_dates_are_refused_in_french(text: str) -> None:
    refused = refusal(text, "fr")
    french = refused.render("fr")
    assert f"`{text}` n'est pas une date et une heure qui existent, pour `debut`" in french
    assert "JJ/MM/AAAA HH:MM" in french
    assert "`10/12/2026 18h00`" in french  # the example, written the French way
    assert "`2026-12-10 18:00`" in refused.render("en")


def test_a_french_date_with_no_time_is_explained() -> None:
    refused = refusal("03/12/2026", "fr", field="announce_at")
    french = refused.render("fr")
    assert "Je ne parviens pas à lire `03/12/2026` comme une date pour `annonce_le`" in french
    assert "`10/12/2026 18h00`" in french and "`2026-12-10T18:00+01:00`" in french


def test_the_skipped_hour_is_refused_in_french_too() -> None:
    refused = refusal("29/03/2026 02h30", "fr")
    assert "n'existe pas dans le fuseau Europe/Paris" in refused.render("fr")


@pytest.mark.parametrize("text", ["1" * 5000, "03/12/2026 18h00" + " et puis encore" * 300, "`" * 41])
def test_overly_long_input_is_refused_unread_and_not_quoted(text: str) -> None:
    refused = refusal(text, "fr")
    for language in ("en", "fr"):
        message = refused.render(language)
        assert len(message) < 300
        assert text[:41] not in message
    assert f"compte {len(text.strip())} caractères" in refused.render("fr")
    assert "`10/12/2026 18h00`" in refused.render("fr")


def test_quoted_values_are_bounded_and_cannot_end_the_code_span() -> None:
    refused = refusal("a`b", "en")
    assert "`a'b`" in refused.render("en")


def test_the_example_is_a_real_upcoming_date_each_language_can_type_back() -> None:
    for language, written in (("fr", "10/12/2026 18h00"), ("en", "2026-12-10 18:00")):
        message = refusal("bientôt", language).render(language)
        assert f"`{written}`" in message
        assert parse_when(written, PARIS, language=language, now=NOW) == datetime(2026, 12, 10, 17, 0, tzinfo=UTC)


def test_the_example_is_18h_local_across_a_clock_change() -> None:
    # A week after 2026-10-20 is after the clocks go back: the example still reads 18:00 in Paris.
    refused = refusal_at("bad", datetime(2026, 10, 20, 12, 0, tzinfo=UTC))
    assert "`2026-10-27 18:00`" in refused.render("en") and "`27/10/2026 18h00`" in refused.render("fr")


def test_offset_errors_in_both_languages() -> None:
    with pytest.raises(InputError) as info:
        parse_offsets("1w")
    assert "`1w` is not a reminder offset" in info.value.render("en")
    assert "`1w` n'est pas un délai de rappel" in info.value.render("fr")
    with pytest.raises(InputError) as info:
        parse_offsets("31d")
    assert "Le délai de rappel `31d` doit être compris entre 1m et 30d" in info.value.render("fr")
    with pytest.raises(InputError) as info:
        parse_offsets("1d,2d,3d,4d,5d,6d")
    assert info.value.render("fr").startswith("5 rappels au plus par conférence")
    assert parse_offsets("aucun") == ()


def test_timezone_errors_in_both_languages() -> None:
    with pytest.raises(InputError) as info:
        parse_timezone("Mars/Olympus")
    assert "`Mars/Olympus` is not a time zone I know" in info.value.render("en")
    assert "Je ne connais pas le fuseau horaire `Mars/Olympus`" in info.value.render("fr")
