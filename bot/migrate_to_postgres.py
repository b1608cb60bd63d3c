"""``python -m bot migrate --to postgresql://...``: copy the SQLite database into an empty PostgreSQL database.

Both sides are first brought to the latest schema by ``Database.open`` (the same migrations the bot runs), so
they have the same tables and columns. Every table is then copied, parents before children (from SQLite's
foreign keys), with binary COPY, in ONE PostgreSQL transaction: a migration that fails half-way, or whose row
counts do not match, leaves PostgreSQL exactly as it was. SQLite is read in one snapshot, in batches, so the
counts compared are those of the rows copied and memory stays bounded whatever the database's size.

The target's URL may carry a password: it is logged as host:port/dbname only, and redacted from every line.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from bot.database import Database, DatabaseUnavailable
from bot.database_urls import describe_target, url_secrets
from bot.logs import setup_logging
from bot.postgres_backend import PostgresDatabase
from bot.settings import load_database_path
from bot.sqlite_backend import SqliteConnection, SqliteDatabase

log = logging.getLogger(__name__)

EXIT_MIGRATE_FAILED = 1
# Rows read from SQLite at a time: bounds the memory of a 200,000-registration database to one batch, while
# asyncpg streams what it has encoded to the server in chunks of its own.
BATCH_ROWS = 5000
# How long to wait for the target's tables: a bot still running on them should make the command fail, not hang.
LOCK_TIMEOUT = "10s"


class MigrationError(Exception):
    """Why nothing was migrated, as one line for the operator; PostgreSQL's data is as it was."""


class TargetNotEmpty(MigrationError):
    def __init__(self, table: str) -> None:
        super().__init__(
            f"the PostgreSQL database is not empty: table {table} has rows; "
            "migrate only into a new, empty database (or a new schema, with ?search_path=...)."
        )
        self.table = table


class CountMismatch(MigrationError):
    def __init__(self, table: str, sqlite_rows: int, postgres_rows: int) -> None:
        super().__init__(
            f"table {table} has {sqlite_rows} rows in SQLite but {postgres_rows} in PostgreSQL after copying; "
            "the copy was rolled back."
        )
        self.table = table


# --- what to copy, and in which order -------------------------------------------------------------------------------


def quote(identifier: str) -> str:
    """An identifier as both SQLite and PostgreSQL read it (event_interest has a column named "left")."""
    return '"' + identifier.replace('"', '""') + '"'


def parents_first(tables: Sequence[str], parents: Mapping[str, Iterable[str]]) -> list[str]:
    """``tables`` ordered so that every table comes after the tables its foreign keys point at.

    PostgreSQL checks a foreign key at the end of each COPY, so a child copied before its parent would be
    refused. Among tables that are ready at the same time the order is by name, so every run is the same.
    """
    known = set(tables)
    waiting = {
        table: {parent for parent in parents.get(table, ()) if parent in known and parent != table} for table in tables
    }
    ordered: list[str] = []
    while waiting:
        ready = sorted(table for table, needs in waiting.items() if not needs)
        if not ready:
            raise MigrationError(f"the foreign keys of the tables {', '.join(sorted(waiting))} form a cycle.")
        for table in ready:
            ordered.append(table)
            del waiting[table]
        for needs in waiting.values():
            needs.difference_update(ready)
    return ordered


async def sqlite_tables(raw: aiosqlite.Connection) -> list[str]:
    """Every table of the SQLite database, parents first; not views (attendance), not SQLite's own tables."""
    rows = await raw.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name"
    )
    tables = [str(row[0]) for row in rows]
    # SQLite matches a REFERENCES clause's table name without regard to case; so does this.
    by_lower = {table.lower(): table for table in tables}
    parents: dict[str, list[str]] = {}
    for table in tables:
        references = await raw.execute_fetchall('SELECT "table" FROM pragma_foreign_key_list(?)', (table,))
        parents[table] = [by_lower.get(str(row[0]).lower(), str(row[0])) for row in references]
    return parents_first(tables, parents)


@dataclass(frozen=True)
class TargetColumn:
    name: str
    data_type: str
    identity: bool  # numbered by a sequence, which must be moved past the copied ids


