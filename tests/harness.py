"""Runs the real Podium bot (real discord.py) against the local Discord emulator."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import yarl
from icalendar import Calendar

from bot.client import PodiumBot, make_bot
from bot.database import Database
from bot.settings import load_settings
from tests.databases import database_env
from tests.emulator import DiscordEmulator, EmulatedInteraction, Perm

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class School:
    """A server set up like our first users': organizers, students, an announcement channel."""

    emu: DiscordEmulator
    guild_id: int
    channel_id: int
    organizer_role: int
    ping_role: int
    admin: int
    organizer: int
    students: dict[str, int] = field(default_factory=dict)

    async def run(
        self, user: int, command: str, options: Mapping[str, Any] | None = None, timeout: float = 10.0
    ) -> EmulatedInteraction:
        interaction = await self.emu.slash(
            self.guild_id, user, command, dict(options or {}), channel_id=self.channel_id
        )
        await interaction.wait_done(timeout)
        return interaction

    async def click(
        self, user: int, message: Mapping[str, Any] | int, custom_id: str, timeout: float = 10.0
    ) -> EmulatedInteraction:
        interaction = await self.emu.click(self.guild_id, user, message, custom_id)
        await interaction.wait_done(timeout)
        return interaction

    def announcements(self) -> list[dict[str, Any]]:
        return [m for m in self.emu.messages(self.channel_id) if m.get("embeds")]


def build_school(
    emu: DiscordEmulator,
    students: tuple[str, ...] = ("alice", "bob", "carol", "dave"),
    *,
    shard: tuple[int, int] | None = None,
) -> School:
    """``shard`` (shard id, shard count): a server whose id Discord would put on that shard."""
    guild = emu.add_guild("Faculty of Medicine", shard=shard)
    channel = emu.add_text_channel(guild.id, "talks")
    organizer_role = emu.add_role(guild.id, "Organizers")
    ping_role = emu.add_role(guild.id, "Talk fans", mentionable=True)
    admins = emu.add_role(guild.id, "Admins", Perm.ADMINISTRATOR)
    admin = emu.add_user("dean")
    emu.add_member(guild.id, admin, roles=[admins])
    organizer = emu.add_user("orla")
    emu.add_member(guild.id, organizer, roles=[organizer_role])
    # /talk needs Manage Events by default; the admin lets the organizer role use it (Server Settings >
    # Integrations), as the README's set-up asks.
    emu.set_command_permission(guild.id, "talk", organizer_role)
    school = School(emu, guild.id, channel, organizer_role, ping_role, admin, organizer)
    for name in students:
        user = emu.add_user(name)
        emu.add_member(guild.id, user)
        school.students[name] = user
    return school


def bot_env(emu: DiscordEmulator, database: Path, **extra: str) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": emu.token,
        "DISCORD_API_BASE": emu.api_base,
        "DISCORD_GATEWAY_URL": emu.gateway_url,
        **database_env(database),
        "DEFAULT_TIMEZONE": "Europe/Paris",
        "LOG_LEVEL": "INFO",
        **extra,
    }


@asynccontextmanager
async def running_bot(emu: DiscordEmulator, database: Path, **extra: str) -> AsyncIterator[PodiumBot]:
    """The same start-up as ``python -m bot`` (bot.__main__.run), in this process so tests can look inside."""
    async with running_bots(emu, database, extra) as (bot,):
        yield bot


@asynccontextmanager
async def running_bots(
    emu: DiscordEmulator, database: Path, *extras: Mapping[str, str]
) -> AsyncIterator[tuple[PodiumBot, ...]]:
    """Several bot processes' worth of bots on one database (e.g. one per block of shards), started together:
    the emulator's gateway is ready only once every shard is connected."""
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    settings = [load_settings(bot_env(emu, database, **extra), env_file=None) for extra in extras]
    discord.http.Route.BASE = settings[0].api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings[0].gateway_url)
    dbs = [await Database.open(each.database_target) for each in settings]
    bots = [make_bot(each, db) for each, db in zip(settings, dbs, strict=True)]
    tasks = [
        asyncio.create_task(bot.start(each.token), name="podium-bot") for bot, each in zip(bots, settings, strict=True)
    ]
    try:
        # The emulator is ready once READY and every GUILD_CREATE went out; setup_hook ran before that.
        # (discord.py's own on_ready waits a further guild_ready_timeout, 2 s, for nothing here.)
        ready = asyncio.create_task(emu.wait_ready(timeout=15))
        done, _ = await asyncio.wait({ready, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task in done:
                ready.cancel()
                task.result()  # raises what stopped the bot
                raise RuntimeError("the bot stopped before it was ready")
        ready.result()
        # The emulator has sent every GUILD_CREATE; let the bots' loop parse them into their caches.
        async with asyncio.timeout(10):
            for bot, each in zip(bots, settings, strict=True):
                expected = {g.id for g in emu.world.guilds.values() if emu.bot_user_id in g.members and each.owns(g.id)}
                # discord.py fires no event while it fills its cache before on_ready; the frames are already on
                # the socket, so yielding to the loop (no delay) is enough.
                while expected - {guild.id for guild in bot.guilds}:  # noqa: ASYNC110
                    await asyncio.sleep(0)
        yield tuple(bots)
    finally:
        for bot in bots:
            await bot.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        for db in dbs:
            await db.close()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


def ics_of(emu: DiscordEmulator, message: Mapping[str, Any]) -> Calendar:
    [attachment] = [a for a in message["attachments"] if a["filename"].endswith(".ics")]
    return Calendar.from_ical(emu.attachment_bytes(attachment))


def ics_attachments(interaction: EmulatedInteraction) -> list[Calendar]:
    return [Calendar.from_ical(data) for name, data in interaction.attachments if name.endswith(".ics")]


class BotProcess:
    """``python -m bot`` in a child process, exactly as an operator starts it; its log goes to a file."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        root = PROJECT_ROOT
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD"))}
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=root,
                env={**base, **self.env, "PYTHONPATH": str(root)},
                stdout=log,
                stderr=log,
            )

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no flushing, like a crash or an OOM kill."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def wait_started(emu: DiscordEmulator, bots: Sequence[BotProcess], identifies: int, timeout: float = 30) -> None:
    """Until the emulator saw ``identifies`` IDENTIFYs in all and every shard is ready; the bots' logs if not."""
    try:
        await emu.wait_for_identify(identifies, timeout=timeout)
        await emu.wait_ready(timeout=timeout)
    except TimeoutError:
        logs = "\n".join(f"--- {bot.log_path.name}:\n{bot.log()}" for bot in bots)
        raise AssertionError(f"the bots did not start; their logs:\n{logs}") from None
