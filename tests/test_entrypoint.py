"""``python -m bot`` as an operator runs it: configuration errors and an unreachable API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "MTIz.secret-token-value.abc"


def run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "DATABASE_"))}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot"], env={**base, **env}, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_missing_token_is_one_clear_line(tmp_path: Path) -> None:
    result = run_bot({}, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DISCORD_TOKEN is not set" in lines[0]
    assert "Traceback" not in result.stderr


def test_unreachable_api_fails_cleanly_without_leaking_the_token(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_bot(
        {
            "DISCORD_TOKEN": SECRET,
            "DISCORD_API_BASE": f"http://127.0.0.1:{port}/api/v10",
            "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{port}/",
            "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        },
        tmp_path,
    )
    assert result.returncode == 1
    assert "Cannot reach the Discord API" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_unreachable_postgresql_fails_cleanly_without_leaking_its_password(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_bot(
        {
            "DISCORD_TOKEN": SECRET,
            "DATABASE_URL": f"postgresql://podium:db-{SECRET}@127.0.0.1:{port}/podium",
            "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        },
        tmp_path,
    )
    assert result.returncode == 1
    assert f"Cannot open the database (127.0.0.1:{port}/podium" in result.stderr
    assert "Cannot reach the Discord API" not in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_settings_from_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=abc\nDEV_GUILD_ID=42\nLOG_LEVEL=debug\n")
    settings = load_settings({}, env_file)
    assert settings.token == "abc"
    assert settings.dev_guild_id == 42
    assert settings.log_level == "DEBUG"
    assert settings.api_base == "https://discord.com/api/v10"
    assert str(settings.database_path) == "data/podium.sqlite3"
    assert "abc" not in repr(settings)
    assert load_settings({"DISCORD_TOKEN": "from-env"}, env_file).token == "from-env"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DEFAULT_TIMEZONE": "Paris"}, "IANA"),
        ({"DEV_GUILD_ID": "abc"}, "DEV_GUILD_ID"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DISCORD_API_BASE": "ftp://x"}, "DISCORD_API_BASE"),
        ({"DISCORD_GATEWAY_URL": "http://x"}, "DISCORD_GATEWAY_URL"),
    ],
)
def test_bad_settings(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as info:
        load_settings({"DISCORD_TOKEN": SECRET, **env}, None)
    assert SECRET not in str(info.value)


def test_token_is_redacted_from_log_records(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from bot.logs import RedactFilter

    logger = logging.getLogger("podium.test.redact")
    redact = RedactFilter(SECRET)
    logger.addFilter(redact)
    try:
        with caplog.at_level(logging.INFO, logger="podium.test.redact"):
            logger.info("connecting with %s", SECRET)
            try:
                raise RuntimeError(f"bad header Authorization: Bot {SECRET}")
            except RuntimeError:
                logger.exception("request failed")
    finally:
        logger.removeFilter(redact)
    text = caplog.text + "".join(record.exc_text or "" for record in caplog.records)
    assert SECRET not in text
    assert "[redacted]" in text
