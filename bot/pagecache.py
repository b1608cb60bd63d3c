"""Rendered feeds and pages, kept until their server's data changes, so a poll costs a dictionary look-up.

A page is stored with the stamp it was rendered from (its server's change counters and name) and the moment
the clock alone would change it. Concurrent requests for a page that is being rendered wait for that one
rendering instead of starting their own; they share it only when they expect the same stamp, so nobody is
handed a rendering that started before a change they could already see.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

MAX_PAGES = 4096
MAX_BYTES = 64 * 1024 * 1024


@dataclass
class Page:
    body: bytes
    etag: str  # quoted, as sent
    last_modified: datetime
    content_type: str
    headers: Mapping[str, str]
    guild_id: int
    stamp: Hashable
    valid_until: datetime | None = None  # None: only a change in the database makes it stale
    gzipped: bytes | None = None  # the same body gzip-compressed, for clients that accept it
    gzip_headers: Mapping[str, str] | None = None
    touched_at: datetime | None = field(default=None, compare=False)  # personal feeds: "last fetched" stamp

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")

    def fresh(self, stamp: Hashable, now: datetime) -> bool:
        return self.stamp == stamp and (self.valid_until is None or now < self.valid_until)


Build = Callable[[], Awaitable["Page | None"]]


class PageCache:
    def __init__(self, max_pages: int = MAX_PAGES, max_bytes: int = MAX_BYTES) -> None:
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self._bytes = 0
        self._max_pages = max_pages
        self._max_bytes = max_bytes
        self._building: dict[tuple[Hashable, Hashable], asyncio.Future[Page | None]] = {}

    def peek(self, key: Hashable) -> Page | None:
        """The page last stored under ``key``, fresh or not (its guild_id says which server to ask about)."""
        return self._pages.get(key)

    def fresh(self, key: Hashable, stamp: Hashable, now: datetime) -> Page | None:
        page = self._pages.get(key)
        if page is None or not page.fresh(stamp, now):
            return None
        self._pages.move_to_end(key)
        return page

    async def build_once(self, key: Hashable, stamp: Hashable, build: Build) -> Page | None:
        """Run ``build`` for this key and expected stamp, or wait for the run already going; store the result."""
        running = self._building.get((key, stamp))
        if running is None:
            running = asyncio.ensure_future(self.build(key, build))
            self._building[(key, stamp)] = running
            running.add_done_callback(lambda _: self._building.pop((key, stamp), None))
        # A waiter that gives up (its client left) must not cancel the rendering the others wait for.
        return await asyncio.shield(running)

    async def build(self, key: Hashable, build: Build) -> Page | None:
        page = await build()
        if page is None:
            self.drop(key)
        else:
            self.put(key, page)
        return page

    def put(self, key: Hashable, page: Page) -> None:
        self.drop(key)
        self._pages[key] = page
        self._bytes += page.size
        while self._pages and (len(self._pages) > self._max_pages or self._bytes > self._max_bytes):
            _, oldest = self._pages.popitem(last=False)
            self._bytes -= oldest.size

    def drop(self, key: Hashable) -> None:
        page = self._pages.pop(key, None)
        if page is not None:
            self._bytes -= page.size

    def __len__(self) -> int:
        return len(self._pages)
