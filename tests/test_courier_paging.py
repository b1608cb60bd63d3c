"""The courier's retry pass with several processes: another shard's rows never hide this process's own."""

from __future__ import annotations

from typing import Any

import pytest

from bot.courier import Courier
from bot.database import Database
from bot.models import Delivery, DeliveryStatus, to_unix
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

MINE, THEIRS = 111, 222


async def test_a_retry_pass_reaches_its_own_rows_behind_a_thousand_of_another_shard(
    db: Database, service: TalkService, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    talks = {
        guild: await service.create_talk(
            guild, 1, TalkInput(title="Sepsis", speaker="Dr. Singer", start="2026-03-14 18:30")
        )
        for guild in (THEIRS, MINE)
    }
    stamp = to_unix(clock.now)
    rows = [(THEIRS, talks[THEIRS].id, member) for member in range(1, 1201)]
    rows += [(MINE, talks[MINE].id, member) for member in range(1, 4)]
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO deliveries (guild_id, talk_id, recipient_type, recipient_id, kind, key, next_attempt_at, "
            "created_at, updated_at) VALUES (?, ?, 'user', ?, 'reminder', 60, ?, ?, ?)",
            [(guild, talk, member, stamp, stamp, stamp) for guild, talk, member in rows],
        )
    courier: Any = Courier(object(), service, owns=lambda guild_id: guild_id == MINE)  # type: ignore[arg-type]
    sent: list[Delivery] = []

    async def record(delivery: Delivery) -> DeliveryStatus:
        sent.append(delivery)
        return DeliveryStatus.SENT

    monkeypatch.setattr(courier, "_send_slot", record)
    assert await courier.retry_due() == 3
    assert {(row.guild_id, row.recipient_id) for row in sent} == {(MINE, 1), (MINE, 2), (MINE, 3)}
