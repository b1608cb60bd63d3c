"""Typed settings read from the environment (and an optional ``.env`` file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.errors import ConfigurationError

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/"
DEFAULT_DATABASE_PATH = "data/podium.sqlite3"
DEFAULT_MAIL_FROM_NAME = "Podium"
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


@dataclass(frozen=True)
class Settings:
    token: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    gateway_url: str = DEFAULT_GATEWAY_URL
    database_path: Path = Path(DEFAULT_DATABASE_PATH)
    # PostgreSQL instead of the SQLite file when set (postgresql://user:password@host:port/database).
    database_url: str | None = field(default=None, repr=False)
    database_pool_size: int = 10
    default_timezone: str = "Europe/Paris"
    dev_guild_id: int | None = None
    log_level: str = "INFO"
    # The web side (calendar feeds, agenda page): on when both PUBLIC_URL and WEB_PORT are set.
    public_url: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int | None = None
    web_header_timeout: float = 10.0  # seconds a client has to send a request's headers
    web_connections_per_address: int = 16  # open connections per client address; 0 for no limit
    # Emailed invites: on when SMTP_HOST is set.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_starttls: bool = True
    # The From display name of every email: the operator's, never a server's (anyone can name a server).
    mail_from_name: str = DEFAULT_MAIL_FROM_NAME
    # Sharding: with SHARD_COUNT this process connects the shards in SHARD_IDS (all of them by default) and
    # serves only their servers; None runs one unsharded connection, as Discord allows below 2,500 servers.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    @property
    def web_enabled(self) -> bool:
        return self.public_url is not None and self.web_port is not None

    @property
    def email_enabled(self) -> bool:
        return self.smtp_host is not None

    @property
    def database_target(self) -> Path | str:
        """What Database.open takes: the PostgreSQL URL when set, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def total_shards(self) -> int:
        """The bot's number of shards; an unsharded bot is, to Discord, shard 0 of 1."""
        return self.shard_count if self.shard_count is not None else 1

    @property
    def own_shards(self) -> tuple[int, ...]:
        """The shards this process connects (SHARD_IDS, by default all of them; unsharded: shard 0)."""
        if self.shard_ids is not None:
            return self.shard_ids
        return tuple(range(self.total_shards))

    def owns(self, guild_id: int) -> bool:
        """Whether this process serves the server: Discord puts a server on shard (id >> 22) % shard_count."""
        if self.shard_count is None:
            return True
        shards = self.shard_ids if self.shard_ids is not None else range(self.shard_count)
        return (guild_id >> 22) % self.shard_count in shards


