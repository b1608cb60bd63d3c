"""Entry point: ``python -m bot`` runs the bot; ``python -m bot backup PATH`` copies its database;
``python -m bot migrate --to URL`` copies it into PostgreSQL (bot/migrate_to_postgres.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import discord

from bot.client import make_bot, point_at_api
from bot.database import SIDE_FILES, Database, DatabaseUnavailable, backup_database, is_postgresql_url
from bot.database_urls import url_secrets
from bot.errors import ConfigurationError
from bot.logs import secret_forms, setup_logging
from bot.settings import Settings, load_database_path, load_database_url, load_settings

log = logging.getLogger("bot")

EXIT_CONFIG = 2
EXIT_DISCORD = 1
EXIT_BACKUP_FAILED = 1
EXIT_DATABASE = 1


async def run(settings: Settings) -> None:
    """Open the database, start the bot and keep it running until it is closed."""
    point_at_api(settings)
    db = await Database.open(settings.database_target, pool_size=settings.database_pool_size)
    try:
        async with make_bot(settings, db) as bot:
            # SIGTERM (service managers) and Ctrl-C close the bot cleanly: jobs finish their sends first.
            loop = asyncio.get_running_loop()
            closing: set[asyncio.Task[None]] = set()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: closing.add(asyncio.create_task(bot.close())))
            await bot.start(settings.token)
    finally:
        await db.close()


def _postgresql_url(value: str) -> str:
    """argparse's type for ``migrate --to``."""
    value = value.strip()
    if not is_postgresql_url(value):
        # The message, never the value: argparse prints this, and the value may carry a password.
        raise argparse.ArgumentTypeError(
            "must be a postgresql:// URL, such as postgresql://podium:PASSWORD@localhost:5432/podium"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Run the Podium bot (without a command).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    backup_command = commands.add_parser(
        "backup",
        help="copy the database to PATH, safely while the bot runs",
        description="Copy DATABASE_PATH to PATH with SQLite's online backup API; safe while the bot runs.",
    )
    backup_command.add_argument("path", type=Path, metavar="PATH", help="the new backup file (must not exist yet)")
    migrate_command = commands.add_parser(
        "migrate",
        help="copy the database into an empty PostgreSQL database (stop the bot first)",
        description=(
            "Copy DATABASE_PATH into the empty PostgreSQL database at --to, in one transaction, and check the "
            "row counts. Stop the bot first; then set DATABASE_URL to the same URL and start it."
        ),
    )
    migrate_command.add_argument(
        "--to",
        required=True,
        type=_postgresql_url,
        metavar="URL",
        help="the target, postgresql://user:password@host:port/database",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "backup":
        return backup(args.path)
    if args.command == "migrate":
        # Imported here: it loads asyncpg, which a bot on SQLite never needs.
        from bot import migrate_to_postgres

        return migrate_to_postgres.command(args.to)
    return run_bot()


def _backup_refusal(database: Path, target: Path) -> str | None:
    """Why ``target`` must not be written, as one line that says what to do instead; None when it may."""
    live = database.resolve()
    if target.resolve() in (live, *(Path(f"{live}{suffix}") for suffix in SIDE_FILES)) or (
        target.exists() and database.exists() and os.path.samefile(target, database)
    ):
        return (
            f"{target} is the live database (or one of its -wal/-shm/-journal files); "
            "give a new path for the copy, such as backups/podium-YYYY-MM-DD.sqlite3."
        )
    if not database.is_file():
        return f"there is no database at {database}; set DATABASE_PATH (environment or .env) to the bot's database."
    if not target.parent.is_dir():
        return f"the folder {target.parent} does not exist; create it first (mkdir -p {target.parent})."
    if target.exists() or target.is_symlink():
        return f"{target} already exists; a backup never overwrites a file, so give a new file name."
    return None


def backup(target: Path) -> int:
    """``python -m bot backup PATH``: needs only DATABASE_PATH, not the token."""
    database = load_database_path()
    try:
        on_postgresql = load_database_url() is not None
    except ConfigurationError as error:
        sys.stderr.write(f"podium: {error}\n")
        return EXIT_CONFIG
    refusal = (
        "DATABASE_URL is set: the bot's data is in PostgreSQL, not in DATABASE_PATH; back it up with pg_dump "
        "(see the README's Scaling out)."
        if on_postgresql
        else _backup_refusal(database, target)
    )
    if refusal is not None:
        sys.stderr.write(f"podium: {refusal}\n")
        return EXIT_CONFIG
    setup_logging("INFO")
    try:
        pages = backup_database(database, target)
    except (sqlite3.Error, OSError) as error:
        log.error("Backup of %s to %s failed, nothing was written: %s", database, target, error)
        return EXIT_BACKUP_FAILED
    log.info("Backed up %s to %s (%d pages)", database, target, pages)
    return 0


def run_bot() -> int:
    try:
        settings = load_settings()
    except ConfigurationError as error:
        sys.stderr.write(f"podium: {error}\n")
        return EXIT_CONFIG
    # The SMTP password too: a mail server's error may echo it, and a traceback may carry that error.
    setup_logging(
        settings.log_level,
        settings.token,
        *secret_forms(settings.smtp_password or "", settings.smtp_user),
        *url_secrets(settings.database_url or ""),
    )
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        log.info("Stopped.")
        return 0
    except DatabaseUnavailable as error:
        log.error("Cannot open the database (%s). Check DATABASE_URL and that PostgreSQL is running.", error)
        return EXIT_DATABASE
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
