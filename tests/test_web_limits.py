"""What one client can hold of the web side, over real sockets: slow headers, many connections, garbage."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from bot.settings import load_settings
from bot.webguard import ConnectionGuard, Limits, LoopShare, is_loopback
from tests.emulator import DiscordEmulator
from tests.harness import School, running_bot
from tests.web_helpers import WebSide, free_port, web_bot

HEADER_TIMEOUT = 0.5
PER_ADDRESS = 3
REQUEST = b"GET /nothing-here HTTP/1.1\r\nHost: podium\r\n\r\n"


@pytest.fixture
async def web(emu: DiscordEmulator, school: School, tmp_path: Path) -> AsyncIterator[WebSide]:
    async with web_bot(
        emu,
        school,
        tmp_path / "podium.sqlite3",
        WEB_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        WEB_CONNECTIONS_PER_ADDRESS=str(PER_ADDRESS),
    ) as side:
        yield side


async def connect(web: WebSide, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(web.base.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_after(reader: asyncio.StreamReader, limit: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (fails if it does not within ``limit``)."""
    async with asyncio.timeout(limit):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


async def ask(web: WebSide, source: str = "127.0.0.1") -> bytes:
    reader, writer = await connect(web, source)
    try:
        writer.write(REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0"))  # 1.0: the server closes after answering
        return await closed_after(reader)
    finally:
        writer.close()


async def test_a_client_that_sends_its_headers_slowly_is_cut_off(web: WebSide) -> None:
    # Silent after connecting: closed once the deadline passed, with nothing sent back.
    reader, writer = await connect(web)
    started = time.monotonic()
    assert await closed_after(reader) == b""
    assert HEADER_TIMEOUT * 0.8 <= time.monotonic() - started < HEADER_TIMEOUT + 2

    # A byte every tenth of a second never finishes its request line: closed at the same deadline.
    reader, writer = await connect(web)
    started = time.monotonic()
    dripping = REQUEST[:-4]
    for byte in dripping:
        if reader.at_eof():
            break
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            break
        try:
            async with asyncio.timeout(0.1):
                if await reader.read(1) == b"":
                    break
        except TimeoutError:
            pass
    assert await closed_after(reader) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 2
    assert web.bot.web is not None and web.bot.web.guard.timed_out == 2

    # A keep-alive client that sends whole requests in time is answered on one connection, again and again.
    reader, writer = await connect(web)
    for _ in range(3):
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 404")
        length = int(
            next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[1]
        )
        assert await reader.readexactly(length) == b"Not found.\n"
    writer.close()


async def test_too_many_connections_from_one_address_are_refused_while_others_are_served(web: WebSide) -> None:
    assert web.bot.web is not None
    guard = web.bot.web.guard
    held = [await connect(web) for _ in range(PER_ADDRESS)]
    async with asyncio.timeout(5):
        while guard.open["127.0.0.1"] < PER_ADDRESS:  # noqa: ASYNC110 - the server counts on its own loop turn
            await asyncio.sleep(0)

    # One more from the same address: answered 503 at once and closed, before it sends anything.
    reader, writer = await connect(web)
    refusal = await closed_after(reader, limit=2)
    writer.close()
    assert refusal.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Retry-After: 10" in refusal and refusal.endswith(b"Too many connections.\r\n\r\n")
    assert guard.refused == 1

    # Another address is served as usual, meanwhile.
    assert (await ask(web, "127.0.0.2")).startswith(b"HTTP/1.0 404 Not Found")

    # Once one of the held connections closes, the first address gets a connection again.
    _, first = held.pop()
    first.close()
    async with asyncio.timeout(5):
        while guard.open["127.0.0.1"] >= PER_ADDRESS:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert (await ask(web)).startswith(b"HTTP/1.0 404 Not Found")
    for _, writer in held:
        writer.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS sent to a plain port\r\n\r\n",
        b"GET /u/" + b"s3cret-token" * 3 + b" HTTP/1.1\r\nHost: podium\r\nBad Header Without Colon\r\n\r\n",
        REQUEST + b"NOT-A-METHOD\x00 / HTTP/1.1\r\n\r\n",  # malformed as the second request on a connection
    ],
    ids=["tls-hello", "bad-header", "second-request"],
)
async def test_a_malformed_request_logs_one_line(
    web: WebSide, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    reader, writer = await connect(web)
    writer.write(garbage)
    answer = await closed_after(reader)
    writer.close()
    assert b" 400 Bad Request\r\n" in answer
    lines = [record for record in caplog.records if "Malformed HTTP request" in record.getMessage()]
    assert len(lines) == 1, [record.getMessage() for record in caplog.records]
    [line] = lines
    assert line.levelno == logging.INFO and line.exc_info is None and line.exc_text is None
    assert line.getMessage().startswith("Malformed HTTP request from 127.0.0.1 (")
    assert all(record.exc_info is None for record in caplog.records), "no traceback anywhere"
    assert "s3cret-token" not in caplog.text


def test_which_hosts_are_loopback() -> None:
    for host in ("127.0.0.1", "127.0.0.53", "::1", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "", "::", "192.0.2.10", "podium.example.edu"):
        assert not is_loopback(host), host


async def test_a_public_web_host_is_warned_about(
    emu: DiscordEmulator, school: School, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 192.0.2.0/24 is reserved for documentation: nothing here can listen on it, so no port opens anywhere.
    port = free_port()
    async with running_bot(
        emu,
        tmp_path / "podium.sqlite3",
        DEV_GUILD_ID=str(school.guild_id),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        WEB_PORT=str(port),
        WEB_HOST="192.0.2.10",
    ) as bot:
        assert bot.web is not None and not bot.web.running
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "not a loopback address" in r.message]
    assert len(warnings) == 1 and "192.0.2.10" in warnings[0].message


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer
        self.aborted = asyncio.Event()

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.peer, 40000) if name == "peername" else default

    def abort(self) -> None:
        self.aborted.set()


