"""One pace for every request Podium makes on its own (deliveries, announcement edits)."""

from __future__ import annotations

import asyncio
import time

# Discord allows 50 requests/s per bot across all routes (interaction answers are exempt); a little below it
# leaves room for the few requests that are not paced (commands' own replies, start-up).
PER_SECOND = 48.0


class Pacer:
    """Spaces requests to stay under Discord's global limit (50 requests/s per bot).

    discord.py waits out 429s, but each 429 uses one of a request's five tries and Discord
    temporarily bans bots that collect too many; pacing the fan-out keeps us under the line instead.
    """

    def __init__(self, per_second: float = PER_SECOND) -> None:
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
