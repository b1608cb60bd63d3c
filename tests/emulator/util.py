"""Small asyncio helpers shared by the emulator modules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Notifier:
    """Wakes waiters whenever some state changed; waiters re-check their own predicate.

    ``notify`` is synchronous so that it can be called from plain state-mutating code.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float,
        what: Callable[[], str] | str,
    ) -> T:
        """Returns the first truthy value of ``predicate()``; raises TimeoutError describing ``what``."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._event
                    result = predicate()
                    if result:
                        return result
                    await event.wait()
        except TimeoutError:
            description = what() if callable(what) else what
            raise TimeoutError(f"timed out after {timeout}s waiting for {description}") from None
