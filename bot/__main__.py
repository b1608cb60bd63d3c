"""Entry point: ``python -m bot``."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import aiohttp
import discord

from bot.client import PodiumBot, point_at_api
from bot.database import Database
from bot.errors import ConfigurationError
from bot.logs import setup_logging
from bot.settings import Settings, load_settings

log = logging.getLogger("bot")

EXIT_CONFIG = 2
EXIT_DISCORD = 1


async def run(settings: Settings) -> None:
    """Open the database, start the bot and keep it running until it is closed."""
    point_at_api(settings)
    db = await Database.open(settings.database_path)
    try:
        async with PodiumBot(settings, db) as bot:
            # SIGTERM (service managers) and Ctrl-C close the bot cleanly: jobs finish their sends first.
            loop = asyncio.get_running_loop()
            closing: set[asyncio.Task[None]] = set()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: closing.add(asyncio.create_task(bot.close())))
            await bot.start(settings.token)
    finally:
        await db.close()


def main() -> int:
    try:
        settings = load_settings()
    except ConfigurationError as error:
        sys.stderr.write(f"podium: {error}\n")
        return EXIT_CONFIG
    setup_logging(settings.log_level, settings.token)
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        log.info("Stopped.")
        return 0
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN. Copy the token again from the Developer Portal (Bot page).")
        return EXIT_CONFIG
    except (aiohttp.ClientConnectionError, OSError, TimeoutError) as error:
        log.error(
            "Cannot reach the Discord API at %s (%s). Check the network and DISCORD_API_BASE.",
            settings.api_base,
            type(error).__name__,
        )
        return EXIT_DISCORD
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused the gateway intents this bot asked for.")
        return EXIT_DISCORD
    except discord.GatewayNotFound:
        log.error("Cannot reach the Discord gateway at %s. Check DISCORD_GATEWAY_URL.", settings.gateway_url)
        return EXIT_DISCORD
    log.info("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
