from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import vobject.icalendar

from bot.client import PodiumBot
from bot.database import Database
from bot.talks import TalkService
from tests.databases import database_target, drop_schemas
from tests.emulator import DiscordEmulator
from tests.harness import School, build_school, running_bot

PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """A settable clock so rules about "past" and "over" are tested at chosen instants."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def fresh_vobject_zones() -> Iterator[None]:
    """vobject keeps the first VTIMEZONE it reads for a TZID for the whole process, and Podium's VTIMEZONEs
    cover only the years around their talks: without this, a file read by one test would give another test's
    file the offsets of other years."""
    zones: dict[str, object] = vars(vobject.icalendar)["__tzidMap"]
    kept = dict(zones)
    zones.clear()
    zones.update({name: zone for name, zone in kept.items() if name == "UTC"})
    yield
    zones.clear()
    zones.update(kept)


@pytest.fixture(autouse=True)
async def fresh_postgres_schemas() -> AsyncIterator[None]:
    yield
    await drop_schemas()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(database_target(tmp_path / "podium.sqlite3"))
    yield database
    await database.close()


@pytest.fixture
def service(db: Database, clock: Clock) -> TalkService:
    return TalkService(db, PARIS, clock)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(latency=0.02) as emulator:
        yield emulator


@pytest.fixture
async def school(emu: DiscordEmulator) -> School:
    return build_school(emu)


@pytest.fixture
async def bot(emu: DiscordEmulator, school: School, tmp_path: Path) -> AsyncIterator[PodiumBot]:
    async with running_bot(emu, tmp_path / "podium.sqlite3", DEV_GUILD_ID=str(school.guild_id)) as running:
        yield running
