"""Group commit: requests that arrive while a transaction is running are handled together in the next one.

When hundreds of members press Register in the same second, each transaction costs a commit (an fsync) and
several trips to the database thread, and they queue behind one another; one transaction for all the requests
waiting at that moment keeps the last member's answer close to the first one's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")

# Each request of a batch gets its result or the exception that concerns it alone.
Handler = Callable[[Sequence[Request]], Awaitable[Sequence[Result | Exception]]]


class Batcher(Generic[Request, Result]):
    """Runs ``handler`` on the requests waiting at that moment (at most ``limit``), in arrival order."""

    def __init__(self, handler: Handler[Request, Result], *, limit: int = 200) -> None:
        self._handler = handler
        self._limit = limit
        self._waiting: list[tuple[Request, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="batch")
        return await future

    async def _work(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._limit], self._waiting[self._limit :]
            try:
                results = await self._handler([request for request, _ in batch])
            except Exception as error:  # the whole batch was rolled back: every request learns why
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller gave up waiting; the work is committed all the same
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
