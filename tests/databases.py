"""Which database the tests run on: SQLite files, or PostgreSQL when PODIUM_TEST_POSTGRES names a server.

``.ci/test`` runs the whole suite twice, the second time with PODIUM_TEST_POSTGRES set to a throwaway cluster
(.ci/postgres.sh). Each test's SQLite path then stands for a schema of its own in that database, named after
the path, so a test that reopens the same path (a restart) finds its data again; the schemas a test made are
dropped after it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import asyncpg
import pytest

from bot.database import Database
from bot.sql import Row

POSTGRES = os.environ.get("PODIUM_TEST_POSTGRES", "").strip() or None
_made: set[str] = set()

sqlite_only = pytest.mark.skipif(POSTGRES is not None, reason="reads the SQLite file itself")
postgres_only = pytest.mark.skipif(POSTGRES is None, reason="needs PostgreSQL (PODIUM_TEST_POSTGRES, see .ci/test)")


def schema_of(path: Path | str) -> str:
    return "t_" + hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24]


def database_target(path: Path | str) -> Path | str:
    """What to open (or put in DATABASE_URL / DATABASE_PATH) for the database a test keeps at ``path``."""
    if POSTGRES is None:
        return Path(path)
    schema = schema_of(path)
    _made.add(schema)
    return f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}search_path={schema}"


def database_env(path: Path | str) -> dict[str, str]:
    target = database_target(path)
    if isinstance(target, Path):
        return {"DATABASE_PATH": str(target)}
    return {"DATABASE_PATH": str(path), "DATABASE_URL": target}


async def drop_schemas() -> None:
    """Drop the schemas the finished test made (the cluster itself is thrown away after the run)."""
    if POSTGRES is None or not _made:
        return
    made = sorted(_made)
    _made.clear()
    raw = await asyncpg.connect(POSTGRES)
    try:
        for schema in made:
            await raw.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await raw.close()


async def run_sql(path: Path | str, sql: str, parameters: tuple[object, ...] = ()) -> list[Row]:
    """One statement on a test's database from outside the bot (as an operator's shell would), committed."""
    db = await Database.open(database_target(path))
    try:
        async with db.transaction() as conn:
            return await conn.execute_fetchall(sql, parameters)
    finally:
        await db.close()
