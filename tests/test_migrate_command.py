"""``python -m bot migrate --to URL``: the SQLite database copied into an empty PostgreSQL one, in one transaction.

The copy is checked table by table against SQLite (every row, bytes and floats included), then read back through
the bot's own service layer on PostgreSQL; the refusals (a target with rows, a missing SQLite file, a URL that is
not PostgreSQL's) change nothing and never print the URL's password.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiosqlite
import asyncpg
import pytest

from bot.database import Database
from bot.feeds import FeedService
from bot.migrate_to_postgres import (
    CountMismatch,
    MigrationError,
    TargetNotEmpty,
    describe_target,
    migrate_to_postgres,
    parents_first,
    quote,
    sqlite_tables,
    url_secrets,
)
from bot.models import RegistrationStatus, Talk
from bot.series import SeriesService
from bot.talks import TalkInput, TalkService
from tests.conftest import PARIS, Clock
from tests.databases import database_target, postgres_only

ROOT = Path(__file__).resolve().parent.parent
GUILD = 111
ORGANIZER = 1
PASSWORD = "s3cret-Pa55word"  # what the CLI tests put in the URL; the test cluster trusts, so any password works
MEMBERS = [1000 + number for number in range(7)]


def now() -> datetime:
    return datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def postgres_target(path: Path) -> str:
    """A PostgreSQL schema of this test's own (dropped after it), as a URL."""
    target = database_target(path)
    assert isinstance(target, str)
    return target


def with_password(url: str) -> tuple[str, str]:
    """The URL with a password in it (the one it has, else PASSWORD), and that password."""
    parts = urlsplit(url)
    if parts.password:
        return url, parts.password
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo or os.environ.get("PGUSER") or getpass.getuser()
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{hosts}")), PASSWORD


# --- the SQLite database to migrate ----------------------------------------------------------------------------


@dataclass
class Source:
    path: Path
    talk: Talk
    series_talks: list[Talk]
    max_ids: dict[str, int]  # the largest id of each table numbered by an identity


async def build_source(path: Path) -> Source:
    """A real database: settings, a series, a talk with confirmed and waitlisted members, outbox rows, a feed
    token and an email code (blobs), REAL times, and names well outside ASCII."""
    db = await Database.open(path)
    try:
        service = TalkService(db, PARIS, Clock(now()))
        await service.update_settings(GUILD, timezone="Europe/Paris")
        series = await SeriesService(service).create(
            GUILD,
            ORGANIZER,
            TalkInput(
                title="Séminaire « Sciences » — 第一", speaker="Dr. 王小明", start="2026-03-10 18:00", capacity=2
            ),
            repeat="weekly",
            count=3,
            until=None,
        )
        talk = await service.create_talk(
            GUILD,
            ORGANIZER,
            TalkInput(
                title="Ünïcödé: Κβαντική 🧪", speaker="Prof. Skłodowska-Curie", start="2026-03-14 18:30", capacity=3
            ),
        )
        for number, user in enumerate(MEMBERS):
            await service.register(GUILD, talk.id, user, f"Membre {number} — Zoë Ørsted")
        await service.register(GUILD, series.talks[0].id, MEMBERS[0], "Zoë")
        await FeedService(service).link(GUILD, MEMBERS[0], reset=False)
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO email_codes (guild_id, user_id, address, code_salt, code_hash, attempts, sent_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                (
                    GUILD,
                    MEMBERS[1],
                    "zoë@example.org",
                    bytes(range(16)),
                    b"\x00\xff" * 16,
                    1_772_366_400,
                    1_772_367_300,
                ),
            )
        max_ids = {}
        async with db.reading() as conn:
            for table in ("talks", "series", "registrations", "deliveries"):
                rows = await conn.execute_fetchall(f"SELECT MAX(id) FROM {table}")
                max_ids[table] = int(rows[0][0])
    finally:
        await db.close()
    return Source(path, talk, series.talks, max_ids)


