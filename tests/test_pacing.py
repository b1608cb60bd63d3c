"""Each process paces at its shards' share of Discord's global limit, which counts the bot, not the process."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.client import make_bot
from bot.database import Database
from bot.pacing import PER_SECOND, share_per_second
from bot.settings import Settings, load_settings


def settings_with(**shards: str) -> Settings:
    return load_settings({"DISCORD_TOKEN": "x", **shards}, env_file=None)


@pytest.mark.parametrize(
    ("shards", "per_second"),
    [
        ({}, 48.0),  # unsharded: the whole budget
        ({"SHARD_COUNT": "4"}, 48.0),  # every shard in one process
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0-1"}, 24.0),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2-3"}, 24.0),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3"}, 12.0),
        ({"SHARD_COUNT": "3", "SHARD_IDS": "0,2"}, 32.0),
    ],
)
def test_a_process_paces_at_its_shards_share(shards: dict[str, str], per_second: float) -> None:
    assert share_per_second(settings_with(**shards)) == pytest.approx(per_second)


def test_the_processes_of_one_bot_add_up_to_the_whole_budget() -> None:
    blocks = ("0-1", "2", "3")
    total = sum(share_per_second(settings_with(SHARD_COUNT="4", SHARD_IDS=block)) for block in blocks)
    assert total == pytest.approx(PER_SECOND)


async def test_the_bot_sends_at_its_share(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "podium.sqlite3")
    try:
        bot = make_bot(settings_with(SHARD_COUNT="4", SHARD_IDS="0-1"), db)
        assert bot.pacer.per_second == pytest.approx(24.0)
        assert bot.pacer.interval == pytest.approx(1 / 24)
        # One pacer for all the bot's own sends: deliveries and announcement edits share the one budget.
        assert bot.courier._pacer is bot.pacer and bot.announcer._pacer is bot.pacer
        unsharded = make_bot(settings_with(), db)
        assert unsharded.pacer.per_second == pytest.approx(PER_SECOND)
    finally:
        await db.close()
