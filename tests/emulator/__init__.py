"""A local Discord emulator (REST API + gateway) for end-to-end tests with the real discord.py client.

Typical use::

    async with DiscordEmulator(latency=0.02) as emu:
        guild = emu.add_guild("Med School")
        talks = emu.add_text_channel(guild.id, "talks")
        alice = emu.add_user("alice")
        emu.add_member(guild.id, alice)
        discord.http.Route.BASE = emu.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
        task = asyncio.create_task(bot.start(emu.token))
        await emu.wait_ready()
        ia = await emu.slash(guild.id, alice, "register", {"talk": 1}, channel_id=talks)
        await ia.wait_done()
        assert ia.ephemeral and "registered" in ia.content
        await bot.close()

See tests/test_emulator.py for the rest (buttons, modals, DMs, faults, rate limits, resumes) and
tests/test_emulator_events.py for guild scheduled events (``create_scheduled_event_by_hand``,
``mark_interested``, ``set_bot_permission``...).
"""

from .emulator import DiscordEmulator, EmulatorStats, FaultRule, RequestRecord
from .errors import ApiError, EmulatorUsageError
from .gateway import Intent
from .interactions import CallbackType, EmulatedInteraction, InteractionType
from .ratelimit import DISCORD_LIKE_LIMITS
from .state import ChannelType, EntityType, EventStatus, Guild, MessageFlag, Overwrite, Perm

__all__ = [
    "DISCORD_LIKE_LIMITS",
    "ApiError",
    "CallbackType",
    "ChannelType",
    "DiscordEmulator",
    "EmulatedInteraction",
    "EmulatorStats",
    "EmulatorUsageError",
    "EntityType",
    "EventStatus",
    "FaultRule",
    "Guild",
    "Intent",
    "InteractionType",
    "MessageFlag",
    "Overwrite",
    "Perm",
    "RequestRecord",
]
