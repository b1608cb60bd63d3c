"""SQLite through aiosqlite: one connection for the whole process, the embedded default."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.database import Database, _migrations, _split_sql
from bot.sql import SQLITE, Connection, Cursor, Row, without_row_locks
from bot.sqlite_files import make_private

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2048)
def _dialect(sql: str) -> str:
    return without_row_locks(sql)


class SqliteCursor(Cursor):
    def __init__(self, cursor: aiosqlite.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchone(self) -> Row | None:
        row: Row | None = await self._cursor.fetchone()
        return row

    async def fetchall(self) -> list[Row]:
        return list(await self._cursor.fetchall())

    async def close(self) -> None:
        await self._cursor.close()


class SqliteConnection(Connection):
    dialect = SQLITE

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw

    async def _execute(self, sql: str, parameters: Sequence[Any]) -> Cursor:
        return SqliteCursor(await self.raw.execute(_dialect(sql), parameters))

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()) -> list[Row]:
        return list(await self.raw.execute_fetchall(_dialect(sql), tuple(parameters)))

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> None:
        await self.raw.executemany(_dialect(sql), parameters)

    async def create_function(self, name: str, arguments: int, function: Callable[..., Any]) -> None:
        await self.raw.create_function(name, arguments, function)


class SqliteDatabase(Database):
    """One aiosqlite connection shared by the whole bot.

    Every statement goes through one lock: a transaction spans several awaits, and without the lock
    another coroutine's statement could run inside it on the same connection. SQLite serialises
    writers anyway, so the lock costs nothing and makes check-then-insert (capacity) atomic.
    """

    dialect = SQLITE

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        super().__init__()
        self._conn = connection
        self._wrapped = SqliteConnection(connection)
        self.path = path

    @classmethod
    async def connect(cls, path: Path) -> SqliteDatabase:
        if str(path) not in (":memory:", ""):  # "" is SQLite's private temporary database
            path.parent.mkdir(parents=True, exist_ok=True)
            make_private(path)
        connection = await aiosqlite.connect(str(path), isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute("PRAGMA foreign_keys = ON")
        # FULL, not NORMAL: in WAL mode NORMAL survives a process crash but can lose the last commits on
        # power loss, and a registration or an owed message we acknowledged to a member must survive that.
        # The cost is one fsync of the WAL per commit, small at the bot's write rate.
        await connection.execute("PRAGMA synchronous = FULL")
        await connection.execute("PRAGMA busy_timeout = 5000")
        database = cls(connection, path)
        await database.migrate()
        return database

    async def close(self) -> None:
        await self._conn.close()

    async def schema_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        async with self._lock:
            current = await self.schema_version()
            for number, name, script in _migrations():
                if number <= current:
                    continue
                log.info("Applying database migration %s", name)
                # executescript would commit on its own; run statements one by one inside BEGIN/COMMIT.
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _split_sql(script):
                        await self._conn.execute(statement)
                    await self._conn.execute(f"PRAGMA user_version = {number:d}")
                    await self._conn.execute("COMMIT")
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                current = number
            return current

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._wrapped
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """Reads under the same lock, so they never see another coroutine's half-done transaction."""
        async with self._lock:
            yield self._wrapped
