"""The database: one interface over SQLite (the embedded default) and PostgreSQL, and the numbered migrations.

``Database.open`` takes a file path (SQLite through aiosqlite, bot/sqlite_backend.py) or a ``postgresql://`` URL
(asyncpg, bot/postgres_backend.py). Both run the same migrations (bot/migrations/) and the same statements
(bot/sql.py says which SQL they share).
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from importlib import resources
from pathlib import Path

from bot.sql import Connection
from bot.sqlite_files import SIDE_FILES, backup_database, make_private

log = logging.getLogger(__name__)
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("bot.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001, 0002, ... without gaps, found {numbers}")
    return found


class DatabaseUnavailable(Exception):
    """The database could not be reached or opened; the message names it without any secret."""


def is_postgresql_url(target: Path | str) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class Database(ABC):
    """The bot's database, shared by the whole process.

    Write transactions in one process run one at a time (one asyncio lock), as they always have on SQLite,
    so the domain's check-then-write steps keep their single-writer reasoning inside a process. What several
    processes can contend for on PostgreSQL (a talk's seats, an owed message) is held by row locks in the
    statements themselves (``FOR UPDATE``, ``SKIP LOCKED``), never by this lock.
    """

    dialect: str

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @staticmethod
    async def open(target: Path | str, *, pool_size: int = 10) -> Database:
        """Open (creating if needed) and migrate the database at a path or a ``postgresql://`` URL."""
        if is_postgresql_url(target):
            from bot.postgres_backend import PostgresDatabase

            return await PostgresDatabase.connect(str(target), pool_size=pool_size)
        from bot.sqlite_backend import SqliteDatabase

        return await SqliteDatabase.connect(Path(target))

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def migrate(self) -> int:
        """Apply every migration newer than the stored schema version, each in its own transaction."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction: everything inside commits together or not at all."""

    @abstractmethod
    def reading(self) -> AbstractAsyncContextManager[Connection]:
        """Reads that never see a half-done transaction."""


def _split_sql(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


__all__ = [
    "SIDE_FILES",
    "Connection",
    "Database",
    "DatabaseUnavailable",
    "backup_database",
    "is_postgresql_url",
    "make_private",
]
