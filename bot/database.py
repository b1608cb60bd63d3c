"""The SQLite connection, its write lock and the numbered schema migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
import stat
import tempfile
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# The database holds members' names, registrations and email addresses: owner-only, like a key file.
PRIVATE_MODE = 0o600
# The files SQLite keeps next to the database. It creates them with the database file's mode.
SIDE_FILES = ("-wal", "-shm", "-journal")


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


class Database:
    """One aiosqlite connection shared by the whole bot.

    Every statement goes through one lock: a transaction spans several awaits, and without the lock
    another coroutine's statement could run inside it on the same connection. SQLite serialises
    writers anyway, so the lock costs nothing and makes check-then-insert (capacity) atomic.
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        if str(path) not in (":memory:", ""):  # "" is SQLite's private temporary database
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            make_private(Path(path))
        connection = await aiosqlite.connect(str(path), isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute("PRAGMA foreign_keys = ON")
        # FULL, not NORMAL: in WAL mode NORMAL survives a process crash but can lose the last commits on
        # power loss, and a registration or an owed message we acknowledged to a member must survive that.
        # The cost is one fsync of the WAL per commit, small at the bot's write rate.
        await connection.execute("PRAGMA synchronous = FULL")
        await connection.execute("PRAGMA busy_timeout = 5000")
        database = cls(connection)
        await database.migrate()
        return database

    async def close(self) -> None:
        await self._conn.close()

    async def schema_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every migration newer than PRAGMA user_version, each in its own transaction."""
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
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: everything inside commits together or not at all."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Reads under the same lock, so they never see another coroutine's half-done transaction."""
        async with self._lock:
            yield self._conn


def _split_sql(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


def make_private(path: Path) -> None:
    """Create the database file as owner-only (0600) if it is missing; tighten it and its side files if wider.

    SQLite creates the -wal, -shm and -journal files with the database file's mode, so a 0600 database
    keeps them 0600 too; side files left over from before (when the database was wider) are tightened here.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, PRIVATE_MODE)  # in case the umask took owner bits away
        finally:
            os.close(fd)
        log.info("Created the database %s (mode 0600)", path)
    for file in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & ~PRIVATE_MODE:
            try:
                os.chmod(file, PRIVATE_MODE)
            except OSError as error:
                log.warning("Cannot make %s private (mode %03o): %s", file, mode, error)
            else:
                log.info("Tightened %s from mode %03o to 0600 (owner-only)", file, mode)


def backup_database(source: Path, target: Path) -> int:
    """Copy the database at ``source`` to ``target`` with SQLite's online backup API; return the page count.

    Safe while the bot writes (WAL readers never block the writer, and the copy is one consistent snapshot).
    The copy is written to a 0600 temporary file next to ``target``, checked with integrity_check, flushed
    to disk and only then renamed into place, so ``target`` is either absent or a complete, valid copy.
    It is a single self-contained file (rollback journal mode); Database.open switches it back to WAL.
    The caller checks that ``target`` does not exist and is not the live database.
    """
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)  # mkstemp creates it 0600; an empty file is an empty SQLite database
    temporary = Path(name)
    try:
        # mode=rw: fail rather than create an empty database if the file vanished since the caller looked.
        uri = f"file:{urllib.parse.quote(str(source.resolve()))}?mode=rw"
        with (
            contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as live,
            contextlib.closing(sqlite3.connect(temporary, timeout=5.0)) as copy,
        ):
            live.backup(copy)  # every page in one step: one read transaction, one snapshot
            copy.execute("PRAGMA journal_mode = DELETE")
            pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(f"the copy failed PRAGMA integrity_check: {problems[0]}")
        os.chmod(temporary, PRIVATE_MODE)
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
        _fsync_folder(target.parent)
    except BaseException:
        for leftover in (temporary, *(Path(f"{temporary}{suffix}") for suffix in SIDE_FILES)):
            leftover.unlink(missing_ok=True)
        raise
    return pages


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: the directory entry lives in the folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename itself already happened
    finally:
        os.close(fd)