@pytest.fixture
async def source(tmp_path: Path) -> Source:
    return await build_source(tmp_path / "sqlite" / "podium.sqlite3")


# --- reading both sides ----------------------------------------------------------------------------------------


def sqlite_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({quote(table)})")]
        rows = conn.execute(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)}").fetchall()
    conn.close()
    return sorted(rows, key=repr)


async def postgres_rows(url: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    raw = await asyncpg.connect(url)
    try:
        rows = await raw.fetch(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)}")
    finally:
        await raw.close()
    return sorted((tuple(row) for row in rows), key=repr)


def sqlite_columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({quote(table)})")]
    conn.close()
    return columns


async def postgres_snapshot(url: str, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    raw = await asyncpg.connect(url)
    try:
        return {
            table: sorted((tuple(row) for row in await raw.fetch(f"SELECT * FROM {quote(table)}")), key=repr)
            for table in tables
        }
    finally:
        await raw.close()


def all_tables(path: Path) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        names = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")
        ]
    conn.close()
    return sorted(names)


# --- the command as an operator runs it ------------------------------------------------------------------------


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def output(self) -> str:
        return self.stdout + self.stderr


async def run_migrate(database: Path, *arguments: str) -> Result:
    """``python -m bot migrate ...`` from the project folder, with DATABASE_PATH and without DISCORD_TOKEN."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "DATABASE_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["DATABASE_PATH"] = str(database)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "migrate",
        *arguments,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


def one_error_line(result: Result) -> str:
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


# --- without PostgreSQL: what is refused before connecting, and the pieces -----------------------------------------


@pytest.mark.parametrize(
    "url",
    [f"mysql://root:{PASSWORD}@db.example.org/podium", f"sqlite:///{PASSWORD}.sqlite3", "data/podium.sqlite3", ""],
)
async def test_a_url_that_is_not_postgresql_is_refused_by_argparse(tmp_path: Path, url: str) -> None:
    database = tmp_path / "podium.sqlite3"
    await (await Database.open(database)).close()
    before = database.read_bytes()
    result = await run_migrate(database, "--to", url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "argument --to: must be a postgresql:// URL" in result.stderr
    assert PASSWORD not in result.output()
    assert database.read_bytes() == before


async def test_the_target_is_required(tmp_path: Path) -> None:
    result = await run_migrate(tmp_path / "podium.sqlite3")
    assert result.returncode == 2
    assert "the following arguments are required: --to" in result.stderr


async def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path) -> None:
    database = tmp_path / "nowhere" / "podium.sqlite3"
    result = await run_migrate(database, "--to", f"postgresql://podium:{PASSWORD}@127.0.0.1:1/podium")
    assert result.returncode == 1
    line = one_error_line(result)
    assert f"there is no database at {database}" in line
    assert PASSWORD not in result.output()
    assert not database.parent.exists()


async def test_an_unreachable_postgresql_fails_in_one_line_without_the_password(tmp_path: Path) -> None:
    database = tmp_path / "podium.sqlite3"
    await (await Database.open(database)).close()
    result = await run_migrate(database, "--to", f"postgresql://podium:{PASSWORD}@127.0.0.1:1/podium")
    assert result.returncode == 1
    line = one_error_line(result)
    assert "to 127.0.0.1:1/podium failed" in line
    assert PASSWORD not in result.output()


def test_the_target_is_described_without_user_or_password() -> None:
    assert describe_target("postgresql://podium:pw@db.example.org/podium") == "db.example.org:5432/podium"
    assert describe_target("postgres://u:p%40ss@[::1]:6543/main?search_path=x") == "[::1]:6543/main"
    assert describe_target("postgresql://u@h1:5432,h2:5433/db") == "h1:5432,h2:5433/db"
    assert describe_target("postgresql:///podium?host=/run/postgresql") == "/run/postgresql:5432/podium"
    assert url_secrets("postgresql://u:p%40ssword@h/db") == ["p%40ssword", "p@ssword"]
    assert url_secrets("postgresql://u@h/db?password=hunter22") == ["hunter22"]
    assert url_secrets("postgresql://u@h/db") == []


async def test_tables_are_ordered_parents_first_from_sqlites_foreign_keys(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "podium.sqlite3")
    await db.close()
    async with aiosqlite.connect(tmp_path / "podium.sqlite3") as raw:
        tables = await sqlite_tables(raw)
    assert sorted(tables) == all_tables(tmp_path / "podium.sqlite3")
    assert "attendance" not in tables, "a view, not a table"
    assert not any(table.startswith("sqlite_") for table in tables)
    # series was made after talks (migration 0014), yet talks.series_id points at it.
    assert tables.index("series") < tables.index("talks") < tables.index("registrations")
    assert tables.index("talks") < tables.index("questions") < tables.index("question_votes")
    assert parents_first(["c", "b", "a"], {"a": ["b"], "b": ["c", "b"]}) == ["c", "b", "a"]
    with pytest.raises(MigrationError, match="form a cycle"):
        parents_first(["a", "b"], {"a": ["b"], "b": ["a"]})


# --- with PostgreSQL --------------------------------------------------------------------------------------------


@postgres_only
async def test_every_table_is_copied_and_the_bot_reads_it_on_postgresql(tmp_path: Path, source: Source) -> None:
    target = postgres_target(tmp_path / "target")
    # A target that only has the schema (the bot started on it once, say) is empty too.
    await (await Database.open(target)).close()

    counts = await migrate_to_postgres(source.path, target, batch_rows=3)  # small batches: many per table

    tables = all_tables(source.path)
    assert sorted(counts) == tables
    assert "attendance" not in counts
    for table in tables:
        expected = sqlite_rows(source.path, table)
        assert counts[table] == len(expected), table
        assert await postgres_rows(target, table, sqlite_columns(source.path, table)) == expected, table
    assert counts["registrations"] == len(MEMBERS) + 1
    assert counts["talks"] == 4 and counts["series"] == 1
    assert counts["deliveries"] > 0 and counts["calendar_tokens"] == 1 and counts["email_codes"] == 1

    # The same values, types included: bytes stay bytes, sub-second floats stay exact, names as typed.
    raw = await asyncpg.connect(target)
    try:
        code = await raw.fetchrow("SELECT code_salt, code_hash, address FROM email_codes")
        token = await raw.fetchval("SELECT token_hash FROM calendar_tokens")
        confirmed_at = await raw.fetch(
            "SELECT user_id, confirmed_at FROM registrations WHERE talk_id = $1", source.talk.id
        )
        title = await raw.fetchval("SELECT title FROM talks WHERE id = $1", source.talk.id)
        attendance = sorted(tuple(row) for row in await raw.fetch("SELECT talk_id, user_id FROM attendance"))
    finally:
        await raw.close()
    assert (code["code_salt"], code["code_hash"], code["address"]) == (
        bytes(range(16)),
        b"\x00\xff" * 16,
        "zoë@example.org",
    )
    with sqlite3.connect(f"file:{source.path}?mode=ro", uri=True) as lite:
        assert token == lite.execute("SELECT token_hash FROM calendar_tokens").fetchone()[0]
        assert isinstance(token, bytes) and len(token) == 32
        expected_times = dict(
            lite.execute("SELECT user_id, confirmed_at FROM registrations WHERE talk_id = ?", (source.talk.id,))
        )
        assert sorted(tuple(row) for row in lite.execute("SELECT talk_id, user_id FROM attendance")) == attendance
    lite.close()
    assert {row["user_id"]: row["confirmed_at"] for row in confirmed_at} == expected_times
    assert sum(isinstance(value, float) for value in expected_times.values()) == 3
    assert title == "Ünïcödé: Κβαντική 🧪"

    # The bot's service layer reads the copy as it read the original.
    before = await Database.open(source.path)
    after = await Database.open(target)
    try:
        old, new = TalkService(before, PARIS, Clock(now())), TalkService(after, PARIS, Clock(now()))
        assert await new.upcoming(GUILD, limit=100, public_only=False) == await old.upcoming(
            GUILD, limit=100, public_only=False
        )
        for talk in [source.talk, *source.series_talks]:
            assert await new.get_talk(GUILD, talk.id) == await old.get_talk(GUILD, talk.id)
            assert await new.attendees(talk) == await old.attendees(talk)
        attendees = await new.attendees(source.talk)
        assert [each.status for each in attendees] == [RegistrationStatus.CONFIRMED] * 3 + [
            RegistrationStatus.WAITLISTED
        ] * 4
        assert [each.position for each in attendees if not each.confirmed] == [1, 2, 3, 4]
        assert {each.display_name for each in attendees} == {f"Membre {n} — Zoë Ørsted" for n in range(len(MEMBERS))}
        copied_series = await SeriesService(new).get(GUILD, source.series_talks[0].series_id or 0)
        assert copied_series.talks == [await old.get_talk(GUILD, talk.id) for talk in source.series_talks]

        # New rows are numbered after the copied ones: the identities' sequences were moved past them.
        made = await new.create_talk(GUILD, ORGANIZER, TalkInput(title="After", speaker="X", start="2026-04-01 18:00"))
        assert made.id == source.max_ids["talks"] + 1
        registered = await new.register(GUILD, made.id, 4242, "Nouveau")
        assert registered.registration.id == source.max_ids["registrations"] + 1
        await new.unregister(GUILD, source.talk.id, MEMBERS[0])  # promotes the first on the waitlist
        assert (await new.registration(source.talk, MEMBERS[3])).status is RegistrationStatus.CONFIRMED  # type: ignore[union-attr]
        again = await SeriesService(new).create(
            GUILD,
            ORGANIZER,
            TalkInput(title="S2", speaker="Y", start="2026-05-05 18:00"),
            repeat="weekly",
            count=2,
            until=None,
        )
        assert again.series.id == source.max_ids["series"] + 1
    finally:
        await before.close()
        await after.close()


@postgres_only
async def test_a_second_run_is_refused_and_changes_nothing(tmp_path: Path, source: Source) -> None:
    target = postgres_target(tmp_path / "target")
    first = await migrate_to_postgres(source.path, target)
    tables = sorted(first)
    copied = await postgres_snapshot(target, tables)

    with pytest.raises(TargetNotEmpty) as refused:
        await migrate_to_postgres(source.path, target)
    assert refused.value.table in tables

    url, password = with_password(target)
    result = await run_migrate(source.path, "--to", url)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "the PostgreSQL database is not empty: table " in line and " has rows" in line
    assert password not in result.output()
    assert await postgres_snapshot(target, tables) == copied


@postgres_only
async def test_rows_in_any_podium_table_make_the_target_not_empty(tmp_path: Path, source: Source) -> None:
    target = postgres_target(tmp_path / "target")
    db = await Database.open(target)
    try:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO bot_state (key, value) VALUES ('commands', 'abc')")
    finally:
        await db.close()
    with pytest.raises(TargetNotEmpty) as refused:
        await migrate_to_postgres(source.path, target)
    assert refused.value.table == "bot_state"
    snapshot = await postgres_snapshot(target, all_tables(source.path))
    assert {table: len(rows) for table, rows in snapshot.items() if rows} == {"bot_state": 1}


@postgres_only
async def test_counts_that_differ_roll_the_whole_copy_back(tmp_path: Path, source: Source) -> None:
    target = postgres_target(tmp_path / "target")
    await (await Database.open(target)).close()
    raw = await asyncpg.connect(target)
    try:
        # A target that silently drops one registration, as a stray trigger or rule would.
        await raw.execute(
            "CREATE FUNCTION drop_one() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF NEW.user_id = {MEMBERS[2]} THEN RETURN NULL; END IF; RETURN NEW; END $$"
        )
        await raw.execute(
            "CREATE TRIGGER drop_one BEFORE INSERT ON registrations FOR EACH ROW EXECUTE FUNCTION drop_one()"
        )
    finally:
        await raw.close()

    with pytest.raises(CountMismatch) as mismatch:
        await migrate_to_postgres(source.path, target)
    assert mismatch.value.table == "registrations"
    assert f"has {len(MEMBERS) + 1} rows in SQLite but {len(MEMBERS)} in PostgreSQL" in str(mismatch.value)

    snapshot = await postgres_snapshot(target, all_tables(source.path))
    assert all(rows == [] for rows in snapshot.values()), "nothing of the copy is left"
    # The counts are compared before the sequences move (setval is not undone by a rollback).
    db = await Database.open(target)
    try:
        made = await TalkService(db, PARIS, Clock(now())).create_talk(
            GUILD, ORGANIZER, TalkInput(title="First", speaker="X", start="2026-04-01 18:00")
        )
        assert made.id == 1
    finally:
        await db.close()


@postgres_only
async def test_a_value_postgresql_cannot_take_is_named_and_nothing_is_copied(tmp_path: Path, source: Source) -> None:
    # SQLite keeps 90.5 as a REAL in an INTEGER column; a bigint would have to drop the half.
    with sqlite3.connect(source.path) as lite:
        lite.execute("UPDATE talks SET duration_min = 90.5 WHERE id = ?", (source.talk.id,))
    lite.close()
    target = postgres_target(tmp_path / "target")
    with pytest.raises(MigrationError, match=r"talks\.duration_min holds a float") as refused:
        await migrate_to_postgres(source.path, target)
    assert "90.5" not in str(refused.value)
    snapshot = await postgres_snapshot(target, all_tables(source.path))
    assert all(rows == [] for rows in snapshot.values())


@postgres_only
async def test_a_newer_schema_on_postgresql_is_refused(tmp_path: Path, source: Source) -> None:
    target = postgres_target(tmp_path / "target")
    await (await Database.open(target)).close()
    raw = await asyncpg.connect(target)
    try:
        await raw.execute("UPDATE podium_schema SET version = version + 1")
    finally:
        await raw.close()
    with pytest.raises(MigrationError, match="schema version"):
        await migrate_to_postgres(source.path, target)


@postgres_only
async def test_the_command_migrates_a_large_database_into_a_new_schema(tmp_path: Path, source: Source) -> None:
    # More registrations than one batch (5,000), written as fast as SQLite takes them.
    with sqlite3.connect(source.path) as lite:
        lite.executemany(
            "INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at, confirmed_at)"
            " VALUES (?, ?, ?, ?, 'waitlisted', ?, NULL)",
            [(source.talk.id, GUILD, 50_000 + n, f"Élève {n}", 1_772_366_400 + n) for n in range(12_000)],
        )
    lite.close()
    expected = {table: len(sqlite_rows(source.path, table)) for table in all_tables(source.path)}
    url, password = with_password(postgres_target(tmp_path / "target"))  # a schema that does not exist yet

    result = await run_migrate(source.path, "--to", url)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert password not in result.output()
    summary = result.stderr.strip().splitlines()[-1]
    host = describe_target(url)
    assert f"Migrated {len(expected)} tables, {sum(expected.values())} rows from {source.path} to {host} in " in summary
    assert summary.endswith(" s")
    raw = await asyncpg.connect(url)
    try:
        for table, rows in expected.items():
            assert await raw.fetchval(f"SELECT COUNT(*) FROM {quote(table)}") == rows, table
    finally:
        await raw.close()
