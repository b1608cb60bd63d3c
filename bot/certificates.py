"""Attendance records, certificates and the training-credit report: what a member attended, and proof of it.

Who attended a talk is the ``attendance`` view's rule (bot/attendance_rows.py): the members who checked in, or
every confirmed member when nobody did. Only talks that are over count. A certificate is a frozen copy of the
record at the moment it was issued (migration 0011's ``certificates``), so ``/verify/<code>`` answers the same
thing years later, whatever happens to the talks afterwards. Its DM is an outbox row written in the same
transaction as the certificate itself.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton

from bot import store
from bot.database import Database
from bot.errors import InputError, NotFoundError, StateError
from bot.i18n import Text, _
from bot.models import Delivery, DeliveryKind, GuildSettings, from_unix, to_unix
from bot.sql import Connection, Row
from bot.timeparse import discord_timestamp

# An unambiguous alphabet (no 0/O, 1/I/L): a code is read off paper and typed by a person.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16  # about 79 bits: guessing one is hopeless, even at the web side's full rate
CODE_GROUP = 4
# A member may have this many certificates sent in a day: each is a DM and a PDF, and nobody needs more.
CERTIFICATES_PER_DAY = 3
CERTIFICATE_WINDOW = timedelta(days=1)
# A report covers at most this long a period: one row per member, but every talk in it is read.
REPORT_MAX_DAYS = 5 * 366
CERTIFICATE_MAX_TALKS = 200  # the PDF lists them all; a year of weekly talks is about 40


@dataclass(frozen=True)
class AttendedTalk:
    title: str
    speaker: str
    start_at: datetime
    duration_min: int

    def as_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "speaker": self.speaker,
            "start_at": to_unix(self.start_at),
            "duration_min": self.duration_min,
        }

    @staticmethod
    def from_json(value: dict[str, object]) -> AttendedTalk:
        start_at = value["start_at"]
        duration_min = value["duration_min"]
        assert isinstance(start_at, int) and isinstance(duration_min, int)
        return AttendedTalk(str(value["title"]), str(value["speaker"]), from_unix(start_at), duration_min)


@dataclass(frozen=True)
class AcademicYear:
    first_day: date
    last_day: date  # inclusive
    zone: ZoneInfo

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.first_day, datetime.min.time(), self.zone).astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        following = self.last_day + timedelta(days=1)
        return datetime.combine(following, datetime.min.time(), self.zone).astimezone(UTC)


@dataclass(frozen=True)
class Record:
    year: AcademicYear
    talks: list[AttendedTalk]

    @property
    def total_minutes(self) -> int:
        return sum(talk.duration_min for talk in self.talks)


@dataclass(frozen=True)
class Certificate:
    id: int
    code: str
    guild_id: int
    user_id: int
    server_name: str
    display_name: str
    first_day: date
    last_day: date
    talks: list[AttendedTalk]
    total_minutes: int
    issued_at: datetime

    @property
    def shown_code(self) -> str:
        return format_code(self.code)


@dataclass(frozen=True)
class Issued:
    certificate: Certificate
    owed: list[Delivery]


@dataclass(frozen=True)
class ReportRow:
    display_name: str
    user_id: int
    talks: int
    minutes: int


@dataclass(frozen=True)
class YearStart(Text):
    """The academic year's first day written out: « 1 septembre », "September 1"."""

    month: int = 9
    day: int = 1

    def render(self, language: str) -> str:
        return format_skeleton("MMMMd", date(2001, self.month, self.day), locale=language)


def year_start(settings: GuildSettings) -> YearStart:
    month, day = settings.academic_year_start()
    return YearStart(msgid=f"{month:02d}-{day:02d}", month=month, day=day)


def academic_year(settings: GuildSettings, zone: ZoneInfo, now: datetime) -> AcademicYear:
    """The academic year ``now`` falls in, in the server's time zone (1 September to 31 August by default)."""
    month, day = settings.academic_year_start()
    today = now.astimezone(zone).date()
    start = date(today.year, month, day)
    if start > today:
        start = date(today.year - 1, month, day)
    following = date(start.year + 1, month, day)
    return AcademicYear(start, following - timedelta(days=1), zone)


def parse_year_start(text: str) -> str:
    """/setup year_start: "MM-DD" (or "DD/MM", as French writes it), a day every year has."""
    raw = text.strip()
    month = day = 0
    if len(raw) <= 5 and raw.count("-") == 1:
        first, second = raw.split("-")
        month, day = (int(first), int(second)) if first.isdigit() and second.isdigit() else (0, 0)
    elif len(raw) <= 5 and raw.count("/") == 1:
        first, second = raw.split("/")
        day, month = (int(first), int(second)) if first.isdigit() and second.isdigit() else (0, 0)
    try:
        date(2001, month, day)  # not a leap year: 29 February is refused, since most years lack it
    except ValueError:
        raise InputError(
            _(
                "`{value}` is not a day of the year. Write the first day of the academic year as MM-DD, for "
                "example `09-01` for 1 September.",
                value=raw[:10],
            )
        ) from None
    return f"{month:02d}-{day:02d}"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    return "-".join(code[i : i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))


