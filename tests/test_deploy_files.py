"""The deployment files at the root (Dockerfile, .dockerignore, compose.yaml), checked without Docker: no engine
runs in CI, so what a build or `docker compose up` would reject (or quietly get wrong) is checked here, and the
image's HEALTHCHECK command itself is run against the real bot's GET /healthz.

PyYAML is not a dependency; compose.yaml is read by the small block-YAML reader below, which refuses what it
does not understand rather than guessing, so a construct it lacks fails here, not in production."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.pacing import share_per_second
from bot.settings import Settings, load_settings
from tests.emulator import DiscordEmulator
from tests.harness import School
from tests.web_helpers import free_port, web_bot

ROOT = Path(__file__).resolve().parent.parent
BOTS = ("bot-a", "bot-b")
# Settings compose.yaml sets before .env.example and bot/settings.py know them (none today; the test below
# says when one listed here has landed).
PENDING_SETTINGS: set[str] = set()


# --- reading the files -----------------------------------------------------------------------------------------


def _scalar(text: str) -> Any:
    if text.startswith(("[", '"')):
        return json.loads(text)  # flow lists and double-quoted strings, as compose.yaml writes them
    if text.startswith("'") or text.startswith(("{", "&", "*", "|", ">")):
        raise ValueError(f"compose.yaml: the test's reader does not handle {text!r}")
    return text


def read_compose(text: str) -> dict[str, Any]:
    """Block mappings, block lists of scalars, scalars: the YAML compose.yaml is written in."""
    lines = [
        (len(line) - len(line.lstrip(" ")), line.strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]

    def block(start: int, indent: int) -> tuple[Any, int]:
        if lines[start][1].startswith("- "):
            items = []
            while start < len(lines) and lines[start][0] == indent and lines[start][1].startswith("- "):
                items.append(_scalar(lines[start][1][2:].strip()))
                start += 1
            return items, start
        mapping: dict[str, Any] = {}
        while start < len(lines) and lines[start][0] == indent:
            key, colon, value = lines[start][1].partition(":")
            if not colon or key in mapping or " " in key.strip():
                raise ValueError(f"compose.yaml: cannot read {lines[start][1]!r}")
            start += 1
            if value.strip():
                mapping[key] = _scalar(value.strip())
            elif start < len(lines) and lines[start][0] > indent:
                mapping[key], start = block(start, lines[start][0])
            else:
                mapping[key] = None
        if start < len(lines) and lines[start][0] > indent:
            raise ValueError(f"compose.yaml: unexpected indentation at {lines[start][1]!r}")
        return mapping, start

    document, end = block(0, 0)
    assert end == len(lines)
    return document


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Each stage's instructions as (INSTRUCTION, arguments), continuation lines joined, comments left out."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def documented_settings() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def read_settings() -> set[str]:
    """The variable names bot/settings.py reads."""
    return set(re.findall(r"""get\("([A-Z][A-Z0-9_]*)\"""", (ROOT / "bot" / "settings.py").read_text()))


