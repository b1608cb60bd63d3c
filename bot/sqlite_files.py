"""The SQLite database file: owner-only modes and the online backup (``python -m bot backup``)."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import tempfile
import urllib.parse
from pathlib import Path

log = logging.getLogger(__name__)
# The database holds members' names, registrations and email addresses: owner-only, like a key file.
PRIVATE_MODE = 0o600
# The files SQLite keeps next to the database. It creates them with the database file's mode.
SIDE_FILES = ("-wal", "-shm", "-journal")


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
