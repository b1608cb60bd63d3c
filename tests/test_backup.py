"""Durability and backups: owner-only database files, ``python -m bot backup PATH`` while the bot writes, restore."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.database import Database
from bot.settings import load_database_path
from bot.talks import TalkInput, TalkService
from tests.conftest import PARIS, Clock
from tests.databases import sqlite_only

ROOT = Path(__file__).resolve().parent.parent
GUILD = 111
ORGANIZER = 1


pytestmark = sqlite_only  # the backup command copies the SQLite file


def now() -> datetime:
    return datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def live_path(tmp_path: Path) -> Path:
    return tmp_path / "live" / "podium.sqlite3"


# Small synchronous file helpers: the tests are async, and touching a tmp folder from them is harmless.
def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def exists(path: Path | str) -> bool:
    return Path(path).exists()


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def write(path: Path | str, text: str) -> None:
    Path(path).write_text(text)


def side(path: Path, suffix: str) -> Path:
    return Path(f"{path}{suffix}")


def remove_side_files(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        side(path, suffix).unlink(missing_ok=True)


def talk_input(number: int) -> TalkInput:
    return TalkInput(title=f"Talk {number}", speaker="Prof. Curie", start="2026-03-14 18:30")


def relative_to_root(path: Path) -> str:
    return os.path.relpath(path, ROOT)


def all_files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def run_backup(target: Path | str, database: Path, database_url: str | None = None) -> Result:
    """``python -m bot backup TARGET`` as an operator runs it: from the project folder, without DISCORD_TOKEN."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "DATABASE_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["DATABASE_PATH"] = str(database)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "backup",
        str(target),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common 022 umask, under which files are world-readable unless the code says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
async def live(tmp_path: Path, usual_umask: None) -> AsyncIterator[Database]:
    database = await Database.open(live_path(tmp_path))
    yield database
    await database.close()


# --- (a) file modes and durability settings -------------------------------------------------------------------


async def test_fresh_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path, usual_umask: None) -> None:
    path = tmp_path / "data" / "podium.sqlite3"
    db = await Database.open(path)
    try:
        await TalkService(db, PARIS, Clock(now())).create_talk(GUILD, ORGANIZER, talk_input(1))
        wal, shm = side(path, "-wal"), side(path, "-shm")
        assert exists(wal) and exists(shm), "WAL mode keeps -wal and -shm while a connection is open"
        assert {file.name: mode(file) for file in (path, wal, shm)} == {
            path.name: 0o600,
            wal.name: 0o600,
            shm.name: 0o600,
        }
    finally:
        await db.close()


