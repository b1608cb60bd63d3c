"""Limits on what one client can hold of the web side: connections per address, time to send request headers.

aiohttp has no limit of either kind: a client that opens hundreds of connections, or sends its headers a byte
at a time, holds sockets and memory for as long as it likes. Each connection's protocol is wrapped here
before aiohttp's own sees anything, so an over-the-limit connection is answered 503 and closed at once, and
one that has not finished its request headers in time is cut off.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

HEADER_END = b"\r\n\r\n"
# Too busy to take another connection from this address; HTTP/1.1 needs nothing more than this.
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\n"
    b"Retry-After: 10\r\nConnection: close\r\n\r\nToo many connections.\r\n\r\n"
)
_PRINTABLE = re.compile(r"[^\x20-\x7e]+")


@dataclass(frozen=True)
class Limits:
    header_timeout: float  # seconds from a request's first byte (or the connection's opening) to its last header
    read_timeout: float  # seconds a client may leave our send buffer full (it reads nothing) before it is cut off
    per_address: int  # open connections per client address (0: no limit)
    total: int  # open connections in all


def is_loopback(host: str) -> bool:
    """Whether WEB_HOST listens only on this machine (a reverse proxy in front is then the only client)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or "" (every interface)


def client_address(transport: asyncio.BaseTransport) -> str:
    peer: Any = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        address = str(peer[0])
        # IPv4 clients of a dual-stack socket arrive as ::ffff:a.b.c.d; count them under a.b.c.d.
        return address.removeprefix("::ffff:")
    return "unknown"


class ConnectionGuard:
    """Counts open connections by client address and wraps each new connection's protocol."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: Counter[str] = Counter()
        self.total = 0
        self.refused = 0
        self.timed_out = 0

    def protocol(self, inner: asyncio.Protocol) -> GuardedProtocol:
        return GuardedProtocol(self, inner)

    def admit(self, address: str) -> bool:
        limits = self.limits
        if limits.total and self.total >= limits.total:
            return False
        return not (limits.per_address and self.open[address] >= limits.per_address)

    def opened(self, address: str) -> None:
        self.open[address] += 1
        self.total += 1

    def closed(self, address: str) -> None:
        self.total -= 1
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's two checks.

    The header deadline is armed when the connection opens and again at the first byte after a complete
    request head, and disarmed when a blank line ends the head. The few bytes of a request body start the
    clock too: such a connection then has to begin its next request in time or is closed, which only ever
    closes an idle keep-alive connection early.
    """

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.address = "unknown"
        self.transport: asyncio.Transport | None = None
        self.admitted = False
        self.deadline: asyncio.TimerHandle | None = None
        self.stalled: asyncio.TimerHandle | None = None
        self.tail = b""  # the last bytes seen while reading a head, to find a blank line split across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.address = client_address(transport)
        if not self.guard.admit(self.address):
            self.guard.refused += 1
            log.debug("Refused a connection from %s: over the connection limit", self.address)
            transport.write(_REFUSAL)
            transport.close()
            return
        self.admitted = True
        self.guard.opened(self.address)
        self._arm()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.admitted:
            return
        if self.deadline is None:
            self._arm()  # the first byte of the next request
        seen = self.tail + data
        end = seen.rfind(HEADER_END)
        if end >= 0:
            self._disarm()
            rest = seen[end + len(HEADER_END) :]
            if rest:  # a pipelined request (or a body) follows in the same read
                self._arm()
            self.tail = rest[-(len(HEADER_END) - 1) :]
        else:
            self.tail = seen[-(len(HEADER_END) - 1) :]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.stalled is not None:
            self.stalled.cancel()
            self.stalled = None
        if self.admitted:
            self.admitted = False
            self.guard.closed(self.address)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        # The send buffer is full: a client that does not read on holds its unsent answer in memory.
        if self.stalled is None:
            self.stalled = asyncio.get_running_loop().call_later(self.guard.limits.read_timeout, self._not_reading)
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.stalled is not None:
            self.stalled.cancel()
            self.stalled = None
        if self.admitted:
            self.inner.resume_writing()

    def _not_reading(self) -> None:
        self.stalled = None
        self.guard.timed_out += 1
        log.debug("Closed a connection from %s: it read nothing of its answer for a while", self.address)
        if self.transport is not None:
            self.transport.abort()

    def _arm(self) -> None:
        self._disarm()
        self.deadline = asyncio.get_running_loop().call_later(self.guard.limits.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _too_slow(self) -> None:
        self.deadline = None
        self.guard.timed_out += 1
        log.debug(
            "Closed a connection from %s: no complete request headers within %.0f s",
            self.address,
            self.guard.limits.header_timeout,
        )
        if self.transport is not None:
            self.transport.abort()


class LoopShare:
    """At most ``per_turn`` answers start in one turn of the event loop; the others wait for the next turns.

    A cached answer is cheap but not free (a feed is half a megabyte to hand to the kernel), and the loop runs
    everything that is ready in one turn before it looks again: a hundred clients that keep asking would put
    a hundred answers in every turn, ahead of the bot's own next step. With a share per turn, the bot's work
    waits behind a few answers at most, however many clients there are; when the bot is idle, turns are short
    and the web side gets all the turns it needs.
    """

    def __init__(self, per_turn: int) -> None:
        self.per_turn = per_turn
        self._used = 0
        self._reset_planned = False
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def turn(self) -> None:
        if self._used < self.per_turn and not self._waiting:
            self._take()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        self._plan_reset()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            raise

    def _take(self) -> None:
        self._used += 1
        self._plan_reset()

    def _plan_reset(self) -> None:
        if not self._reset_planned:
            self._reset_planned = True
            asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        """Runs once at the start of the next turn: hands that turn's share to the first waiters."""
        self._reset_planned = False
        self._used = 0
        while self._waiting and self._used < self.per_turn:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._take()
        if self._waiting:
            self._plan_reset()


class GuardedSite(web.BaseSite):
    """A TCP site like aiohttp's TCPSite, whose connections go through a ConnectionGuard first."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        factory = self._runner.server
        assert factory is not None
        guard = self._guard
        self._server = await asyncio.get_running_loop().create_server(
            lambda: guard.protocol(factory()), self._host, self._port, reuse_address=True, backlog=self._backlog
        )


class ProtocolLog(logging.LoggerAdapter[logging.Logger]):
    """The logger aiohttp's protocol reports to: a malformed request becomes one line, not a traceback.

    aiohttp logs a malformed request with its traceback, and the first one on a connection (often a scanner,
    or TLS sent to a plain-HTTP port) only at DEBUG. The parser's message can quote the request line, which
    may hold a personal feed token, so only the error's class and status are kept, not its text.
    """

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self._one_line(args, kwargs):
            super().debug(msg, *args, **kwargs)

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._one_line(args, {"exc_info": exc_info}):
            super().exception(msg, *args, exc_info=exc_info, **kwargs)

    def _one_line(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        error = kwargs.get("exc_info")
        if not isinstance(error, HttpProcessingError):
            return False
        remote = _PRINTABLE.sub("?", str(args[0])) if args else "unknown"
        self.logger.info("Malformed HTTP request from %s (%s, answered %s)", remote, type(error).__name__, error.code)
        return True
