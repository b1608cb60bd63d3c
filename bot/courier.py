"""The one path for every DM, post and email Podium makes on its own: recorded, paced, retried, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Coroutine, Iterable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import aiosqlite
import discord

from bot import store
from bot.emails import DEFAULT_ORGANIZER, EMAIL_KINDS, EMAIL_TWINS, Parties, invite_email
from bot.mailer import Mailer, MailError
from bot.messages import invite_file, invite_message, reminder_message, reminder_post, reminder_view
from bot.models import Delivery, DeliveryKind, DeliveryStatus, Talk, to_unix
from bot.talks import TalkService

log = logging.getLogger(__name__)

# Discord error codes that retrying will not fix: DMs closed, unknown user, cannot DM this user,
# unknown channel, missing access.
PERMANENT_ERRORS = frozenset({50007, 10013, 50033, 10003, 50001})
# With the back-off below this keeps trying for over two hours: long enough to ride out a
# Discord incident or a mail server's greylisting, short enough that a stale invite is not sent a day late.
MAX_ATTEMPTS = 20
INVITE_KINDS = frozenset(
    {
        DeliveryKind.INVITE_CONFIRMED,
        DeliveryKind.INVITE_PROMOTED,
        DeliveryKind.INVITE_UPDATED,
        DeliveryKind.INVITE_CANCELLED,
    }
)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s ... capped at 10 minutes."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 600))


class Pacer:
    """Spaces requests to stay under Discord's global limit (50 requests/s per bot).

    discord.py waits out 429s, but each 429 uses one of a request's five tries and Discord
    temporarily bans bots that collect too many; pacing the fan-out keeps us under the line instead.
    """

    def __init__(self, per_second: float) -> None:
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


class Courier:
    """Sends deliveries recorded in the outbox (the deliveries table).

    A row is written before sending and marked sent (with the message id) after Discord accepted it.
    Each send carries a nonce derived from the row with enforce_nonce, so re-sending a row after a
    crash returns Discord's existing message instead of posting a second one. Emails (the invites' twins)
    take the same path to the mailer instead of Discord.
    """

    # Up to 32 sends in flight: at Discord's 50 requests/s, round trips up to ~600 ms still keep the pipe full
    # (8 capped a 200 ms link at ~40 requests/s); the pacer, not the slots, sets the rate.
    def __init__(
        self,
        client: discord.Client,
        service: TalkService,
        *,
        concurrency: int = 32,
        per_second: float = 48.0,
        mailer: Mailer | None = None,
    ) -> None:
        self.client = client
        self.service = service
        self.mailer = mailer  # None when SMTP is not configured: no email deliveries are recorded
        self._slots = asyncio.Semaphore(concurrency)
        self._pacer = Pacer(per_second)
        self._background: set[asyncio.Task[Any]] = set()
        # Rows queued or being sent: the periodic retry and a re-run job must not send them a second time.
        self._in_flight: set[int] = set()

    # --- entry points ----------------------------------------------------------------------------

    async def deliver(
        self, talk: Talk, kind: DeliveryKind, targets: Iterable[tuple[int, int]], *, recipient_type: str = "user"
    ) -> dict[int, DeliveryStatus]:
        """Record and send one message per (recipient, key); returns each recipient's status.

        Recipients whose delivery was already final get nothing new and their recorded status is returned.
        Invite kinds also record and send their email twins; the statuses returned are the DMs' only.
        """
        wanted = list(targets)
        async with self.service.db.transaction() as conn:
            now = self.service.clock()
            rows = await store.ensure_deliveries(conn, talk, recipient_type, kind, wanted, now, pending_only=False)
            emails = await self._record_email_twins(conn, talk, recipient_type, kind, wanted, now)
        for email in emails:
            # The member's reply depends on the DM only; emails go out in the background (drain() waits).
            self.spawn(self._send_slot(email), f"email-{email.id}")
        # Rows already final (sent earlier, failed for good) keep their recorded outcome.
        statuses = {row.recipient_id: row.status for row in rows}
        pending = [row for row in rows if row.status is DeliveryStatus.PENDING]
        results = await asyncio.gather(*(self._send_slot(delivery) for delivery in pending))
        statuses.update({delivery.recipient_id: status for delivery, status in zip(pending, results, strict=True)})
        if pending:
            log.info("Talk %s %s: %s", talk.id, kind.value, dict(Counter(results)))
        return statuses

    def deliver_later(
        self, talk: Talk, kind: DeliveryKind, targets: Iterable[tuple[int, int]], *, recipient_type: str = "user"
    ) -> None:
        """Deliver without holding up an interaction reply; drain() waits for what is in flight."""
        wanted = list(targets)
        if wanted:
            self.spawn(self.deliver(talk, kind, wanted, recipient_type=recipient_type), f"deliver-{talk.id}")

    def spawn(self, work: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.create_task(self._guarded(work), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def retry_due(self) -> int:
        """Send every pending delivery whose time has come: after a restart, and after transient failures."""
        async with self.service.db.reading() as conn:
            due = await store.due_deliveries(conn, self.service.clock())
        # Rows a running fan-out has queued are its business, not a retry's.
        due = [delivery for delivery in due if delivery.id not in self._in_flight]
        if due:
            log.info("Resuming %d pending deliveries", len(due))
            await asyncio.gather(*(self._send_slot(delivery) for delivery in due))
        return len(due)

    async def drain(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # --- sending ---------------------------------------------------------------------------------

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, object]) -> None:
        try:
            await work
        except Exception:
            log.exception("A background delivery failed")

    async def _send_slot(self, delivery: Delivery) -> DeliveryStatus:
        if delivery.id in self._in_flight:
            return DeliveryStatus.PENDING
        self._in_flight.add(delivery.id)
        try:
            # Emails wait for the mailer's own, smaller limit and never hold one of Discord's slots.
            async with contextlib.nullcontext() if delivery.kind in EMAIL_KINDS else self._slots:
                return await self._send(delivery)
        except Exception:
            # One member's trouble never stops the others; the row stays pending for a retry.
            log.exception("Delivery %s failed unexpectedly", delivery.id)
            return await self._postpone(delivery, "unexpected error")
        finally:
            self._in_flight.discard(delivery.id)

    async def _record_email_twins(
        self,
        conn: aiosqlite.Connection,
        talk: Talk,
        recipient_type: str,
        kind: DeliveryKind,
        wanted: list[tuple[int, int]],
        now: datetime,
    ) -> list[Delivery]:
        """Every invite DM also goes by email to members with a verified address.

        Recorded here, in the DM's own transaction, so no caller can forget the email or record one alone.
        """
        twin = EMAIL_TWINS.get(kind)
        if twin is None or self.mailer is None or recipient_type != "user":
            return []
        with_email = await store.users_with_email(conn, talk.guild_id, [recipient for recipient, _ in wanted])
        targets = [(recipient, key) for recipient, key in wanted if recipient in with_email]
        return await store.ensure_deliveries(conn, talk, "user", twin, targets, now)

    async def _send(self, delivery: Delivery) -> DeliveryStatus:
        talk = await self.service.talk_by_id(delivery.talk_id)
        now = self.service.clock()
        if delivery.kind in EMAIL_KINDS:
            return await self._send_email(delivery, talk, now)
        if delivery.kind in (DeliveryKind.REMINDER, DeliveryKind.REMINDER_POST) and (
            talk.cancelled or talk.has_started(now)
        ):
            await self._finish(delivery, DeliveryStatus.MISSED, error="talk started or cancelled before sending")
            return DeliveryStatus.MISSED
        try:
            channel = await self._channel(delivery)
            kwargs = await self._render(delivery, talk, now)
            await self._pacer.wait()
            message = await channel.send(nonce=delivery.nonce, **kwargs)
        except discord.HTTPException as error:
            if error.code in PERMANENT_ERRORS or error.status in (403, 404):
                await self._finish(delivery, DeliveryStatus.FAILED, error=f"{error.status} {error.code}: {error.text}")
                return DeliveryStatus.FAILED
            return await self._postpone(delivery, f"{error.status} {error.code}: {error.text}")
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            return await self._postpone(delivery, type(error).__name__)
        await self._finish(delivery, DeliveryStatus.SENT, message_id=message.id)
        return DeliveryStatus.SENT

    async def _send_email(self, delivery: Delivery, talk: Talk, now: datetime) -> DeliveryStatus:
        async with self.service.db.reading() as conn:
            member = await store.get_member_email(conn, delivery.guild_id, delivery.recipient_id)
            registration = await store.get_registration(conn, talk.id, delivery.recipient_id)
        if self.mailer is None or member is None:
            await self._finish(delivery, DeliveryStatus.MISSED, error="email turned off or address removed")
            return DeliveryStatus.MISSED
        guild = self.client.get_guild(delivery.guild_id)
        parties = Parties(
            sender=self.mailer.sender,
            organizer_name=guild.name if guild else DEFAULT_ORGANIZER,
            address=member.address,
            attendee_name=registration.display_name if registration else member.display_name,
        )
        # Derived from the row (and the talk's creation, which a rebuilt database does not repeat), so a
        # re-send after a crash carries the same Message-ID and mail systems can recognise it.
        message_id = self.mailer.message_id(f"podium-delivery-{delivery.id}.{to_unix(talk.created_at)}")
        tz = await self.service.zone(talk.guild_id)
        message = invite_email(talk, delivery.kind, parties, tz=tz, now=now, message_id=message_id)
        try:
            await self.mailer.send(message)
        except MailError as error:
            if error.permanent:
                await self._finish(delivery, DeliveryStatus.FAILED, error=error.reason)
                return DeliveryStatus.FAILED
            return await self._postpone(delivery, error.reason)
        await self._finish(delivery, DeliveryStatus.SENT)
        return DeliveryStatus.SENT

    async def _channel(self, delivery: Delivery) -> discord.PartialMessageable:
        if delivery.recipient_type == "channel":
            return self.client.get_partial_messageable(delivery.recipient_id, guild_id=delivery.guild_id)
        async with self.service.db.reading() as conn:
            channel_id = await store.get_dm_channel(conn, delivery.recipient_id)
        if channel_id is None:
            await self._pacer.wait()
            data = await self.client.http.start_private_message(delivery.recipient_id)
            channel_id = int(data["id"])
            async with self.service.db.transaction() as conn:
                await store.save_dm_channel(conn, delivery.recipient_id, channel_id)
        return self.client.get_partial_messageable(channel_id, type=discord.ChannelType.private)

    async def _render(self, delivery: Delivery, talk: Talk, now: datetime) -> dict[str, Any]:
        if delivery.kind is DeliveryKind.REMINDER:
            return {"content": reminder_message(talk, delivery.key), "view": reminder_view(talk)}
        if delivery.kind is DeliveryKind.REMINDER_POST:
            settings = await self.service.settings(talk.guild_id)
            role = settings.ping_role_id
            # The only mention Podium ever allows: the role the server chose to ping for reminders.
            mentions = discord.AllowedMentions(
                everyone=False, users=False, roles=[discord.Object(id=role)] if role else False
            )
            return {"content": reminder_post(talk, delivery.key, role), "allowed_mentions": mentions}
        tz = await self.service.zone(talk.guild_id)
        return {"content": invite_message(talk, delivery.kind), "file": invite_file(talk, delivery.kind, tz, now)}

    async def _finish(
        self, delivery: Delivery, status: DeliveryStatus, *, message_id: int | None = None, error: str | None = None
    ) -> None:
        async with self.service.db.transaction() as conn:
            await store.finish_delivery(
                conn, delivery.id, status, self.service.clock(), message_id=message_id, error=error
            )
            if delivery.kind in INVITE_KINDS and status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
                await store.set_dm_failed(
                    conn, delivery.talk_id, [delivery.recipient_id], status is DeliveryStatus.FAILED
                )
        if status is DeliveryStatus.FAILED:
            log.info(
                "Delivery %s (%s to %s) failed for good: %s",
                delivery.id,
                delivery.kind.value,
                delivery.recipient_id,
                error,
            )

    async def _postpone(self, delivery: Delivery, error: str) -> DeliveryStatus:
        now = self.service.clock()
        async with self.service.db.transaction() as conn:
            attempts = await store.postpone_delivery(
                conn, delivery.id, now + backoff(delivery.attempts + 1), error, now
            )
        if attempts >= MAX_ATTEMPTS:
            await self._finish(delivery, DeliveryStatus.FAILED, error=f"gave up after {attempts} attempts: {error}")
            return DeliveryStatus.FAILED
        log.warning(
            "Delivery %s (%s to %s) will be retried: %s", delivery.id, delivery.kind.value, delivery.recipient_id, error
        )
        return DeliveryStatus.PENDING