def _read_values(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    """``environ`` (default: the process environment) over an optional ``.env`` file."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def _database_path(values: Mapping[str, str]) -> Path:
    return Path(values.get("DATABASE_PATH", "").strip() or DEFAULT_DATABASE_PATH)


def _database_url(values: Mapping[str, str]) -> str | None:
    url = values.get("DATABASE_URL", "").strip()
    if not url:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        # Not the URL itself: it may carry a password.
        raise ConfigurationError("DATABASE_URL must start with postgresql:// (leave it empty for SQLite).")
    return url


def load_database_url(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> str | None:
    """DATABASE_URL as ``load_settings`` reads it (None for SQLite), for commands that need no token."""
    return _database_url(_read_values(environ, env_file))


def load_database_path(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Path:
    """DATABASE_PATH read exactly as ``load_settings`` reads it, for commands that need no token (backup)."""
    return _database_path(_read_values(environ, env_file))


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Build settings from ``environ`` (default: the process environment) over an optional ``.env`` file.

    Raises ConfigurationError with a one-line, token-free message when a setting is unusable.
    """
    values = _read_values(environ, env_file)

    def get(name: str) -> str | None:
        value = values.get(name, "").strip()
        return value or None

    token = get("DISCORD_TOKEN")
    if token is None:
        raise ConfigurationError(
            "DISCORD_TOKEN is not set: put your bot token in the environment or in a .env file (see .env.example)."
        )

    api_base = (get("DISCORD_API_BASE") or DEFAULT_API_BASE).rstrip("/")
    if not api_base.startswith(("http://", "https://")):
        raise ConfigurationError(f"DISCORD_API_BASE must be an http(s) URL, got {api_base!r}.")
    gateway_url = get("DISCORD_GATEWAY_URL") or DEFAULT_GATEWAY_URL
    if not gateway_url.startswith(("ws://", "wss://")):
        raise ConfigurationError(f"DISCORD_GATEWAY_URL must be a ws(s) URL, got {gateway_url!r}.")

    timezone = get("DEFAULT_TIMEZONE") or "Europe/Paris"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"DEFAULT_TIMEZONE {timezone!r} is not an IANA time zone (for example Europe/Paris)."
        ) from None

    dev_guild = get("DEV_GUILD_ID")
    if dev_guild is not None and not dev_guild.isdigit():
        raise ConfigurationError(f"DEV_GUILD_ID must be a server id (digits only), got {dev_guild!r}.")

    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigurationError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}.")

    public_url = get("PUBLIC_URL")
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"PUBLIC_URL must be an http(s) URL such as https://podium.example.edu, got {public_url!r}."
        )
    web_port = _port(get("WEB_PORT"), "WEB_PORT")
    header_timeout = get("WEB_HEADER_TIMEOUT") or "10"
    try:
        web_header_timeout = float(header_timeout)
    except ValueError:
        web_header_timeout = 0.0
    if not 0 < web_header_timeout <= 300:
        raise ConfigurationError(
            f"WEB_HEADER_TIMEOUT must be a number of seconds from 0 to 300, got {header_timeout!r}."
        )
    per_address = get("WEB_CONNECTIONS_PER_ADDRESS") or "16"
    if not per_address.isdigit():
        raise ConfigurationError(
            f"WEB_CONNECTIONS_PER_ADDRESS must be a whole number (0: no limit), got {per_address!r}."
        )
    smtp_port = _port(get("SMTP_PORT"), "SMTP_PORT") or 587
    smtp_host = get("SMTP_HOST")
    smtp_from = get("SMTP_FROM") or get("SMTP_USER")
    if smtp_host is not None and not smtp_from:
        raise ConfigurationError("SMTP_FROM (the address invites come from) is required when SMTP_HOST is set.")
    # A name written in SMTP_FROM ("Podium <podium@school.example>") is the default display name.
    mail_from_name = get("MAIL_FROM_NAME") or parseaddr(smtp_from or "")[0].strip() or DEFAULT_MAIL_FROM_NAME
    if not mail_from_name.isprintable() or len(mail_from_name) > 100:
        raise ConfigurationError("MAIL_FROM_NAME must be one line of at most 100 characters, such as Podium.")
    starttls = (get("SMTP_STARTTLS") or "true").lower()
    if starttls not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigurationError(f"SMTP_STARTTLS must be true or false, got {starttls!r}.")

    pool = get("DATABASE_POOL_SIZE") or "10"
    if not pool.isdigit() or not 2 <= int(pool) <= 100:
        raise ConfigurationError(f"DATABASE_POOL_SIZE must be a number of connections from 2 to 100, got {pool!r}.")
    pool_size = int(pool)

    shard_count, shard_ids = _shards(get("SHARD_COUNT"), get("SHARD_IDS"))
    return Settings(
        shard_count=shard_count,
        shard_ids=shard_ids,
        token=token,
        api_base=api_base,
        gateway_url=gateway_url,
        database_path=_database_path(values),
        database_url=_database_url(values),
        database_pool_size=pool_size,
        default_timezone=timezone,
        dev_guild_id=int(dev_guild) if dev_guild else None,
        log_level=log_level,
        public_url=public_url.rstrip("/") if public_url else None,
        web_host=get("WEB_HOST") or "127.0.0.1",
        web_port=web_port,
        web_header_timeout=web_header_timeout,
        web_connections_per_address=int(per_address),
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_user=get("SMTP_USER"),
        smtp_password=get("SMTP_PASSWORD"),
        smtp_from=smtp_from,
        smtp_starttls=starttls in ("true", "1", "yes"),
        mail_from_name=mail_from_name,
    )


MAX_SHARDS = 4096


def _shards(count: str | None, ids: str | None) -> tuple[int | None, tuple[int, ...] | None]:
    """SHARD_COUNT (1 to 4096) and SHARD_IDS, such as ``0-3`` or ``0,2,5``, each below the count."""
    if count is None:
        if ids is not None:
            raise ConfigurationError("SHARD_IDS needs SHARD_COUNT, the total number of shards of the bot.")
        return None, None
    if not count.isdigit() or not 1 <= int(count) <= MAX_SHARDS:
        raise ConfigurationError(f"SHARD_COUNT must be a whole number from 1 to {MAX_SHARDS}, got {count!r}.")
    total = int(count)
    if ids is None:
        return total, None
    chosen: set[int] = set()
    for part in ids.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or len(part) > 11:
            raise ConfigurationError(f"SHARD_IDS must look like 0-3 or 0,2,5, got {ids[:40]!r}.")
        first, last = int(low), int(high or low)
        if first > last or last >= total:
            raise ConfigurationError(f"SHARD_IDS {part!r} is not within 0 to {total - 1} (SHARD_COUNT is {total}).")
        chosen.update(range(first, last + 1))
    return total, tuple(sorted(chosen))


def _port(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigurationError(f"{name} must be a port number from 1 to 65535, got {value!r}.")
    return int(value)
