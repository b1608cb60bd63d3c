"""One pace for every request Podium makes on its own (deliveries, announcement edits)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

# Discord allows 50 requests/s per bot across all routes (interaction answers are exempt); a little below it
# leaves room for the few requests that are not paced (commands' own replies, start-up).
PER_SECOND = 48.0


def share_per_second(settings: Settings) -> float:
    """This process's part of PER_SECOND: its shards' share of the bot's.

    The global limit counts the bot's token, not a process, so processes that each paced at PER_SECOND would
    together exceed it. Discord spreads servers evenly over shards, so a shard's share of the servers (and of
    the fan-out to their members) is about 1 / SHARD_COUNT; the processes' shares add up to PER_SECOND.
    """
    return PER_SECOND * len(settings.own_shards) / settings.total_shards


class Pacer:
    """Spaces requests to stay under Discord's global limit (50 requests/s per bot).

    discord.py waits out 429s, but each 429 uses one of a request's five tries and Discord
    temporarily bans bots that collect too many; pacing the fan-out keeps us under the line instead.
    """

    def __init__(self, per_second: float = PER_SECOND) -> None:
        self.per_second = per_second
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)
