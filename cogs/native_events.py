"""The talks' native Discord events: events deleted by hand, and "Interested" clicks (bot/event_interest.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.event_interest import InterestRegistrations

if TYPE_CHECKING:
    from bot.client import PodiumBot

log = logging.getLogger(__name__)

# discord.py drops these for users it has not cached (nearly all, without the members intent): the raw payloads
# are read here, before its own parser runs.
RAW_INTEREST = ("GUILD_SCHEDULED_EVENT_USER_ADD", "GUILD_SCHEDULED_EVENT_USER_REMOVE")


class NativeEvents(commands.Cog):
    def __init__(self, bot: PodiumBot) -> None:
        self.bot = bot
        self.interest = InterestRegistrations(bot, bot.office)
        self._originals: dict[str, Callable[[Any], None]] = {}

    async def cog_load(self) -> None:
        parsers: dict[str, Callable[[Any], None]] = self.bot._connection.parsers
        for name in RAW_INTEREST:
            original = parsers[name]
            self._originals[name] = original
            parsers[name] = self._reader(name, original)
        self.bot.scheduler.add_periodic_reconcile(self.reconcile_interest)

    async def cog_unload(self) -> None:
        parsers: dict[str, Callable[[Any], None]] = self.bot._connection.parsers
        parsers.update(self._originals)

    def _reader(self, name: str, original: Callable[[Any], None]) -> Callable[[Any], None]:
        def read(data: Any) -> None:
            try:
                guild_id, event_id, user_id = (
                    int(data[key]) for key in ("guild_id", "guild_scheduled_event_id", "user_id")
                )
            except (KeyError, TypeError, ValueError):
                log.warning("Malformed %s payload ignored", name)
            else:
                handler = self.interest.added if name.endswith("ADD") else self.interest.removed
                self.bot.courier.spawn(handler(guild_id, event_id, user_id), f"interest-{event_id}-{user_id}")
            original(data)

        return read

    async def reconcile_interest(self) -> None:
        for guild in list(self.bot.guilds):
            try:
                await self.interest.reconcile(guild.id)
            except Exception:
                log.exception("Reconciling the interest in the events of server %s failed", guild.id)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # Clicks made while the bot was away; on_ready runs again after a reconnect, which may have missed some.
        self.bot.courier.spawn(self.reconcile_interest(), "reconcile-interest")

    @commands.Cog.listener()
    async def on_scheduled_event_delete(self, event: discord.ScheduledEvent) -> None:
        await self.bot.mirror.deleted(event.guild_id, event.id)


async def setup(bot: commands.Bot) -> None:
    from bot.client import PodiumBot  # at run time only: bot.client names this module in its extensions

    # Only the real bot has events to follow (bot.catalog loads the extensions into a bare one for their names).
    if isinstance(bot, PodiumBot):
        await bot.add_cog(NativeEvents(bot))
