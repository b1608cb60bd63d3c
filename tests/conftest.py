from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.database import Database
from bot.talks import TalkService

PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """A settable clock so rules about "past" and "over" are tested at chosen instants."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "podium.sqlite3")
    yield database
    await database.close()


@pytest.fixture
def service(db: Database, clock: Clock) -> TalkService:
    return TalkService(db, PARIS, clock)