def interpolate(value: str, values: Mapping[str, str]) -> str:
    """compose's ${NAME}, ${NAME:?message}, ${NAME:-default}, with .env's ``values``."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if values.get(name):
            return values[name]
        if operator == ":?":
            raise AssertionError(f"{name} is required: {rest}")
        return rest if operator == ":-" else ""  # compose warns, and goes on with an empty value

    return re.sub(r"\$\{([A-Z][A-Z0-9_]*)(?:(:[?-])([^}]*))?\}", one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return read_compose((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def final_stage() -> dict[str, list[str]]:
    by_instruction: dict[str, list[str]] = {}
    for instruction, arguments in dockerfile_stages()[-1]:
        by_instruction.setdefault(instruction, []).append(arguments)
    return by_instruction


def image_env(final_stage: Mapping[str, list[str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for arguments in final_stage["ENV"]:
        env.update(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", arguments))
    return env


def healthcheck_command(final_stage: Mapping[str, list[str]]) -> list[str]:
    [healthcheck] = final_stage["HEALTHCHECK"]
    _, cmd, exec_form = healthcheck.partition(" CMD ")
    assert cmd, "HEALTHCHECK has no CMD"
    command = json.loads(exec_form)  # exec form: no shell in between, the JSON array is the argv
    assert isinstance(command, list) and all(isinstance(part, str) for part in command)
    return command


# --- the Dockerfile ---------------------------------------------------------------------------------------------


def test_the_image_is_slim_python_311_installed_with_pip() -> None:
    stages = dockerfile_stages()
    assert stages and all(stage[0][0] == "FROM" and stage[0][1].startswith("python:3.11-slim") for stage in stages)
    runs = [arguments for stage in stages for instruction, arguments in stage if instruction == "RUN"]
    assert any(re.search(r"\bpip install --no-cache-dir \.(\s|$)", run) for run in runs)


def test_the_bot_runs_as_a_fixed_non_root_uid_in_app(final_stage: dict[str, list[str]]) -> None:
    [user] = final_stage["USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user} is not a fixed, non-root UID"
    runs = " ".join(final_stage["RUN"])
    assert re.search(rf"useradd\b.*--uid {uid}\b", runs), "the user the files belong to has another UID"
    assert final_stage["WORKDIR"] == ["/app"]
    assert re.search(rf"chown {uid}(:\d+)? /app/data", runs), "/app/data is not the bot's"


def test_the_web_side_listens_on_every_interface_of_the_exposed_port(final_stage: dict[str, list[str]]) -> None:
    env = image_env(final_stage)
    assert env["WEB_HOST"] == "0.0.0.0"  # inside a container, 127.0.0.1 is not reachable through a published port
    assert final_stage["EXPOSE"] == [env["WEB_PORT"]]


def test_the_command_is_python_m_bot(final_stage: dict[str, list[str]]) -> None:
    assert [json.loads(cmd) for cmd in final_stage["CMD"]] == [["python", "-m", "bot"]]


def test_the_healthcheck_asks_healthz_on_web_port(final_stage: dict[str, list[str]]) -> None:
    command = healthcheck_command(final_stage)
    assert command[:2] == ["python", "-c"] and "/healthz" in command[2] and "WEB_PORT" in command[2]
    assert "--start-period=" in final_stage["HEALTHCHECK"][0]  # no "unhealthy" while the shards connect


async def run_healthcheck(command: list[str], port: int | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "WEB_PORT"}
    if port is not None:
        env["WEB_PORT"] = str(port)
    # Not subprocess.run: the bot under test answers on this event loop while the check waits.
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), 15)


async def test_the_healthcheck_command_passes_and_fails_with_healthz(
    emu: DiscordEmulator, school: School, tmp_path: Path, final_stage: dict[str, list[str]]
) -> None:
    command = healthcheck_command(final_stage)
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as web:
        port = web.bot.settings.web_port
        assert await run_healthcheck(command, port) == 0
        web.bot.scheduler.scheduler.pause()  # GET /healthz answers 503
        try:
            assert await run_healthcheck(command, port) == 1
        finally:
            web.bot.scheduler.scheduler.resume()
    assert await run_healthcheck(command, free_port()) == 1  # nothing listening


# --- .dockerignore --------------------------------------------------------------------------------------------


def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(excluded?, regex) per line of .dockerignore, in Docker's syntax (Go's filepath.Match plus **)."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?)", glob):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
        patterns.append((not negated, re.compile(regex)))
    return patterns


def in_build_context(path: str) -> bool:
    """Whether Docker sends ``path`` to the builder: the last pattern matching it or a folder above it wins."""
    parts = path.split("/")
    excluded = False
    for exclude, pattern in _ignore_patterns():
        if any(pattern.fullmatch("/".join(parts[:depth])) for depth in range(1, len(parts) + 1)):
            excluded = exclude
    return not excluded


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".git/config",
        ".venv/bin/python",
        "data/podium.sqlite3",
        "backups/podium-2026-03-01.sqlite3",
        "tests/test_pacing.py",
        "tests/artifacts/log.txt",
        "bench/results/fanout.json",
        ".pytest_cache/v/cache/lastfailed",
        ".mypy_cache/3.11/bot/client.meta.json",
        "podium.egg-info/PKG-INFO",
        "bot/__pycache__/client.cpython-311.pyc",
        "bot/podium.sqlite3-wal",
    ],
)
def test_secrets_data_and_caches_stay_out_of_the_build(path: str) -> None:
    assert not in_build_context(path)


def test_what_pip_install_reads_is_in_the_build() -> None:
    needed = ["pyproject.toml", "README.md"] + [
        str(path.relative_to(ROOT))
        for folder in ("bot", "cogs")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert [path for path in needed if not in_build_context(path)] == []
    copied = [
        arguments.split()[:-1]
        for stage in dockerfile_stages()
        for instruction, arguments in stage
        if instruction == "COPY" and not arguments.startswith("--from")
    ]
    assert all(in_build_context(source) for sources in copied for source in sources)


# --- compose.yaml -------------------------------------------------------------------------------------------------


SAMPLE_ENV = {"POSTGRES_PASSWORD": "0123abcd", "PUBLIC_URL": "https://podium.example.edu"}


def bot_settings(compose: Mapping[str, Any], name: str) -> Settings:
    """What the bot of service ``name`` reads: its environment, interpolated from a sample .env, over a token."""
    environment = {
        key: interpolate(value, SAMPLE_ENV) for key, value in compose["services"][name]["environment"].items()
    }
    return load_settings({"DISCORD_TOKEN": "x", **environment}, env_file=None)


def test_postgres_keeps_its_data_and_reports_ready(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:15"
    assert postgres["volumes"] == ["pgdata:/var/lib/postgresql/data"] and "pgdata" in compose["volumes"]
    assert postgres["healthcheck"]["test"][0] == "CMD-SHELL" and "pg_isready" in postgres["healthcheck"]["test"][1]
    assert postgres["restart"] == "unless-stopped" and "ports" not in postgres


def test_no_password_is_committed(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}"
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD is required"):
        interpolate(postgres["environment"]["POSTGRES_PASSWORD"], {})
    for name in BOTS:
        url = compose["services"][name]["environment"]["DATABASE_URL"]
        assert url == "postgresql://podium:${POSTGRES_PASSWORD}@postgres:5432/podium"


def test_both_bots_start_after_postgres_with_the_env_file(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", *BOTS}
    for name in BOTS:
        bot = compose["services"][name]
        assert bot["build"] == "." and bot["env_file"] == ".env" and bot["restart"] == "unless-stopped"
        assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert "healthcheck" not in bot  # the image's GET /healthz check applies


def test_the_bots_split_the_shards_and_the_global_limit(compose: dict[str, Any]) -> None:
    settings = [bot_settings(compose, name) for name in BOTS]
    assert {each.shard_count for each in settings} == {4}
    shards = [shard for each in settings for shard in each.own_shards]
    assert sorted(shards) == [0, 1, 2, 3], "every shard in exactly one process"
    assert [share_per_second(each) for each in settings] == [24.0, 24.0]
    assert [0 in each.own_shards for each in settings].count(True) == 1  # one process syncs the commands


def test_each_web_side_is_on_and_published_on_the_hosts_loopback(
    compose: dict[str, Any], final_stage: dict[str, list[str]]
) -> None:
    container_port = image_env(final_stage)["WEB_PORT"]
    published = []
    for name in BOTS:
        bot = compose["services"][name]
        settings = bot_settings(compose, name)
        assert settings.web_enabled and settings.web_host == "0.0.0.0"
        assert str(settings.web_port) == container_port  # what the image exposes and health-checks
        [port] = bot["ports"]
        host, outside, inside = port.split(":")
        assert host == "127.0.0.1" and inside == container_port
        published.append(outside)
        with pytest.raises(AssertionError, match="PUBLIC_URL is required"):
            interpolate(bot["environment"]["PUBLIC_URL"], {"POSTGRES_PASSWORD": "x"})
    assert len(set(published)) == len(BOTS)


def test_every_variable_compose_sets_or_reads_is_documented(compose: dict[str, Any]) -> None:
    documented = documented_settings()
    for name in BOTS:
        environment = compose["services"][name]["environment"]
        unknown = set(environment) - documented - PENDING_SETTINGS
        assert unknown == set(), f"{name} sets {sorted(unknown)}, which .env.example does not document"
        assert set(environment) - read_settings() - PENDING_SETTINGS == set(), "set but never read by the bot"
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "compose.yaml").read_text()))
    assert interpolated - documented == set(), "compose.yaml reads from .env what .env.example does not list"


def test_pending_settings_are_still_pending() -> None:
    done = PENDING_SETTINGS & (documented_settings() | read_settings())
    assert not done, f"{sorted(done)} now exist: remove them from PENDING_SETTINGS in this file"
