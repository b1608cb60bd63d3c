"""One-click unsubscribe links (RFC 8058) for every email Podium sends, and what following one stops.

A link names a server, a member and the address the email went to, signed with HMAC-SHA256 under a random
key kept in the database (bot_state), so links need no table, can be rebuilt for any email at any time, and
cannot be guessed or altered. The address is in the signature (as a short hash, never in clear): a link
received at an old address stops nothing once the member moved to a new one.

No HTTP here: bot/web_unsubscribe.py serves the page; the email renderers put the headers on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot import store
from bot.database import Database
from bot.email_limits import address_key

KEY_STATE = "unsubscribe_key"
KEY_BYTES = 32
TAG_BYTES = 8  # of the address's hash: tells addresses apart, not a secret
MAC_BYTES = 16  # 128 bits: far beyond guessing over HTTP
_PAYLOAD = struct.Struct(">QQ")
TOKEN_LENGTH = len(base64.urlsafe_b64encode(bytes(_PAYLOAD.size + TAG_BYTES + MAC_BYTES)).rstrip(b"="))
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")
STOPPED = "unsubscribed by the link in an email"


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url}/unsubscribe/{token}"


@dataclass(frozen=True)
class Target:
    """Who a valid link speaks for: the member's emails from one server to one address."""

    guild_id: int
    user_id: int
    tag: bytes

    def matches(self, address: str) -> bool:
        return hmac.compare_digest(self.tag, _tag(address))


@dataclass(frozen=True)
class Stopped:
    target: Target
    removed_address: bool  # the member's confirmed address in that server was this one, and is gone
    cancelled_code: bool  # a code sent to this address no longer works
    missed: int  # emails that were waiting in the outbox and will not go out


def _tag(address: str) -> bytes:
    return address_key(address)[:TAG_BYTES]


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, b"podium-unsubscribe\0" + payload, hashlib.sha256).digest()[:MAC_BYTES]


def make_token(key: bytes, guild_id: int, user_id: int, address: str) -> str:
    payload = _PAYLOAD.pack(guild_id, user_id) + _tag(address)
    return base64.urlsafe_b64encode(payload + _mac(key, payload)).rstrip(b"=").decode("ascii")


def read_token(key: bytes, token: str) -> Target | None:
    """The link's target, or None for anything that is not a link this bot made."""
    if not _TOKEN.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        return None  # the last character's unused bits: one spelling per link
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if len(payload) != _PAYLOAD.size + TAG_BYTES or not hmac.compare_digest(mac, _mac(key, payload)):
        return None
    guild_id, user_id = _PAYLOAD.unpack(payload[: _PAYLOAD.size])
    return Target(guild_id, user_id, payload[_PAYLOAD.size :])


class Unsubscribes:
    """Makes the links (when the web side runs) and carries out the ones members follow."""

    def __init__(self, db: Database, clock: Callable[[], datetime], public_url: str | None) -> None:
        self.db = db
        self.clock = clock
        self.public_url = public_url
        self._key: bytes | None = None

    async def key(self) -> bytes:
        if self._key is None:
            async with self.db.transaction() as conn:
                stored = await store.get_state(conn, KEY_STATE)
                if stored is None:
                    stored = secrets.token_hex(KEY_BYTES)
                    await store.set_state(conn, KEY_STATE, stored)
            self._key = bytes.fromhex(stored)
        return self._key

    async def link(self, guild_id: int, user_id: int, address: str) -> str | None:
        """The page that stops this server's emails to this member at this address; None without a web side."""
        if self.public_url is None:
            return None
        return unsubscribe_url(self.public_url, make_token(await self.key(), guild_id, user_id, address))

    async def target(self, token: str) -> Target | None:
        return read_token(await self.key(), token)

    async def stop(self, token: str) -> Stopped | None:
        """Remove the member's address in that server if it is the link's, void a code sent there, and mark
        missed the emails still waiting; None for a link this bot did not make. Following it twice is harmless."""
        target = await self.target(token)
        if target is None:
            return None
        now = self.clock()
        removed = cancelled = False
        missed = 0
        async with self.db.transaction() as conn:
            verified = await store.get_member_email(conn, target.guild_id, target.user_id)
            if verified is not None and target.matches(verified.address):
                await store.delete_member_email(conn, target.guild_id, target.user_id)
                missed = await store.miss_pending_emails(conn, target.guild_id, target.user_id, now, STOPPED)
                removed = True
            pending = await store.get_email_code(conn, target.guild_id, target.user_id)
            if pending is not None and target.matches(pending.address):
                await store.delete_email_code(conn, target.guild_id, target.user_id)
                cancelled = True
        return Stopped(target, removed, cancelled, missed)
