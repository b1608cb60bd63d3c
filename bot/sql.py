"""The one connection interface the domain writes SQL against, whichever engine is underneath.

Podium's SQL is written once, with ``?`` placeholders, in the subset SQLite and PostgreSQL share (``ON CONFLICT``,
``RETURNING``, ``FILTER``, ``CAST``). A statement may end its read of a row it is about to change with
``FOR UPDATE``: PostgreSQL locks the row against other processes, and SQLite, which has no such clause, drops it
(there a write transaction already holds the whole database). Each backend turns a statement into its own
dialect once and caches it (bot/sqlite_backend.py, bot/postgres_backend.py).

Why not SQLAlchemy Core: the statements are already portable SQL, and the ~200 lines here keep them as
they are; Core would rewrite every one of them for no change in behaviour.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from typing import Any, Protocol

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class Row(Protocol):
    """A result row, read by column name or position (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


class Cursor(ABC):
    """The rows a statement returned and how many rows it changed."""

    @property
    @abstractmethod
    def rowcount(self) -> int: ...

    @abstractmethod
    async def fetchone(self) -> Row | None: ...

    @abstractmethod
    async def fetchall(self) -> list[Row]: ...

    async def close(self) -> None:
        return None


class Execution:
    """What ``Connection.execute`` returns: await it for the cursor, or ``async with`` it (aiosqlite's shape)."""

    def __init__(self, run: Callable[[], Awaitable[Cursor]]) -> None:
        self._run = run
        self._cursor: Cursor | None = None

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._run().__await__()

    async def __aenter__(self) -> Cursor:
        self._cursor = await self._run()
        return self._cursor

    async def __aexit__(self, *_: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class Connection(ABC):
    """One connection, inside a transaction (Database.transaction) or reading (Database.reading)."""

    dialect: str

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Execution:
        values = tuple(parameters)
        return Execution(lambda: self._execute(sql, values))

    @abstractmethod
    async def _execute(self, sql: str, parameters: Sequence[Any]) -> Cursor: ...

    @abstractmethod
    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> None: ...


class RowsCursor(Cursor):
    """A cursor over rows already fetched (PostgreSQL's answers arrive whole)."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows: Iterator[Row] = iter(rows)
        self._all = rows
        self._rowcount = rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount

    async def fetchone(self) -> Row | None:
        return next(self._rows, None)

    async def fetchall(self) -> list[Row]:
        return list(self._rows)


_ROW_LOCK = re.compile(r"\s+FOR\s+UPDATE(\s+(SKIP\s+LOCKED|NOWAIT))?\b", re.IGNORECASE)


def without_row_locks(sql: str) -> str:
    """SQLite has no FOR UPDATE; its write transactions hold the whole database instead."""
    return _ROW_LOCK.sub("", sql)


def numbered_placeholders(sql: str) -> str:
    """``?`` to PostgreSQL's ``$1, $2, ...``, leaving quoted strings, identifiers and ``--`` comments alone."""
    out: list[str] = []
    number = 0
    quote: str | None = None
    index = 0
    while index < len(sql):
        char = sql[index]
        if quote is not None:
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
        elif char == "-" and sql.startswith("--", index):
            end = sql.find("\n", index)
            end = len(sql) if end < 0 else end
            out.append(sql[index:end])
            index = end
            continue
        elif char == "?":
            number += 1
            out.append(f"${number}")
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)
