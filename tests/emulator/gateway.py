"""The gateway websocket: HELLO/IDENTIFY/READY, heartbeats, dispatches with sequence numbers, RESUME."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .state import member_payload

if TYPE_CHECKING:
    from .emulator import DiscordEmulator

log = logging.getLogger(__name__)


class Intent:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16

    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class Op:
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


# Close codes after which a client must not resume (Discord's documentation).
NON_RESUMABLE_CLOSE_CODES = frozenset({4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014})

SEND_LIMIT = 120
SEND_WINDOW = 60.0
MAX_PAYLOAD = 4096


@dataclass
class GatewaySession:
    session_id: str
    shard: tuple[int, int]
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    buffer: list[tuple[int, str]] = field(default_factory=list)
    connection: GatewayConnection | None = None
    invalidated: bool = False
    presence: dict[str, Any] | None = None

    def wants(self, intent: int | None) -> bool:
        return intent is None or bool(self.intents & intent)


class GatewayConnection:
    """One websocket. Outgoing frames go through a queue so that each is delivered ``latency`` later, in order."""

    def __init__(self, server: GatewayServer, ws: web.WebSocketResponse, *, compress: bool, path: str) -> None:
        self.server = server
        self.ws = ws
        self.path = path
        self.session: GatewaySession | None = None
        self.ready = False
        self.closed = False
        self._compressor = zlib.compressobj() if compress else None
        self._queue: asyncio.Queue[tuple[float, str | None, Callable[[], None] | None]] = asyncio.Queue()
        self._received: deque[float] = deque()
        self._sender = asyncio.create_task(self._send_loop(), name="emulator-gateway-sender")

    def send(self, frame: dict[str, Any] | str, after_sent: Callable[[], None] | None = None) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        self._queue.put_nowait((time.monotonic() + self.server.emulator.latency, text, after_sent))

    def call_after_queued(self, callback: Callable[[], None]) -> None:
        """Runs ``callback`` once everything queued so far has gone out."""
        self._queue.put_nowait((time.monotonic() + self.server.emulator.latency, None, callback))

    async def _send_loop(self) -> None:
        while True:
            due, text, callback = await self._queue.get()
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.ws.closed:
                continue
            if text is not None:
                try:
                    if self._compressor is not None:
                        data = self._compressor.compress(text.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
                        await self.ws.send_bytes(data)
                    else:
                        await self.ws.send_str(text)
                except (ConnectionError, RuntimeError) as exc:
                    log.debug("gateway send failed: %s", exc)
                    continue
            if callback is not None:
                callback()

    def note_received(self) -> bool:
        """Records an incoming payload; False when the client went over Discord's 120 per 60 s."""
        now = time.monotonic()
        self._received.append(now)
        while self._received and now - self._received[0] > SEND_WINDOW:
            self._received.popleft()
        return len(self._received) <= SEND_LIMIT

    async def close(self, code: int, message: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        log.info("gateway: closing connection with %s %s", code, message)
        # Let frames already queued go out first, as they would on the wire.
        drained = asyncio.Event()
        self.call_after_queued(drained.set)
        try:
            async with asyncio.timeout(max(1.0, self.server.emulator.latency * 4)):
                await drained.wait()
        except TimeoutError:
            pass
        await self.ws.close(code=code, message=message.encode())

    async def stop(self) -> None:
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender


class GatewayServer:
    def __init__(self, emulator: DiscordEmulator) -> None:
        self.emulator = emulator
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []
        self.identify_payloads: list[dict[str, Any]] = []
        self.resumes = 0
        self.connection_count = 0

    # -- state queries ------------------------------------------------------------------------------

    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if not s.invalidated]

    def is_ready(self) -> bool:
        sessions = self.live_sessions()
        if not sessions:
            return False
        shard_count = sessions[0].shard[1]
        ready = {s.shard[0] for s in sessions if s.connection is not None and s.connection.ready}
        return ready == set(range(shard_count))

    def sessions_for_guild(self, guild_id: int | None, *, shard_id: int | None = None) -> list[GatewaySession]:
        """The sessions that get the server's events: its shard's (shard 0 for DMs), or shard ``shard_id``'s."""
        sessions = self.live_sessions()
        result = []
        for session in sessions:
            shard, shard_count = session.shard
            target = 0 if guild_id is None else (guild_id >> 22) % shard_count
            if target == shard if shard_id is None else shard_id == shard:
                result.append(session)
        return result

    # -- dispatch -----------------------------------------------------------------------------------

    def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        guild_id: int | None = None,
        intent: int | None = None,
        transform: Callable[[GatewaySession, dict[str, Any]], dict[str, Any] | None] | None = None,
        shard_id: int | None = None,
    ) -> int:
        """Sends an event to the sessions that should get it; returns how many sessions got it.

        ``shard_id`` (tests only) sends it over that shard instead of the server's. Events for a session whose
        socket is down are kept and replayed when it resumes.
        """
        delivered = 0
        for session in self.sessions_for_guild(guild_id, shard_id=shard_id):
            if not session.wants(intent):
                continue
            payload = transform(session, data) if transform else data
            if payload is None:
                continue
            self.dispatch_to_session(session, event, payload)
            delivered += 1
        return delivered

    def dispatch_to_session(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        text = json.dumps({"op": Op.DISPATCH, "t": event, "s": session.seq, "d": data})
        session.buffer.append((session.seq, text))
        if len(session.buffer) > 10_000:
            del session.buffer[:1000]
        self.emulator.stats.dispatches += 1
        conn = session.connection
        if conn is not None and not conn.closed:
            conn.send(text)

    # -- server-initiated actions -------------------------------------------------------------------

    async def disconnect(self, code: int = 4000, *, invalidate: bool | None = None) -> int:
        """Closes every bot socket with ``code``; returns how many were closed."""
        if invalidate is None:
            invalidate = code in NON_RESUMABLE_CLOSE_CODES
        closed = 0
        for conn in list(self.connections):
            if conn.closed:
                continue
            if invalidate and conn.session is not None:
                conn.session.invalidated = True
            await conn.close(code, "emulator disconnect")
            closed += 1
        self.emulator.changed.notify()
        return closed

    def send_op(self, op: int, data: Any = None) -> None:
        for conn in self.connections:
            if not conn.closed and conn.session is not None:
                conn.send({"op": op, "d": data, "s": None, "t": None})

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await conn.close(1001, "emulator shutting down")
            await conn.stop()

    # -- websocket handler --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        query = request.query
        conn = GatewayConnection(self, ws, compress=query.get("compress") == "zlib-stream", path=request.path)
        self.connections.append(conn)
        self.connection_count += 1
        self.emulator.stats.gateway_connections += 1
        self.emulator.changed.notify()
        log.info("gateway: connection %d on %s (query %s)", self.connection_count, request.path, dict(query))
        try:
            if query.get("v") not in ("9", "10"):
                await conn.close(4012, "Invalid API version.")
            elif query.get("encoding", "json") != "json":
                await conn.close(4002, "Only the json encoding is emulated.")
            else:
                conn.send(
                    {
                        "op": Op.HELLO,
                        "d": {
                            "heartbeat_interval": self.emulator.heartbeat_interval,
                            "_trace": ['["gateway-emulator",{"micros":0}]'],
                        },
                        "s": None,
                        "t": None,
                    }
                )
                await self._receive_loop(conn)
        finally:
            conn.closed = True
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
            self.connections.remove(conn)
            await conn.stop()
            self.emulator.changed.notify()
            log.info("gateway: connection closed (%s)", ws.close_code)
        return ws

    async def _receive_loop(self, conn: GatewayConnection) -> None:
        async for msg in conn.ws:
            if conn.closed:
                break
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    await conn.close(4002, "Error while decoding payload.")
                break
            if len(msg.data) > MAX_PAYLOAD:
                await conn.close(4002, "Error while decoding payload.")
                break
            if not conn.note_received():
                await conn.close(4008, "Rate limited.")
                break
            try:
                payload = json.loads(msg.data)
                op = payload["op"]
            except (ValueError, KeyError, TypeError):
                await conn.close(4002, "Error while decoding payload.")
                break
            await self._handle_op(conn, op, payload.get("d"))

    async def _handle_op(self, conn: GatewayConnection, op: int, data: Any) -> None:
        if op == Op.HEARTBEAT:
            conn.send({"op": Op.HEARTBEAT_ACK})
            return
        if op == Op.IDENTIFY:
            await self._identify(conn, data)
            return
        if op == Op.RESUME:
            await self._resume(conn, data)
            return
        if conn.session is None:
            await conn.close(4003, "Not authenticated.")
            return
        if op == Op.PRESENCE_UPDATE:
            conn.session.presence = data
            self.emulator.presence = data
        elif op == Op.VOICE_STATE_UPDATE:
            log.info("gateway: voice state update ignored: %s", data)
        elif op == Op.REQUEST_GUILD_MEMBERS:
            await self._request_members(conn, data or {})
        else:
            await conn.close(4001, "Unknown opcode.")

    async def _authenticate(self, conn: GatewayConnection, data: Any) -> bool:
        """Discord's checks shared by IDENTIFY and RESUME: one session per socket, the right token."""
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return False
        if not isinstance(data, dict) or data.get("token") != self.emulator.token:
            await conn.close(4004, "Authentication failed.")
            return False
        return True

    async def _identify(self, conn: GatewayConnection, data: Any) -> None:
        emu = self.emulator
        if not await self._authenticate(conn, data):
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await conn.close(4013, "Invalid intent(s).")
            return
        if intents & Intent.PRIVILEGED & ~emu.privileged_intents:
            await conn.close(4014, "Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        if len(shard) != 2 or not 0 <= shard[0] < shard[1]:
            await conn.close(4010, "Invalid shard.")
            return
        shard_t = (int(shard[0]), int(shard[1]))
        # A new identify replaces the previous session of the same shard.
        for old in self.live_sessions():
            if old.shard == shard_t or old.shard[1] != shard_t[1]:
                old.invalidated = True
        session = GatewaySession(session_id=secrets.token_hex(16), shard=shard_t, intents=intents, identify=data)
        self.sessions[session.session_id] = session
        conn.session = session
        session.connection = conn
        self.identify_payloads.append(data)
        emu.stats.identifies += 1
        log.info("gateway: IDENTIFY shard %s intents %s", shard_t, intents)

        guilds = [g for g in emu.world.guilds.values() if emu.bot_user_id in g.members]
        guilds = [g for g in guilds if (g.id >> 22) % shard_t[1] == shard_t[0]]
        ready = {
            "v": 10,
            "user": emu.bot_user_payload(),
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "guild_join_requests": [],
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": emu.resume_gateway_url,
            "shard": list(shard_t),
            "application": {"id": str(emu.application_id), "flags": emu.application_flags},
            "geo_ordered_rtc_regions": ["emulated"],
            "auth": {},
            "_trace": ['["gateway-emulator",{"micros":0}]'],
        }
        self.dispatch_to_session(session, "READY", ready)
        all_members = bool(intents & Intent.GUILD_PRESENCES)
        for guild in guilds:
            payload = emu.world.gateway_guild_payload(
                guild, all_members=all_members and len(guild.members) <= 75000, bot_id=emu.bot_user_id
            )
            self.dispatch_to_session(session, "GUILD_CREATE", payload)
        conn.call_after_queued(lambda: self._mark_ready(conn))
        emu.changed.notify()

    def _mark_ready(self, conn: GatewayConnection) -> None:
        conn.ready = True
        self.emulator.changed.notify()

    async def _resume(self, conn: GatewayConnection, data: Any) -> None:
        emu = self.emulator
        if not await self._authenticate(conn, data):
            return
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        if session is None or session.invalidated:
            log.info("gateway: RESUME of unknown session %s -> INVALID_SESSION", data.get("session_id"))
            emu.stats.invalid_sessions += 1
            conn.send({"op": Op.INVALID_SESSION, "d": False, "s": None, "t": None})
            emu.changed.notify()
            return
        if not isinstance(seq, int) or seq > session.seq:
            await conn.close(4007, "Invalid seq.")
            session.invalidated = True
            return
        previous = session.connection
        if previous is not None and previous is not conn:
            previous.session = None
            asyncio.get_running_loop().create_task(previous.close(4000, "Session resumed elsewhere."))
        conn.session = session
        session.connection = conn
        missed = [text for s, text in session.buffer if s > seq]
        log.info("gateway: RESUME session %s from seq %s, replaying %d events", session.session_id, seq, len(missed))
        for text in missed:
            conn.send(text)
        self.dispatch_to_session(session, "RESUMED", {"_trace": ['["gateway-emulator",{"micros":0}]']})
        conn.call_after_queued(lambda: self._mark_ready(conn))
        self.resumes += 1
        emu.stats.resumes += 1
        emu.changed.notify()

    async def _request_members(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        emu = self.emulator
        session = conn.session
        assert session is not None
        guild_ids = data.get("guild_id")
        if not isinstance(guild_ids, list):
            guild_ids = [guild_ids]
        query = data.get("query")
        user_ids = [int(u) for u in data.get("user_ids") or []]
        limit = int(data.get("limit") or 0)
        if query is not None and not user_ids and not session.intents & Intent.GUILD_MEMBERS:
            await conn.close(4013, "Invalid intent(s).")
            return
        for raw_gid in guild_ids:
            guild = emu.world.guilds.get(int(raw_gid))
            if guild is None or emu.bot_user_id not in guild.members:
                continue
            not_found: list[str] = []
            if user_ids:
                members = [guild.members[u] for u in user_ids if u in guild.members]
                not_found = [str(u) for u in user_ids if u not in guild.members]
            else:
                text = (query or "").lower()
                members = [
                    m for m in guild.members.values() if emu.world.users[m.user_id].username.lower().startswith(text)
                ]
                if limit:
                    members = members[:limit]
            chunks = [members[i : i + 1000] for i in range(0, len(members), 1000)] or [[]]
            for index, chunk in enumerate(chunks):
                payload: dict[str, Any] = {
                    "guild_id": str(guild.id),
                    "members": [member_payload(emu.world, m) for m in chunk],
                    "chunk_index": index,
                    "chunk_count": len(chunks),
                }
                if not_found and index == 0:
                    payload["not_found"] = not_found
                if data.get("presences"):
                    payload["presences"] = []
                if data.get("nonce") is not None:
                    payload["nonce"] = data["nonce"]
                self.dispatch_to_session(session, "GUILD_MEMBERS_CHUNK", payload)