async def postgres_columns(raw: asyncpg.Connection) -> dict[str, dict[str, TargetColumn]]:
    """The columns of each table of the target's current schema (the one ``?search_path=`` names, if any)."""
    rows = await raw.fetch(
        "SELECT table_name, column_name, data_type,"
        " (is_identity = 'YES' OR coalesce(column_default, '') LIKE 'nextval(%') AS numbered"
        " FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    tables: dict[str, dict[str, TargetColumn]] = {}
    for row in rows:
        column = TargetColumn(str(row["column_name"]), str(row["data_type"]), bool(row["numbered"]))
        tables.setdefault(str(row["table_name"]), {})[column.name] = column
    return tables


# --- values ---------------------------------------------------------------------------------------------------------

Convert = Callable[[Any], Any]


class _Unfit(Exception):
    """A value the PostgreSQL column's type cannot take."""


def _to_integer(value: Any) -> Any:
    if value is None or type(value) is int:
        return value
    # A whole float fits (a column SQLite did not declare INTEGER may hold one); a fraction would be lost: refused.
    if type(value) is float and value.is_integer():
        return int(value)
    raise _Unfit


def _to_double(value: Any) -> Any:
    # SQLite can hold an int where PostgreSQL has double precision (a column without REAL affinity, a REAL written
    # by hand); asyncpg's encoder wants a float.
    if value is None or type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _Unfit


def _to_bytes(value: Any) -> Any:
    if value is None or type(value) is bytes:
        return value
    if type(value) is str:  # what SQLite's CAST(x AS BLOB) gives
        return value.encode("utf-8")
    raise _Unfit


def _to_text(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    if type(value) is int:  # what SQLite's CAST(x AS TEXT) gives; a float's text would differ from SQLite's
        return str(value)
    raise _Unfit


_CONVERTERS: dict[str, Convert] = {
    "bigint": _to_integer,
    "integer": _to_integer,
    "smallint": _to_integer,
    "double precision": _to_double,
    "real": _to_double,
    "bytea": _to_bytes,
    "text": _to_text,
    "character varying": _to_text,
}


def _keep(value: Any) -> Any:
    return value


async def _records(
    raw: aiosqlite.Connection, table: str, columns: Sequence[TargetColumn], batch_rows: int
) -> AsyncGenerator[tuple[Any, ...], None]:
    """The table's rows, as the target's column types take them, read ``batch_rows`` at a time."""
    converters = [_CONVERTERS.get(column.data_type, _keep) for column in columns]
    select = f"SELECT {', '.join(quote(column.name) for column in columns)} FROM {quote(table)}"  # noqa: S608 - quoted catalogue names
    read = 0
    async with raw.execute(select) as cursor:
        while batch := await cursor.fetchmany(batch_rows):
            for row in batch:
                read += 1
                try:
                    yield tuple(convert(value) for convert, value in zip(converters, row, strict=True))
                except _Unfit:
                    # Which column and row, never the value: it may be a member's personal data.
                    raise MigrationError(_unfit_message(table, columns, converters, row, read)) from None


def _unfit_message(
    table: str, columns: Sequence[TargetColumn], converters: Sequence[Convert], row: Any, read: int
) -> str:
    for column, convert, value in zip(columns, converters, row, strict=True):
        try:
            convert(value)
        except _Unfit:
            return (
                f"{table}.{column.name} holds a {type(value).__name__} in row {read} (in the order read), "
                f"which a PostgreSQL {column.data_type} column cannot take; fix that row in SQLite first."
            )
    return f"a value of row {read} of {table} does not fit PostgreSQL's columns."


# --- the migration ------------------------------------------------------------------------------------------------


async def migrate_to_postgres(sqlite_path: Path, url: str, *, batch_rows: int = BATCH_ROWS) -> dict[str, int]:
    """Copy the SQLite database at ``sqlite_path`` into the empty PostgreSQL database at ``url``.

    Returns the number of rows of each table copied. Raises MigrationError, with PostgreSQL's data left as it
    was, when there is no SQLite file, the target has rows, the two schemas differ, or the counts do not match
    after copying; asyncpg's, SQLite's and the network's errors are not caught here, and leave it as it was too.
    """
    if not await asyncio.to_thread(sqlite_path.is_file):
        # Checked before opening: Database.open would create an empty database there.
        raise MigrationError(
            f"there is no database at {sqlite_path}; set DATABASE_PATH (environment or .env) to the bot's database."
        )
    started = time.monotonic()
    label = describe_target(url)
    log.info("Migrating %s to PostgreSQL at %s", sqlite_path, label)
    target = await Database.open(url, pool_size=2)
    try:
        source = await Database.open(sqlite_path)
        try:
            assert isinstance(source, SqliteDatabase) and isinstance(target, PostgresDatabase)
            counts = await _copy(source, target, batch_rows)
        finally:
            await source.close()
    finally:
        await target.close()
    log.info(
        "Migrated %d tables, %d rows from %s to %s in %.1f s",
        len(counts),
        sum(counts.values()),
        sqlite_path,
        label,
        time.monotonic() - started,
    )
    return counts


async def _copy(source: SqliteDatabase, target: PostgresDatabase, batch_rows: int) -> dict[str, int]:
    sqlite_version, postgres_version = await source.schema_version(), await target.schema_version()
    if sqlite_version != postgres_version:
        # Only when PostgreSQL was made by a newer Podium: Database.open brought both up to this one's migrations.
        raise MigrationError(
            f"the SQLite database is at schema version {sqlite_version} and PostgreSQL at {postgres_version}; "
            "run the migration with the Podium version that made the PostgreSQL database, into an empty one."
        )
    async with source.reading() as conn:
        assert isinstance(conn, SqliteConnection)
        sqlite = conn.raw
        # One read transaction: every table is read from the same snapshot, and counted in it.
        await sqlite.execute("BEGIN")
        try:
            return await _copy_snapshot(sqlite, target, batch_rows)
        finally:
            await sqlite.execute("ROLLBACK")


async def _copy_snapshot(sqlite: aiosqlite.Connection, target: PostgresDatabase, batch_rows: int) -> dict[str, int]:
    tables = await sqlite_tables(sqlite)
    orphan = next(iter(await sqlite.execute_fetchall("PRAGMA foreign_key_check")), None)
    if orphan is not None:
        raise MigrationError(
            f"a row of {orphan[0]} (rowid {orphan[1]}) points at a row of {orphan[2]} that does not exist; "
            "PostgreSQL would refuse it: fix or delete it in SQLite first."
        )
    async with target.raw_transaction() as raw:
        target_tables = await postgres_columns(raw)
        missing = [table for table in tables if table not in target_tables]
        if missing:
            raise MigrationError(f"the PostgreSQL database has no table {missing[0]}, which SQLite has.")
        await raw.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        try:
            # Nobody can write to them until this transaction ends, so "empty" stays true while we copy.
            await raw.execute(f"LOCK TABLE {', '.join(quote(table) for table in tables)} IN EXCLUSIVE MODE")
        except asyncpg.LockNotAvailableError:
            raise MigrationError(
                "the PostgreSQL tables are in use (is a bot running on that database?); stop it and try again."
            ) from None
        for table in tables:
            if await raw.fetchval(f"SELECT EXISTS (SELECT 1 FROM {quote(table)})"):  # noqa: S608 - quoted catalogue names
                raise TargetNotEmpty(table)

        for table in tables:
            await _copy_table(sqlite, raw, table, target_tables[table], batch_rows)
        counts: dict[str, int] = {}
        for table in tables:
            count = f"SELECT COUNT(*) FROM {quote(table)}"  # noqa: S608 - quoted catalogue names
            sqlite_rows = int(next(iter(await sqlite.execute_fetchall(count)))[0])
            postgres_rows = int(await raw.fetchval(count))
            if sqlite_rows != postgres_rows:
                raise CountMismatch(table, sqlite_rows, postgres_rows)  # leaving the block rolls back
            counts[table] = postgres_rows
        # New rows must be numbered after the copied ones (COPY gave the ids, not the sequences). After the
        # counts: setval is not undone by a rollback, so a refused copy leaves the sequences as they were.
        for table in tables:
            for column in target_tables[table].values():
                if column.identity:
                    maximum = f"COALESCE(MAX({quote(column.name)}), 0) + 1"
                    renumber = f"SELECT setval(pg_get_serial_sequence($1, $2), {maximum}, false) FROM {quote(table)}"  # noqa: S608 - quoted catalogue names
                    await raw.execute(renumber, quote(table), column.name)
        return counts


async def _copy_table(
    sqlite: aiosqlite.Connection,
    raw: asyncpg.Connection,
    table: str,
    target: Mapping[str, TargetColumn],
    batch_rows: int,
) -> None:
    names = [str(row[0]) for row in await sqlite.execute_fetchall("SELECT name FROM pragma_table_info(?)", (table,))]
    columns = [target[name] for name in names if name in target]
    left_out = [name for name in names if name not in target]
    if left_out:
        log.warning("Not copying %s.%s: PostgreSQL's table has no such column", table, ", ".join(left_out))
    async with aclosing(_records(sqlite, table, columns, batch_rows)) as records:
        status = await raw.copy_records_to_table(table, records=records, columns=[column.name for column in columns])
    log.debug("Copied %s: %s", table, status)


# --- the command ----------------------------------------------------------------------------------------------------


def command(url: str) -> int:
    """``python -m bot migrate --to URL``: needs DATABASE_PATH (read as ``backup`` reads it), not the token."""
    setup_logging("INFO", *url_secrets(url))
    database = load_database_path()
    try:
        asyncio.run(migrate_to_postgres(database, url))
    except MigrationError as error:
        log.error("Nothing was migrated: %s", error)
        return EXIT_MIGRATE_FAILED
    except DatabaseUnavailable as error:
        log.error(
            "Migration of %s to %s failed, PostgreSQL's data is as it was: %s", database, describe_target(url), error
        )
        return EXIT_MIGRATE_FAILED
    except (asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error, OSError, TimeoutError) as error:
        detail = getattr(error, "detail", None)
        reason = " ".join(f"{type(error).__name__}: {error}{f' ({detail})' if detail else ''}".split())
        log.error(
            "Migration of %s to %s failed, PostgreSQL's data is as it was: %s", database, describe_target(url), reason
        )
        return EXIT_MIGRATE_FAILED
    return 0
