"""The one path for every DM, post and email Podium makes on its own: recorded, paced, retried, exactly once.

What is owed is decided by the domain (bot/owed.py), in the transaction of the change that owes it; the
courier only sends rows: those a follow-up hands it, and every due row left pending by a failure or a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import discord

from bot import question_rows, store
from bot.certificate_pdf import certificate_message, certificate_pdf, file_name, verify_link
from bot.certificates import Certificates
from bot.emails import Parties, invite_email
from bot.feedback_messages import request_message, request_view
from bot.i18n import DEFAULT_LANGUAGE
from bot.joinlink_messages import join_link_message, join_link_view, reminder_with_link
from bot.mailer import Mailer, MailError
from bot.messages import (
    invite_file,
    invite_message,
    reminder_message,
    reminder_post,
    reminder_post_view,
    reminder_view,
)
from bot.models import EMAIL_KINDS, INVITE_KINDS, Delivery, DeliveryKind, DeliveryStatus, Talk, to_unix
from bot.pacing import Pacer
from bot.question_messages import speaker_list, speaker_view
from bot.talks import TalkService
from bot.unsubscribe import Unsubscribes

log = logging.getLogger(__name__)

# Discord error codes that retrying will not fix: DMs closed, unknown user, cannot DM this user,
# unknown channel, missing access.
PERMANENT_ERRORS = frozenset({50007, 10013, 50033, 10003, 50001})
# With the back-off below this keeps trying for over two hours: long enough to ride out a
# Discord incident or a mail server's greylisting, short enough that a stale invite is not sent a day late.
MAX_ATTEMPTS = 20
# How far before an earlier attempt to look in a channel's history for the message it may have posted:
# clocks differ between Discord and this machine by a few seconds at most.
HISTORY_SLACK = timedelta(minutes=1)
HISTORY_LIMIT = 100


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s ... capped at 10 minutes."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 600))


def carries_marker(message: discord.Message, marker: str) -> bool:
    """Whether this message is the one a delivery row sent: its marker ends a button's custom id or is part
    of the attachment's name (see bot/messages.py)."""
    for row in message.components:
        for item in getattr(row, "children", [row]):
            custom_id = getattr(item, "custom_id", None)
            if isinstance(custom_id, str) and custom_id.endswith(f":{marker}"):
                return True
    return any(f"-{marker}." in attachment.filename for attachment in message.attachments)


_RETRY_PAGE = 1000