async def test_a_client_that_stops_reading_its_answer_is_cut_off() -> None:
    # The kernel's buffers on loopback hold megabytes, so a full send buffer is simulated: the transport
    # tells the protocol to pause writing, and never to resume.
    guard = ConnectionGuard(Limits(header_timeout=60, read_timeout=0.2, per_address=0, total=0))
    inner = asyncio.Protocol()
    protocol = guard.protocol(inner)
    transport = FakeTransport("::ffff:192.0.2.7")
    protocol.connection_made(transport)
    assert guard.open == {"192.0.2.7": 1}
    protocol.pause_writing()
    started = time.monotonic()
    async with asyncio.timeout(5):
        await transport.aborted.wait()
    assert 0.15 <= time.monotonic() - started < 2 and guard.timed_out == 1

    # A client that reads on, however slowly, resumes the writes in time and is left alone.
    other = guard.protocol(asyncio.Protocol())
    patient = FakeTransport("192.0.2.8")
    other.connection_made(patient)
    for _ in range(4):
        other.pause_writing()
        await asyncio.sleep(0.1)
        other.resume_writing()
    await asyncio.sleep(0.3)
    assert not patient.aborted.is_set()
    other.connection_lost(None)
    protocol.connection_lost(None)
    assert guard.open == {}


async def test_a_turn_of_the_event_loop_starts_only_a_few_answers() -> None:
    share = LoopShare(2)
    started: list[int] = []

    async def answer(number: int) -> None:
        await share.turn()
        started.append(number)

    tasks = [asyncio.create_task(answer(number)) for number in range(7)]
    seen = [0]
    while len(started) < 7:
        await asyncio.sleep(0)
        seen.append(len(started))
    await asyncio.gather(*tasks)
    assert started == list(range(7))  # in arrival order
    assert max(later - earlier for earlier, later in itertools.pairwise(seen)) <= 2
    assert len(seen) >= 4  # seven answers took at least four turns


def test_the_limits_are_settings() -> None:
    base = {"DISCORD_TOKEN": "t"}
    defaults = load_settings(base, None)
    assert (defaults.web_header_timeout, defaults.web_connections_per_address) == (10.0, 16)
    tuned = load_settings({**base, "WEB_HEADER_TIMEOUT": "2.5", "WEB_CONNECTIONS_PER_ADDRESS": "0"}, None)
    assert (tuned.web_header_timeout, tuned.web_connections_per_address) == (2.5, 0)
    for name, value in (
        ("WEB_HEADER_TIMEOUT", "0"),
        ("WEB_HEADER_TIMEOUT", "soon"),
        ("WEB_CONNECTIONS_PER_ADDRESS", "-1"),
    ):
        with pytest.raises(ConfigurationError, match=name):
            load_settings({**base, name: value}, None)
