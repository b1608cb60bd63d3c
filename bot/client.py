"""The Bot: owns the database, the domain service and the Discord-facing helpers."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import discord
import yarl
from apscheduler.schedulers.base import STATE_RUNNING
from discord.ext import commands

from bot import store
from bot.announcer import Announcer
from bot.certificates import Certificates
from bot.command_translator import CommandTranslator
from bot.courier import Courier
from bot.database import Database
from bot.email_addresses import EmailAddresses
from bot.event_mirror import EventMirror
from bot.feeds import FeedService
from bot.languages import Languages
from bot.mailer import Mailer
from bot.office import Office
from bot.pacing import Pacer, share_per_second
from bot.scheduler import TalkScheduler
from bot.settings import Settings
from bot.talks import TalkService
from bot.unsubscribe import Unsubscribes
from bot.web import WebServer
from bot.web_health import Health, database_reachable

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.errors",
    "cogs.setup",
    "cogs.organizers",
    "cogs.members",
    "cogs.email",
    "cogs.calendar",
    "cogs.attendance",
    "cogs.joinlink",
    "cogs.checkin",
    "cogs.questions",  # after cogs.organizers: it adds subcommands to /talk
    "cogs.feedback",  # likewise
    "cogs.series",
    "cogs.native_events",
)
_COMMANDS_FINGERPRINT = "commands_fingerprint"


def point_at_api(settings: Settings) -> None:
    """Send REST and gateway traffic to the configured Discord-compatible API.

    discord.py has no per-client setting for this; a non-sharded client also never asks
    /gateway/bot, so the gateway URL must be moved alongside the REST base.
    """
    discord.http.Route.BASE = settings.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


class PodiumBot(commands.Bot):
    def __init__(self, settings: Settings, db: Database, **connection: Any) -> None:
        # Podium never joins voice; the missing voice libraries are expected, not worth a warning.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True  # channels and roles for /setup and permission checks; no privileged intents
        intents.guild_scheduled_events = True  # the talks' native events: deleted by hand, "Interested" clicks
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            # Nothing a member types may ping anyone; the few messages that must ping opt in explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            **connection,
        )
        self.settings = settings
        self.db = db
        self.mailer = Mailer.from_settings(settings)  # None unless SMTP_HOST is set
        self.service = TalkService(db, settings.tz, email=self.mailer is not None)
        self.languages = Languages(db, lambda: self.service.clock(), self.preferred_locale)
        # One pace for everything the bot sends on its own, at this process's share of the bot's global limit.
        self.pacer = Pacer(share_per_second(settings))
        self.announcer = Announcer(self, self.service, self.pacer, self.languages)
        self.mirror = EventMirror(self, self.service)
        self.announcer.mirror = self.mirror  # every announcement change is also the talk's event's
        # Follows the service's clock (tests move it) so code expiry and talk times agree.
        self.emails = EmailAddresses(db, lambda: self.service.clock())
        # Links in emails only when the web side runs to answer them.
        public_url = settings.public_url if settings.web_enabled else None
        self.unsubscribes = Unsubscribes(db, lambda: self.service.clock(), public_url)
        self.certificates = Certificates(db, lambda: self.service.clock(), settings.tz)
        self.courier = Courier(
            self,
            self.service,
            pacer=self.pacer,
            mailer=self.mailer,
            unsubscribes=self.unsubscribes,
            certificates=self.certificates,
            public_url=public_url,
            owns=settings.owns,
        )
        self.scheduler = TalkScheduler(
            self.service, self.courier, self.announcer, mirror=self.mirror, owns=settings.owns
        )
        # Every entry point (commands, buttons, import) goes through the office's use cases.
        self.office = Office(
            self.service, self.emails, self.scheduler, self.announcer, self.courier, certificates=self.certificates
        )
        self.feeds = FeedService(self.service)
        self.web = (
            WebServer(
                settings,
                self.feeds,
                self.server_name,
                self.unsubscribes,
                self.languages,
                self.certificates,
                health=self.health,
            )
            if settings.web_enabled
            else None
        )

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CommandTranslator())
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self._sync_commands()
        await self.service.release_claims(self.settings.owns)
        await self.scheduler.start()
        # Needs the servers' cache (the bot's permissions there), which the gateway fills after setup_hook.
        self.courier.spawn(self._reconcile_events(), "reconcile-events")
        if self.web is not None:
            await self.web.start()

    async def _sync_commands(self) -> None:
        """Sync to DEV_GUILD_ID at once when set; else sync globally only when the commands changed.

        The command list is the bot's, not a shard's: only the process that runs shard 0 syncs it. Processes
        started together would otherwise all read the old fingerprint before any stored the new one, and each
        PUT the same list on a tightly rate-limited route.
        """
        shards = self.settings.own_shards
        if 0 not in shards:
            listed = ",".join(map(str, shards))
            log.info("Slash commands not synced here: shard 0's process syncs them (this one runs shards %s)", listed)
            return
        if self.settings.dev_guild_id is not None:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to the development server %s", len(synced), guild.id)
            return
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        fingerprint = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        async with self.db.reading() as conn:
            known = await store.get_state(conn, _COMMANDS_FINGERPRINT)
        if known == fingerprint:
            log.info("Slash commands unchanged since the last sync")
            return
        synced = await self.tree.sync()
        async with self.db.transaction() as conn:
            await store.set_state(conn, _COMMANDS_FINGERPRINT, fingerprint)
        log.info("Synced %d global slash commands", len(synced))

    async def health(self) -> Health:
        """What GET /healthz reports (bot/web_health.py)."""
        latency = self.latency
        # Connected: the websocket is open (is_ready() waits for every server's data, and stays set while a
        # dropped connection resumes).
        connected = not self.is_closed() and self._gateway_open()
        scheduler = self.scheduler.scheduler
        running = scheduler.running and scheduler.state == STATE_RUNNING
        return Health(
            gateway_connected=connected,
            gateway_latency_ms=round(latency * 1000) if connected and 0 <= latency < float("inf") else None,
            database_reachable=await database_reachable(self.db),
            scheduler_running=running,
            scheduled_jobs=len(scheduler.get_jobs()) if running else 0,
        )

    def _gateway_open(self) -> bool:
        websocket = getattr(self, "ws", None)
        return websocket is not None and bool(websocket.open)

    async def _reconcile_events(self) -> None:
        await self.wait_until_ready()
        await self.mirror.reconcile_all()

    async def on_ready(self) -> None:
        # Runs again after every reconnect: only logging belongs here.
        log.info("Connected as %s (id %s) to %d servers", self.user, self.user and self.user.id, len(self.guilds))

    async def on_interaction(self, interaction: discord.Interaction[PodiumBot]) -> None:
        # The member's language, for what reaches them later outside an interaction (DMs, emails).
        if interaction.locale is not None:
            await self.languages.seen(interaction.user.id, interaction.locale)

    def preferred_locale(self, guild_id: int) -> str | None:
        guild = self.get_guild(guild_id)
        return guild.preferred_locale.value if guild is not None and guild.preferred_locale else None

    def server_name(self, guild_id: int) -> str | None:
        guild = self.get_guild(guild_id)
        return guild.name if guild is not None else None

    async def close(self) -> None:
        if self.web is not None:
            await self.web.stop()
        await self.scheduler.stop()  # also stops the courier: no new send starts
        self.courier.stop()
        await self.courier.drain()
        await self.announcer.drain()
        await super().close()


class ShardedPodiumBot(PodiumBot, commands.AutoShardedBot):
    """The same bot over the gateway connections of SHARD_IDS (discord.py's AutoShardedBot): it serves only the
    servers of its shards, so several processes split one bot's servers between them (see Settings.owns)."""

    def _gateway_open(self) -> bool:
        # One websocket per shard: healthy when every shard of this process is connected.
        shards = self.shards
        return bool(shards) and all(not shard.is_closed() for shard in shards.values())


def make_bot(settings: Settings, db: Database) -> PodiumBot:
    """The bot for these settings: unsharded, or the shards of SHARD_COUNT and SHARD_IDS."""
    if settings.shard_count is None:
        return PodiumBot(settings, db)
    shard_ids = list(settings.shard_ids) if settings.shard_ids is not None else None
    return ShardedPodiumBot(settings, db, shard_count=settings.shard_count, shard_ids=shard_ids)