class Courier:
    """Sends deliveries recorded in the outbox (the deliveries table).

    Before a send the row is claimed: re-read, checked to be still true (else recorded as missed), and its
    attempt recorded; after Discord accepted the message it is marked sent with the message id. Each send
    carries a nonce derived from the row with enforce_nonce, so a retry within Discord's few minutes returns
    the existing message; a row whose earlier attempt may have reached Discord is first looked for in the
    channel's recent history, by the marker every message carries. Emails (the invites' twins) take the same
    path to the mailer instead of Discord.
    """

    # Up to 32 sends in flight: at Discord's 50 requests/s, round trips up to ~600 ms still keep the pipe full
    # (8 capped a 200 ms link at ~40 requests/s); the pacer, not the slots, sets the rate.
    def __init__(
        self,
        client: discord.Client,
        service: TalkService,
        *,
        concurrency: int = 32,
        pacer: Pacer | None = None,
        mailer: Mailer | None = None,
        unsubscribes: Unsubscribes | None = None,
        certificates: Certificates | None = None,
        public_url: str | None = None,
        owns: Callable[[int], bool] = lambda _guild_id: True,
    ) -> None:
        self.client = client
        self.certificates = certificates
        self.public_url = public_url  # the web side's address, for the certificate's verification link
        self.service = service
        self.mailer = mailer  # None when SMTP is not configured: email rows are recorded as missed
        self.unsubscribes = unsubscribes  # the one-click links every email carries
        self._slots = asyncio.Semaphore(concurrency)
        self._pacer = pacer or Pacer()
        self._background: set[asyncio.Task[Any]] = set()
        # Rows queued or being sent: the periodic retry and a re-run job must not send them a second time.
        self._in_flight: set[int] = set()
        self._closing = False
        self.owns = owns  # the servers of this process's shards: the others' rows are another process's

    # --- entry points ----------------------------------------------------------------------------

    async def send(self, rows: Iterable[Delivery]) -> dict[int, DeliveryStatus]:
        """Send these recorded rows now (up to the concurrency limit); returns each row's status by row id."""
        pending = list(rows)
        results = await asyncio.gather(*(self._send_slot(delivery) for delivery in pending))
        if pending:
            log.info("Sent %d deliveries: %s", len(pending), dict(Counter(results)))
        return {delivery.id: status for delivery, status in zip(pending, results, strict=True)}

    def dispatch(self, rows: Iterable[Delivery]) -> dict[int, asyncio.Task[DeliveryStatus]]:
        """Send these rows in the background, so no reply waits for the queue; drain() waits for them."""
        tasks: dict[int, asyncio.Task[DeliveryStatus]] = {}
        for delivery in rows:
            task = asyncio.create_task(self._send_slot(delivery), name=f"delivery-{delivery.id}")
            self._track(task)
            tasks[delivery.id] = task
        return tasks

    def spawn(self, work: Coroutine[Any, Any, object], name: str) -> None:
        self._track(asyncio.create_task(self._guarded(work), name=name))

    async def retry_due(self) -> int:
        """Send every pending delivery whose time has come: after a restart, and after transient failures."""
        if self._closing:
            return 0
        # Page through every due row: with several processes, the first page may hold only other shards' rows.
        due: list[Delivery] = []
        after = 0
        now = self.service.clock()
        while True:
            async with self.service.db.reading() as conn:
                page = await store.due_deliveries(conn, now, limit=_RETRY_PAGE, after=after)
            # Rows a running fan-out has queued are its business, not a retry's; another shard's servers, its own.
            due += [row for row in page if row.id not in self._in_flight and self.owns(row.guild_id)]
            if len(page) < _RETRY_PAGE or len(due) >= _RETRY_PAGE:  # the rest at the next pass: memory stays bounded
                break
            after = page[-1].id
        if due:
            log.info("Resuming %d pending deliveries", len(due))
            await asyncio.gather(*(self._send_slot(delivery) for delivery in due))
        return len(due)

    def stop(self) -> None:
        """Start no new send: requests already on the wire finish, everything else stays pending in the
        outbox and goes out at the next start."""
        self._closing = True

    async def drain(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # --- sending ---------------------------------------------------------------------------------

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, object]) -> None:
        try:
            await work
        except Exception:
            log.exception("A background delivery task failed")

    async def _send_slot(self, delivery: Delivery) -> DeliveryStatus:
        if delivery.id in self._in_flight or self._closing:
            return DeliveryStatus.PENDING
        self._in_flight.add(delivery.id)
        try:
            # Emails wait for the mailer's own, smaller limit and never hold one of Discord's slots.
            async with contextlib.nullcontext() if delivery.kind in EMAIL_KINDS else self._slots:
                if self._closing:  # stopping while this row waited for a slot: it stays pending
                    return DeliveryStatus.PENDING
                return await self._send(delivery)
        except Exception:
            # One member's trouble never stops the others; the row stays pending for a retry.
            log.exception("Delivery %s failed unexpectedly", delivery.id)
            return await self._postpone(delivery, "unexpected error")
        finally:
            self._in_flight.discard(delivery.id)

    async def _send(self, queued: Delivery) -> DeliveryStatus:
        claimed = await self.service.claim_delivery(queued.id)
        if isinstance(claimed, DeliveryStatus):
            return claimed
        delivery = claimed
        if delivery.kind in EMAIL_KINDS:
            return await self._send_email(delivery)
        try:
            channel = await self._channel(delivery)
            if delivery.attempted_at is not None:
                await self._pacer.wait()
                found = await self._find_sent(channel, delivery, delivery.attempted_at)
                if found is not None:
                    log.info("Delivery %s was already in its channel (message %s)", delivery.id, found.id)
                    await self._finish(delivery, DeliveryStatus.SENT, message_id=found.id)
                    return DeliveryStatus.SENT
            talk = await self.service.talk_by_id(delivery.talk_id)
            kwargs = await self._render(delivery, talk, self.service.clock())
            # Everything that waits on the database is done: the request leaves in its paced slot, so sends
            # do not bunch up behind the database and overrun the global limit.
            await self._pacer.wait()
            if self._closing:
                return DeliveryStatus.PENDING  # its recorded attempt costs one history look-up at the next start
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

    async def _find_sent(
        self, channel: discord.PartialMessageable, delivery: Delivery, attempted_at: datetime
    ) -> discord.Message | None:
        """The message an earlier attempt of this row posted, if Discord has it: the answer to that attempt
        may have been lost, and Discord forgets nonces after a few minutes."""
        me = self.client.user
        try:
            async for message in channel.history(limit=HISTORY_LIMIT, after=attempted_at - HISTORY_SLACK):
                if me is not None and message.author.id == me.id and carries_marker(message, delivery.marker):
                    return message
        except discord.Forbidden:
            # Without Read Message History (Discord then answers 403, or an empty list for a channel) the nonce
            # is all there is.
            log.warning("Cannot read the history of channel %s to check delivery %s", channel.id, delivery.id)
        return None

    async def _send_email(self, delivery: Delivery) -> DeliveryStatus:
        talk = await self.service.talk_by_id(delivery.talk_id)
        now = self.service.clock()
        async with self.service.db.reading() as conn:
            member = await store.get_member_email(conn, delivery.guild_id, delivery.recipient_id)
            registration = await store.get_registration(conn, talk.id, delivery.recipient_id)
        if self.mailer is None or member is None:
            await self._finish(delivery, DeliveryStatus.MISSED, error="email turned off or address removed")
            return DeliveryStatus.MISSED
        guild = self.client.get_guild(delivery.guild_id)
        links = self.unsubscribes
        unsubscribe = await links.link(delivery.guild_id, delivery.recipient_id, member.address) if links else None
        parties = Parties(
            sender=self.mailer.sender,
            sender_name=self.mailer.sender_name,
            server_name=guild.name if guild else None,
            address=member.address,
            attendee_name=registration.display_name if registration else member.display_name,
            unsubscribe_url=unsubscribe,
        )
        # Derived from the row (and the talk's creation, which a rebuilt database does not repeat), so a
        # re-send after a crash carries the same Message-ID and mail systems can recognise it.
        message_id = self.mailer.message_id(f"podium-delivery-{delivery.id}.{to_unix(talk.created_at)}")
        tz = await self.service.zone(talk.guild_id)
        language = await self._language(delivery.guild_id, delivery.recipient_id)
        message = invite_email(talk, delivery.kind, parties, tz=tz, now=now, message_id=message_id, language=language)
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
        if delivery.kind is DeliveryKind.CERTIFICATE:
            return await self._certificate(delivery, talk)
        if delivery.kind is DeliveryKind.JOIN_LINK:
            # Rendered from the talk's current link: the claim checked that this row is for that link.
            assert talk.join_url is not None
            language = await self._language(talk.guild_id, delivery.recipient_id)
            return {
                "content": join_link_message(talk, talk.join_url, language),
                "view": join_link_view(talk, talk.join_url, delivery.marker, language),
            }
        if delivery.kind is DeliveryKind.REMINDER:
            language = await self._language(talk.guild_id, delivery.recipient_id)
            if talk.join_url and delivery.key == (await self.service.settings(talk.guild_id)).join_link_lead():
                # The reminder at the release time carries the join link (no separate DM, see bot/joinlink.py).
                return reminder_with_link(talk, delivery.key, talk.join_url, delivery.marker, language)
            return {
                "content": reminder_message(talk, delivery.key, language),
                "view": reminder_view(talk, delivery.marker, language),
            }
        if delivery.kind is DeliveryKind.REMINDER_POST:
            settings = await self.service.settings(talk.guild_id)
            role = settings.ping_role_id
            # The only mention Podium ever allows: the role the server chose to ping for reminders.
            mentions = discord.AllowedMentions(
                everyone=False, users=False, roles=[discord.Object(id=role)] if role else False
            )
            # The whole server reads the post: the server's language, from the settings just read.
            language = self._server_language(settings.language, talk.guild_id)
            return {
                "content": reminder_post(talk, delivery.key, role, language),
                "allowed_mentions": mentions,
                "view": reminder_post_view(talk, delivery.marker, language),
            }
        if delivery.kind is DeliveryKind.FEEDBACK_REQUEST:
            language = await self._language(talk.guild_id, delivery.recipient_id)
            return {
                "content": request_message(talk, language),
                "view": request_view(talk, delivery.marker, language),
            }
        if delivery.kind is DeliveryKind.QUESTIONS:
            # The list as it stands when it leaves: questions asked or hidden since the row was recorded count.
            language = await self._language(talk.guild_id, delivery.recipient_id)
            async with self.service.db.reading() as conn:
                questions = await question_rows.ranked(conn, talk.id)
            listed = speaker_list(talk, questions, language, marker=delivery.marker)
            rendered: dict[str, Any] = {
                "content": listed.content,
                "view": speaker_view(talk, delivery.marker, language),
                "allowed_mentions": discord.AllowedMentions.none(),
            }
            if listed.file is not None:
                rendered["file"] = listed.file
            return rendered
        tz = await self.service.zone(talk.guild_id)
        language = await self._language(talk.guild_id, delivery.recipient_id)
        return {
            "content": invite_message(talk, delivery.kind, language),
            "file": invite_file(talk, delivery.kind, tz, now, language=language, marker=delivery.marker),
        }

    async def _certificate(self, delivery: Delivery, talk: Talk) -> dict[str, Any]:
        assert self.certificates is not None
        certificate = await self.certificates.by_id(delivery.key)
        language = await self._language(talk.guild_id, delivery.recipient_id)
        tz = await self.service.zone(talk.guild_id)
        verify_url = verify_link(self.public_url, certificate)
        # A few tens of milliseconds of layout: off the event loop, like the web side's renderings.
        pdf = await asyncio.to_thread(certificate_pdf, certificate, zone=tz, language=language, verify_url=verify_url)
        return {
            "content": certificate_message(certificate, language, verify_url),
            "file": discord.File(io.BytesIO(pdf), filename=file_name(certificate, language, delivery.marker)),
        }

    async def _language(self, guild_id: int, user_id: int) -> str:
        # Languages keeps members' languages in memory, so a fan-out of reminders costs no query per member.
        languages = getattr(self.client, "languages", None)
        if languages is None:
            return DEFAULT_LANGUAGE
        language: str = await languages.member(guild_id, user_id)
        return language

    def _server_language(self, chosen: str | None, guild_id: int) -> str:
        languages = getattr(self.client, "languages", None)
        if languages is None:
            return DEFAULT_LANGUAGE
        language: str = languages.of_server(chosen, guild_id)
        return language

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
