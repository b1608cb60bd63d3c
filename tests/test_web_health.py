"""GET /healthz with the real bot against the emulator: 200 when the gateway, the database and the scheduler are
fine, 503 (and which part) when one is not, and nothing secret in the answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.database import Database
from bot.web_health import database_reachable
from tests.databases import database_target
from tests.emulator import DiscordEmulator
from tests.harness import School
from tests.web_helpers import WebSide, web_bot


@pytest.fixture
async def web(emu: DiscordEmulator, school: School, tmp_path: Path) -> AsyncIterator[WebSide]:
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as side:
        yield side


async def test_a_healthy_process_answers_200(emu: DiscordEmulator, web: WebSide) -> None:
    status, body, headers = await web.get("/healthz")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert headers["Cache-Control"] == "no-store"
    report = json.loads(body)
    assert report["status"] == "ok"
    assert report["gateway_connected"] is True and report["database_reachable"] is True
    assert report["scheduler_running"] is True and report["scheduled_jobs"] >= 2  # planning and retries
    assert isinstance(report["gateway_latency_ms"], int | None)
    assert emu.token not in body.decode() and str(web.bot.settings.database_path) not in body.decode()


async def test_a_paused_scheduler_or_a_lost_gateway_answers_503(emu: DiscordEmulator, web: WebSide) -> None:
    web.bot.scheduler.scheduler.pause()
    status, body, _ = await web.get("/healthz")
    assert status == 503
    report = json.loads(body)
    assert report["status"] == "unhealthy" and report["scheduler_running"] is False
    assert report["gateway_connected"] is True  # only the failing part is reported as failing
    web.bot.scheduler.scheduler.resume()
    assert (await web.get("/healthz"))[0] == 200
    # The gateway connection is closed (Discord restarting, a network cut): 503 until the bot has reconnected.
    websocket = web.bot.ws
    web.bot.ws = None  # type: ignore[assignment]  # what the bot holds between two connections
    try:
        status, body, _ = await web.get("/healthz")
    finally:
        web.bot.ws = websocket
    assert status == 503 and json.loads(body)["gateway_connected"] is False
    assert json.loads(body)["gateway_latency_ms"] is None


async def test_an_unreachable_database_is_reported(tmp_path: Path) -> None:
    db = await Database.open(database_target(tmp_path / "podium.sqlite3"))
    assert await database_reachable(db) is True
    await db.close()
    assert await database_reachable(db) is False