def normalise_code(typed: str) -> str | None:
    """The stored form of a code as typed or linked (dashes, spaces and case do not matter), None if it
    cannot be one."""
    if len(typed) > 64:
        return None
    cleaned = typed.replace("-", "").replace(" ", "").upper()
    if len(cleaned) != CODE_LENGTH or any(char not in CODE_ALPHABET for char in cleaned):
        return None
    return cleaned


async def _attended(
    conn: Connection, guild_id: int, user_id: int, starts: datetime, ends: datetime, now: datetime
) -> list[AttendedTalk]:
    rows = await conn.execute_fetchall(
        """
        SELECT t.title, t.speaker, t.start_at, t.duration_min
        FROM attendance a JOIN talks t ON t.id = a.talk_id
        WHERE a.guild_id = ? AND a.user_id = ? AND t.start_at >= ? AND t.start_at < ?
          AND t.start_at + 60 * t.duration_min <= ?
        ORDER BY t.start_at, t.id
        """,
        (guild_id, user_id, to_unix(starts), to_unix(ends), to_unix(now)),
    )
    return [AttendedTalk(row[0], row[1], from_unix(row[2]), row[3]) for row in rows]


def _certificate(row: Row) -> Certificate:
    return Certificate(
        id=row["id"],
        code=row["code"],
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        server_name=row["server_name"],
        display_name=row["display_name"],
        first_day=date.fromordinal(row["year_from"]),
        last_day=date.fromordinal(row["year_to"]),
        talks=[AttendedTalk.from_json(item) for item in json.loads(row["talks"])],
        total_minutes=row["total_minutes"],
        issued_at=from_unix(row["issued_at"]),
    )


