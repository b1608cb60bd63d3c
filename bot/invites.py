"""Direct messages that carry calendar invites to members."""

from __future__ import annotations

import asyncio
import io
import logging
from collections import Counter
from collections.abc import Coroutine, Iterable
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import discord

from bot import store
from bot.calendar import Method, build_invite, invite_filename
from bot.embeds import when
from bot.models import Talk
from bot.talks import TalkService, utcnow

log = logging.getLogger(__name__)

# Discord error codes that will not go away by retrying.
DMS_CLOSED = 50007
PERMANENT_DM_ERRORS = frozenset({DMS_CLOSED, 10013, 50033})
# Parallel DMs during a fan-out: enough to keep the pipe full at tens of ms per request, few enough
# that discord.py's limiter queues them instead of many requests exhausting their five tries on 429s.
FAN_OUT_CONCURRENCY = 4


class InviteKind(StrEnum):
    CONFIRMED = "confirmed"
    PROMOTED = "promoted"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"


class DeliveryResult(StrEnum):
    SENT = "sent"
    DMS_CLOSED = "dms_closed"
    FAILED = "failed"


def invite_message(talk: Talk, kind: InviteKind) -> str:
    title = discord.utils.escape_markdown(talk.title)
    place = f" · {talk.location}" if talk.location else ""
    if kind is InviteKind.CONFIRMED:
        return (
            f"You're registered for **{title}** with {talk.speaker}, {when(talk)}{place}.\n"
            "Open the attached invite to add it to your calendar. Can't make it any more? "
            "Use `/unregister` so someone on the waitlist gets your seat."
        )
    if kind is InviteKind.PROMOTED:
        return (
            f"Good news: a seat opened up and you're now **confirmed** for **{title}** with {talk.speaker}, "
            f"{when(talk)}{place}.\nOpen the attached invite to add it to your calendar. Can't come? "
            "Use `/unregister` to pass the seat on."
        )
    if kind is InviteKind.UPDATED:
        return (
            f"**{title}** has changed: it is now {when(talk)}{place}, {talk.duration_min} min.\n"
            "Open the attached invite to update the event in your calendar."
        )
    if kind is InviteKind.CANCELLED:
        reason = f" Reason: {talk.cancel_reason}" if talk.cancel_reason else ""
        return (
            f"**{title}** with {talk.speaker} has been **cancelled**.{reason}\n"
            "Open the attached file to remove it from your calendar."
        )
    return (
        f"You're no longer registered for **{title}**.\n"
        "Open the attached file to remove it from your calendar."
    )


def invite_file(talk: Talk, kind: InviteKind, tz: ZoneInfo) -> discord.File:
    withdrawn = kind in (InviteKind.CANCELLED, InviteKind.WITHDRAWN) or talk.cancelled
    method = Method.CANCEL if withdrawn else Method.PUBLISH
    data = build_invite(talk, tz=tz, now=utcnow(), method=method)
    return discord.File(io.BytesIO(data), filename=invite_filename(talk))


class InviteMailer:
    """Sends invite DMs, remembers each member's DM channel and records who could not be reached."""

    def __init__(self, client: discord.Client, service: TalkService) -> None:
        self.client = client
        self.service = service
        self._background: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(FAN_OUT_CONCURRENCY)

    async def _dm_channel(self, user_id: int) -> discord.PartialMessageable:
        async with self.service.db.reading() as conn:
            channel_id = await store.get_dm_channel(conn, user_id)
        if channel_id is None:
            data = await self.client.http.start_private_message(user_id)
            channel_id = int(data["id"])
            async with self.service.db.transaction() as conn:
                await store.save_dm_channel(conn, user_id, channel_id)
        return self.client.get_partial_messageable(channel_id, type=discord.ChannelType.private)

    async def send(self, talk: Talk, user_id: int, kind: InviteKind) -> DeliveryResult:
        """One invite DM; never raises for Discord errors, the result says what happened."""
        tz = await self.service.zone(talk.guild_id)
        try:
            channel = await self._dm_channel(user_id)
            await channel.send(invite_message(talk, kind), file=invite_file(talk, kind, tz))
        except discord.HTTPException as error:
            if error.code in PERMANENT_DM_ERRORS:
                log.info("Cannot DM user %s (Discord code %s); invite for talk %s not sent", user_id,
                         error.code, talk.id)
                result = DeliveryResult.DMS_CLOSED
            else:
                log.warning("Invite DM to user %s for talk %s failed: %s", user_id, talk.id, error)
                result = DeliveryResult.FAILED
        else:
            result = DeliveryResult.SENT
        if kind is not InviteKind.WITHDRAWN:
            await self.service.mark_dm_failed(talk.id, [user_id], result is not DeliveryResult.SENT)
        return result

    async def send_many(self, talk: Talk, user_ids: Iterable[int], kind: InviteKind) -> Counter[DeliveryResult]:
        async def one(user_id: int) -> DeliveryResult:
            async with self._limit:
                return await self.send(talk, user_id, kind)

        results = await asyncio.gather(*(one(user_id) for user_id in user_ids))
        counts = Counter(results)
        log.info("Invites (%s) for talk %s: %s", kind.value, talk.id, dict(counts))
        return counts

    def send_many_later(self, talk: Talk, user_ids: Iterable[int], kind: InviteKind) -> None:
        """Fan out without holding up the interaction reply; close() waits for what is in flight."""
        ids = list(user_ids)
        if not ids:
            return
        task = asyncio.create_task(self._guarded(self.send_many(talk, ids, kind)), name=f"invites-{talk.id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, object]) -> None:
        try:
            await work
        except Exception:
            log.exception("Sending invites failed")

    async def drain(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
