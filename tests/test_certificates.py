"""Attendance records, certificates and the report on a real SQLite, and the certificate's PDF read back."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pypdf
import pytest

from bot import attendance_rows, store
from bot.certificate_pdf import certificate_pdf, file_name
from bot.certificates import (
    CERTIFICATES_PER_DAY,
    Certificates,
    academic_year,
    format_code,
    normalise_code,
    parse_day,
    parse_year_start,
)
from bot.database import Database
from bot.errors import InputError, StateError
from bot.models import DeliveryKind, GuildSettings, RegistrationStatus, TalkStatus

PARIS = ZoneInfo("Europe/Paris")
GUILD = 1
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _talk(db: Database, title: str, start: datetime, minutes: int, confirmed: list[int], **extra: object) -> int:
    async with db.transaction() as conn:
        talk = await store.insert_talk(
            conn,
            GUILD,
            99,
            start - timedelta(days=30),
            {
                "title": title,
                "speaker": extra.get("speaker", "Dr X"),
                "start_at": start,
                "duration_min": minutes,
                "capacity": None,
                "reminders": (),
            },
        )
        for user_id in confirmed:
            await conn.execute(
                "INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                (talk.id, GUILD, user_id, f"member {user_id}", RegistrationStatus.CONFIRMED.value),
            )
    return talk.id


@pytest.fixture
def certificates(db: Database) -> Certificates:
    return Certificates(db, Clock(NOW), PARIS)


def test_the_academic_year_runs_from_its_first_day_in_the_servers_zone() -> None:
    default = GuildSettings(guild_id=GUILD)
    year = academic_year(default, PARIS, NOW)
    assert (year.first_day, year.last_day) == (date(2026, 9, 1), date(2027, 8, 31))
    assert year.starts_at == datetime(2026, 8, 31, 22, 0, tzinfo=UTC)  # midnight in Paris, summer time
    summer = academic_year(default, PARIS, datetime(2026, 8, 31, 21, 59, tzinfo=UTC))
    assert summer.first_day == date(2025, 9, 1)
    october = GuildSettings(guild_id=GUILD, year_start="10-15")
    assert academic_year(october, PARIS, NOW).first_day == date(2026, 10, 15)
    assert academic_year(october, PARIS, datetime(2026, 10, 1, tzinfo=UTC)).last_day == date(2026, 10, 14)


@pytest.mark.parametrize(("typed", "stored"), [("09-01", "09-01"), ("9-1", "09-01"), ("15/10", "10-15")])
def test_the_year_start_is_read_as_written(typed: str, stored: str) -> None:
    assert parse_year_start(typed) == stored


@pytest.mark.parametrize("typed", ["02-29", "13-01", "00-10", "09-31", "sept", "", "09-01-2026", "x" * 500, "-1-5"])
def test_a_year_start_that_is_not_a_day_every_year_has_is_refused(typed: str) -> None:
    with pytest.raises(InputError, match="not a day of the year"):
        parse_year_start(typed)


def test_report_days_are_read_in_both_writings_and_nonsense_is_refused() -> None:
    assert parse_day("2026-09-01", language="en") == date(2026, 9, 1)
    assert parse_day("01/09/2026", language="fr") == date(2026, 9, 1)
    for typed in ("2026-02-30", "yesterday", "1/2/3/4", "9" * 200):
        with pytest.raises(InputError):
            parse_day(typed, language="fr")


def test_codes_survive_being_typed_back() -> None:
    code = "ABCDEFGHJKMNPQRS"
    assert format_code(code) == "ABCD-EFGH-JKMN-PQRS"
    assert normalise_code("abcd efgh-jkmn-pqrs") == code
    for forged in ("ABCD-EFGH-JKMN-PQR0", "ABCD", "A" * 65, "ABCD-EFGH-JKMN-PQRS-T", "<script>"):
        assert normalise_code(forged) is None


async def test_the_record_holds_talks_that_are_over_this_year_by_the_attendance_rule(
    db: Database, certificates: Certificates
) -> None:
    over = await _talk(db, "Immunology", NOW - timedelta(days=10), 90, [10, 11])
    checked = await _talk(db, "Genomics", NOW - timedelta(days=5), 60, [10, 11])
    async with db.transaction() as conn:  # at Genomics only member 11 checked in
        await attendance_rows.record_checkin(
            conn, talk_id=checked, guild_id=GUILD, user_id=11, display_name="member 11", walk_in=False, now=NOW
        )
    await _talk(db, "Last year", datetime(2026, 6, 1, tzinfo=UTC), 60, [10])
    await _talk(db, "Running now", NOW - timedelta(minutes=30), 60, [10])
    cancelled = await _talk(db, "Cancelled", NOW - timedelta(days=3), 60, [10])
    async with db.transaction() as conn:
        await store.update_talk(conn, cancelled, NOW, {"status": TalkStatus.CANCELLED})

    ten, eleven = await certificates.record(GUILD, 10), await certificates.record(GUILD, 11)
    assert [t.title for t in ten.talks] == ["Immunology"]
    assert ten.total_minutes == 90
    assert [t.title for t in eleven.talks] == ["Immunology", "Genomics"]
    assert eleven.total_minutes == 150
    assert over > 0 and (await certificates.record(GUILD, 12)).talks == []


async def test_a_certificate_is_frozen_with_its_dm_owed_in_the_same_transaction(
    db: Database, certificates: Certificates
) -> None:
    talk_id = await _talk(db, "Immunology", NOW - timedelta(days=10), 90, [10])
    issued = await certificates.issue(GUILD, 10, "Zoë Ångström", "Faculté de Médecine")
    certificate = issued.certificate
    assert [row.kind for row in issued.owed] == [DeliveryKind.CERTIFICATE]
    assert (issued.owed[0].key, issued.owed[0].talk_id, issued.owed[0].recipient_id) == (certificate.id, talk_id, 10)
    assert certificate.total_minutes == 90 and certificate.display_name == "Zoë Ångström"
    assert (certificate.first_day, certificate.last_day) == (date(2026, 9, 1), date(2027, 8, 31))

    # Renaming the talk later does not change what the certificate says.
    async with db.transaction() as conn:
        await store.update_talk(conn, talk_id, NOW, {"title": "Renamed"})
    found = await certificates.verify(certificate.shown_code.lower())
    assert found is not None and [t.title for t in found.talks] == ["Immunology"]
    assert await certificates.verify(certificate.code[:-1] + ("Z" if certificate.code[-1] != "Z" else "Y")) is None
    async with db.reading() as conn:
        rows = list(await conn.execute_fetchall("SELECT talks FROM certificates"))
    assert json.loads(rows[0][0])[0]["title"] == "Immunology"


async def test_certificates_are_refused_without_attendance_and_beyond_the_daily_limit(
    db: Database, certificates: Certificates
) -> None:
    with pytest.raises(StateError, match="not attended any talk"):
        await certificates.issue(GUILD, 10, "member 10", "School")
    await _talk(db, "Immunology", NOW - timedelta(days=10), 90, [10])
    codes = {(await certificates.issue(GUILD, 10, "member 10", "School")).certificate.code for _ in range(3)}
    assert len(codes) == CERTIFICATES_PER_DAY
    with pytest.raises(StateError, match="already asked for 3 certificates today"):
        await certificates.issue(GUILD, 10, "member 10", "School")
    async with db.reading() as conn:
        issued = await conn.execute_fetchall("SELECT COUNT(*) FROM certificates")
        owed = await conn.execute_fetchall("SELECT COUNT(*) FROM deliveries WHERE kind = 'certificate'")
    assert [tuple(row) for row in issued] == [(3,)] and [tuple(row) for row in owed] == [(3,)]
    assert isinstance(certificates.now, Clock)
    certificates.now.now = NOW + timedelta(days=1, seconds=1)
    await certificates.issue(GUILD, 10, "member 10", "School")  # a day later it works again


async def test_the_report_adds_up_per_member(db: Database, certificates: Certificates) -> None:
    await _talk(db, "A", datetime(2026, 10, 1, 16, tzinfo=UTC), 90, [10, 11])
    await _talk(db, "B", datetime(2026, 11, 1, 16, tzinfo=UTC), 60, [10])
    await _talk(db, "Outside", datetime(2026, 8, 1, 16, tzinfo=UTC), 60, [10, 11])
    rows = await certificates.report(GUILD, date(2026, 9, 1), date(2026, 11, 1))
    assert [(r.user_id, r.talks, r.minutes) for r in rows] == [(10, 2, 150), (11, 1, 90)]
    assert rows[0].display_name == "member 10"
    assert await certificates.report(GUILD, date(2026, 11, 2), date(2026, 11, 30)) == []
    with pytest.raises(InputError, match="before it starts"):
        await certificates.report(GUILD, date(2026, 11, 2), date(2026, 11, 1))
    with pytest.raises(InputError, match="at most five years"):
        await certificates.report(GUILD, date(2010, 1, 1), date(2026, 1, 1))


async def test_the_pdf_says_what_the_certificate_lists_with_any_name(db: Database, certificates: Certificates) -> None:
    await _talk(db, "Cerveaux & machines", datetime(2026, 10, 1, 16, tzinfo=UTC), 90, [10], speaker="Dr Müller")
    await _talk(db, "Immunologie", datetime(2026, 11, 5, 16, tzinfo=UTC), 60, [10])
    name = "Zoë Ångström-Łukasiewicz Ζωή Жанна"
    certificate = (await certificates.issue(GUILD, 10, name, "Faculté de Médecine")).certificate
    for language, words in (
        ("fr", ["Attestation de présence", "Total : 2,5 h, 2 conférences", "Délivrée le 3 décembre 2026"]),
        ("en", ["Attendance certificate", "Total: 2.5 h, 2 talks", "Issued on December 3, 2026"]),
    ):
        pdf = certificate_pdf(certificate, zone=PARIS, language=language, verify_url="https://podium.example/verify/X")
        assert pdf.startswith(b"%PDF-")
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
        flat = " ".join(text.split())
        for word in [*words, name, "Faculté de Médecine", "Cerveaux & machines", "Dr Müller", "Immunologie"]:
            assert " ".join(word.split()) in flat, (word, flat)
        assert certificate.shown_code in flat and "https://podium.example/verify/X" in flat
    assert file_name(certificate, "fr", "m7") == "attestation-presence-2026-2027-m7.pdf"