class Certificates:
    def __init__(self, db: Database, clock: Callable[[], datetime], default_tz: ZoneInfo) -> None:
        self.db = db
        self.now = clock
        self.default_tz = default_tz

    async def _year(self, conn: Connection, guild_id: int, now: datetime) -> AcademicYear:
        settings = await store.get_settings(conn, guild_id)
        return academic_year(settings, settings.zone(self.default_tz), now)

    async def record(self, guild_id: int, user_id: int) -> Record:
        """The talks the member attended this academic year, oldest first (only talks that are over)."""
        now = self.now()
        async with self.db.reading() as conn:
            year = await self._year(conn, guild_id, now)
            talks = await _attended(conn, guild_id, user_id, year.starts_at, year.ends_at, now)
        return Record(year, talks)

    async def issue(self, guild_id: int, user_id: int, display_name: str, server_name: str) -> Issued:
        """Freeze this year's record into a certificate and owe its DM, in one transaction."""
        now = self.now()
        async with self.db.transaction() as conn:
            year = await self._year(conn, guild_id, now)
            rows = await conn.execute_fetchall(
                """
                SELECT issued_at FROM certificates WHERE guild_id = ? AND user_id = ? AND issued_at > ?
                ORDER BY issued_at
                """,
                (guild_id, user_id, to_unix(now - CERTIFICATE_WINDOW)),
            )
            recent = [from_unix(row[0]) for row in rows]
            if len(recent) >= CERTIFICATES_PER_DAY:
                raise StateError(
                    _(
                        "You already asked for {count} certificates today. You can ask again {when}; the ones "
                        "already sent are in your direct messages.",
                        count=CERTIFICATES_PER_DAY,
                        when=discord_timestamp(recent[0] + CERTIFICATE_WINDOW, "R"),
                    )
                )
            talks = await _attended(conn, guild_id, user_id, year.starts_at, year.ends_at, now)
            if not talks:
                raise StateError(
                    _(
                        "You have not attended any talk yet this academic year (since {day}), so there is nothing "
                        "to certify. Talks count once they are over, when you checked in or held a seat.",
                        day=discord_timestamp(year.starts_at, "D"),
                    )
                )
            listed = talks[-CERTIFICATE_MAX_TALKS:]
            last_talk_id = await self._last_talk_id(conn, guild_id, user_id, year, now)
            code = new_code()
            cursor = await conn.execute(
                """
                INSERT INTO certificates (code, guild_id, user_id, server_name, display_name, year_from, year_to,
                                          talks, total_minutes, issued_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING *
                """,
                (
                    code,
                    guild_id,
                    user_id,
                    server_name,
                    display_name,
                    year.first_day.toordinal(),
                    year.last_day.toordinal(),
                    json.dumps([talk.as_json() for talk in listed], ensure_ascii=False),
                    sum(talk.duration_min for talk in listed),
                    to_unix(now),
                ),
            )
            row = await cursor.fetchone()
            assert row is not None
            certificate = _certificate(row)
            # The outbox keys rows by talk: the certificate's row hangs on the last talk it lists.
            talk = await store.get_talk_by_id(conn, last_talk_id)
            assert talk is not None
            owed = await store.ensure_deliveries(
                conn, talk, "user", DeliveryKind.CERTIFICATE, [(user_id, certificate.id)], now
            )
        return Issued(certificate, owed)

    @staticmethod
    async def _last_talk_id(conn: Connection, guild_id: int, user_id: int, year: AcademicYear, now: datetime) -> int:
        rows = list(
            await conn.execute_fetchall(
                """
                SELECT t.id FROM attendance a JOIN talks t ON t.id = a.talk_id
                WHERE a.guild_id = ? AND a.user_id = ? AND t.start_at >= ? AND t.start_at < ?
                  AND t.start_at + 60 * t.duration_min <= ?
                ORDER BY t.start_at DESC, t.id DESC LIMIT 1
                """,
                (guild_id, user_id, to_unix(year.starts_at), to_unix(year.ends_at), to_unix(now)),
            )
        )
        return int(rows[0][0])

    async def by_id(self, certificate_id: int) -> Certificate:
        async with self.db.reading() as conn:
            rows = list(await conn.execute_fetchall("SELECT * FROM certificates WHERE id = ?", (certificate_id,)))
        if not rows:
            raise NotFoundError(_("There is no certificate #{number}.", number=certificate_id))
        return _certificate(rows[0])

    async def verify(self, typed: str) -> Certificate | None:
        """The certificate a code names, None when no certificate has it (a forged or mistyped code)."""
        code = normalise_code(typed)
        if code is None:
            return None
        async with self.db.reading() as conn:
            rows = list(await conn.execute_fetchall("SELECT * FROM certificates WHERE code = ?", (code,)))
        return _certificate(rows[0]) if rows else None

    async def report(self, guild_id: int, first_day: date, last_day: date) -> list[ReportRow]:
        """One row per member who attended a talk that started between the two days (inclusive, in the
        server's time zone) and is over: for the school's training-credit office."""
        if last_day < first_day:
            raise InputError(
                _(
                    "The report would end ({end}) before it starts ({start}). Give the earlier day first.",
                    start=first_day.isoformat(),
                    end=last_day.isoformat(),
                )
            )
        if (last_day - first_day).days > REPORT_MAX_DAYS:
            raise InputError(_("A report covers at most five years. Ask for a shorter period, one at a time."))
        now = self.now()
        async with self.db.reading() as conn:
            settings = await store.get_settings(conn, guild_id)
            zone = settings.zone(self.default_tz)
            starts = datetime.combine(first_day, datetime.min.time(), zone).astimezone(UTC)
            ends = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
            rows = await conn.execute_fetchall(
                """
                SELECT user_id, display_name, talks, minutes FROM (
                    SELECT a.user_id, a.display_name,
                           COUNT(*) OVER member AS talks, SUM(t.duration_min) OVER member AS minutes,
                           -- the name at the latest talk: the name they go by now
                           ROW_NUMBER() OVER (PARTITION BY a.user_id ORDER BY t.start_at DESC, t.id DESC) AS newest
                    FROM attendance a JOIN talks t ON t.id = a.talk_id
                    WHERE a.guild_id = ? AND t.start_at >= ? AND t.start_at < ?
                      AND t.start_at + 60 * t.duration_min <= ?
                    WINDOW member AS (PARTITION BY a.user_id)
                ) AS per_member
                WHERE newest = 1
                ORDER BY lower(display_name), user_id
                """,
                (guild_id, to_unix(starts), to_unix(ends), to_unix(now)),
            )
        return [ReportRow(row[1], row[0], int(row[2]), int(row[3])) for row in rows]


def parse_day(text: str, *, language: str) -> date:
    """A day typed for a report: YYYY-MM-DD, or DD/MM/YYYY as French writes it."""
    raw = text.strip()
    parsed: date | None = None
    try:
        if len(raw) <= 10 and raw.count("-") == 2:
            parsed = date.fromisoformat(raw)
        elif len(raw) <= 10 and raw.count("/") == 2:
            day, month, year = (int(part) for part in raw.split("/"))
            parsed = date(year, month, day)
    except ValueError:
        parsed = None
    if parsed is None:
        example = "01/09/2026" if language == "fr" else "2026-09-01"
        raise InputError(
            _("I could not read `{value}` as a day. Write it as `{example}`.", value=raw[:20], example=example)
        )
    return parsed
