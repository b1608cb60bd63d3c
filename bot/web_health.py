"""GET /healthz: whether this process is fit to serve, for a container's health check or a load balancer.

It reports the three things a bot process needs: its gateway connection, its database and its scheduler. It
answers 200 when all three are fine and 503 otherwise, as JSON with no secret, member or server data in it, and
costs one trivial query (bounded by a deadline, so a stuck database answers 503 rather than hanging the probe).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from aiohttp import web

from bot.database import Database

log = logging.getLogger(__name__)

DATABASE_DEADLINE = 2.0  # seconds


@dataclass(frozen=True)
class Health:
    gateway_connected: bool
    gateway_latency_ms: int | None
    database_reachable: bool
    scheduler_running: bool
    scheduled_jobs: int

    @property
    def ok(self) -> bool:
        return self.gateway_connected and self.database_reachable and self.scheduler_running

    def payload(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "unhealthy", **asdict(self)}


async def database_reachable(db: Database, deadline: float = DATABASE_DEADLINE) -> bool:
    try:
        async with asyncio.timeout(deadline), db.reading() as conn:
            rows = list(await conn.execute_fetchall("SELECT 1"))
    except Exception as error:
        log.warning("Health check: the database did not answer (%s)", type(error).__name__)
        return False
    return bool(rows)


Probe = Callable[[], Awaitable[Health]]


def add_routes(app: web.Application, probe: Probe) -> None:
    async def healthz(request: web.Request) -> web.Response:
        health = await probe()
        return web.Response(
            status=200 if health.ok else 503,
            text=json.dumps(health.payload(), sort_keys=True),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    app.router.add_get("/healthz", healthz)