async def test_existing_wider_files_are_tightened_and_logged(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "podium.sqlite3"
    # A database from before this change: 0644, opened in WAL mode by another connection, so -wal/-shm exist too.
    other = sqlite3.connect(path)
    try:
        other.execute("PRAGMA journal_mode = WAL")
        other.execute("CREATE TABLE earlier (x INTEGER)")
        other.commit()
        files = [path, side(path, "-wal"), side(path, "-shm")]
        assert [mode(file) for file in files] == [0o644, 0o644, 0o644]
        with caplog.at_level(logging.INFO, logger="bot.sqlite_files"):
            db = await Database.open(path)
        try:
            assert [mode(file) for file in files] == [0o600, 0o600, 0o600]
            assert f"Tightened {path} from mode 644 to 0600" in caplog.text
        finally:
            await db.close()
    finally:
        other.close()


async def test_private_file_is_left_alone_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "podium.sqlite3"
    await (await Database.open(path)).close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.sqlite_files"):
        db = await Database.open(path)
    await db.close()
    assert mode(path) == 0o600
    assert "Tightened" not in caplog.text
    assert "Created" not in caplog.text


async def test_commits_are_fsynced_and_memory_still_works() -> None:
    db = await Database.open(":memory:")
    try:
        async with db.reading() as conn, conn.execute("PRAGMA synchronous") as cursor:
            row = await cursor.fetchone()
        assert row is not None and row[0] == 2  # FULL
        assert await db.schema_version() > 0
    finally:
        await db.close()
    assert not exists(":memory:")


def test_database_path_without_token(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    assert load_database_path({}, None) == Path("data/podium.sqlite3")
    env_file.write_text("DATABASE_PATH=/srv/podium/db.sqlite3\n")
    assert load_database_path({}, env_file) == Path("/srv/podium/db.sqlite3")
    assert load_database_path({"DATABASE_PATH": "from-env.sqlite3"}, env_file) == Path("from-env.sqlite3")
    assert load_database_path({"DATABASE_PATH": "  "}, None) == Path("data/podium.sqlite3")


# --- (b) backup while the bot writes, (c) restore ----------------------------------------------------------------


async def test_backup_while_writing_then_restore(tmp_path: Path, live: Database, usual_umask: None) -> None:
    service = TalkService(live, PARIS, Clock(now()))
    before = [await service.create_talk(GUILD, ORGANIZER, talk_input(number)) for number in range(5)]
    registered = await service.register(GUILD, before[0].id, 42, "Marie")

    written = 0
    stop = asyncio.Event()

    async def keep_writing() -> None:
        nonlocal written
        while not stop.is_set():
            talk = await service.create_talk(GUILD, ORGANIZER, talk_input(100 + written))
            await service.register(GUILD, talk.id, 7, "Pierre")
            written += 1

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    started_at = written
    (tmp_path / "backups").mkdir()
    target = tmp_path / "backups" / "podium-2026-03-01.sqlite3"
    result = await run_backup(target, live_path(tmp_path))
    during = written - started_at
    stop.set()
    await writer

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert f"to {target} (" in result.stderr and "pages)" in result.stderr
    assert during > 0, "the writer must have kept committing while the backup ran"
    assert mode(target) == 0o600
    assert names(target.parent) == [target.name], "no temporary file left"

    with sqlite3.connect(f"file:{target}?mode=ro", uri=True) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",), "a single self-contained file"
        copied = copy.execute("SELECT COUNT(*) FROM talks").fetchone()[0]
    copy.close()
    assert len(before) <= copied <= len(before) + written

    # Restore as the README says: stop the bot, put the copy in place, delete stale -wal/-shm, start.
    await live.close()
    path = live_path(tmp_path)
    path.unlink()
    shutil.copyfile(target, path)  # like `cp` to a new file: it comes back 0644 under the usual umask
    assert mode(path) == 0o644
    remove_side_files(path)
    restored = await Database.open(path)
    try:
        assert mode(path) == 0o600
        again = TalkService(restored, PARIS, Clock(now()))
        for talk in before:
            assert await again.get_talk(GUILD, talk.id) == talk
        registration = await again.registration(before[0], 42)
        assert registration is not None
        assert registration.status == registered.registration.status
        assert len(await again.upcoming(GUILD, limit=10_000, public_only=False)) == copied
    finally:
        await restored.close()


async def test_backup_of_a_stopped_bot_leaves_no_side_files(tmp_path: Path, usual_umask: None) -> None:
    path = tmp_path / "podium.sqlite3"
    db = await Database.open(path)
    await TalkService(db, PARIS, Clock(now())).create_talk(GUILD, ORGANIZER, talk_input(1))
    await db.close()
    target = tmp_path / "copy.sqlite3"
    result = await run_backup(target, path)
    assert result.returncode == 0, result.stderr
    assert names(tmp_path) == ["copy.sqlite3", "podium.sqlite3"]
    assert mode(target) == 0o600


# --- (d) refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("exists", "already exists"),
        ("live", "is the live database"),
        ("live-wal", "is the live database"),
        ("live-journal", "is the live database"),
        ("live-relative", "is the live database"),
        ("no-database", "there is no database at"),
        ("no-folder", "does not exist; create it first"),
        ("on-postgresql", "the bot's data is in PostgreSQL, not in DATABASE_PATH; back it up with pg_dump"),
    ],
)
async def test_refusals_are_one_line_and_write_nothing(
    tmp_path: Path, live: Database, case: str, fragment: str
) -> None:
    database = live_path(tmp_path)
    target: Path | str = tmp_path / "backup.sqlite3"
    if case == "exists":
        write(target, "an older backup")
    elif case == "live":
        target = database
    elif case == "live-wal":
        target = side(database, "-wal")
    elif case == "live-journal":
        target = side(database, "-journal")  # a copy there would be taken for a hot journal of the live database
    elif case == "live-relative":
        target = relative_to_root(database)
    elif case == "no-database":
        database = tmp_path / "elsewhere" / "podium.sqlite3"
    elif case == "no-folder":
        target = tmp_path / "backups" / "backup.sqlite3"
    files = all_files(tmp_path)
    contents = {path: path.read_bytes() for path in files if path.is_file() and not path.name.endswith("-shm")}

    url = "postgresql://podium:s3cret-pass@db.example:5432/podium" if case == "on-postgresql" else None
    result = await run_backup(target, database, url)

    assert result.returncode == 2
    assert "s3cret" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("podium: ")
    assert fragment in lines[0]
    assert all_files(tmp_path) == files, "no temporary file, no new database"
    for path, content in contents.items():
        assert path.read_bytes() == content


async def test_failed_backup_leaves_nothing_behind(tmp_path: Path) -> None:
    not_a_database = tmp_path / "podium.sqlite3"
    not_a_database.write_bytes(b"this is not SQLite" * 100)
    target = tmp_path / "backup.sqlite3"
    result = await run_backup(target, not_a_database)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Backup of" in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert names(tmp_path) == ["podium.sqlite3"]
