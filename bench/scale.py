"""Podium at scale: 1,000 servers, 20,000 talks, 200,000 registrations, 2 processes of 2 shards on PostgreSQL.

Builds an emulator world of ``--servers`` servers spread evenly over 4 shards (127.0.0.1 only), bulk-loads a
database for them (COPY on PostgreSQL, one executemany transaction on SQLite) into the schema Database.open
creates, then per repeat starts the real ``python -m bot`` processes together and measures:

1. start-up of each process: spawn to its shards' sessions ready (every GUILD_CREATE sent), its start-up steps
   from its log, its memory (VmRSS and VmHWM at ready, VmHWM at the end of the repeat);
2. a registration storm: ``--storm-members`` members press one announcement's Register button at once; click
   to the answer the member reads (as bench/register.py), and the confirmed count checked against the capacity;
3. a reminder fan-out: talks in servers on all 4 shards, created by their organizers with a 1h reminder falling
   due at the same second, ``--fanout-dms`` confirmed members in all; the DM rate of both processes together
   as a share of Discord's global limit (50 requests/s per bot, shared by its processes), no duplicate, no loss.

The storm's members are new each run (a first click, a DM channel opened for each invite). The fan-out's talks are
created with /talk create by their servers' organizers, so the process owning each server plans its reminder; their
members are then registered by SQL (clicking would be a second storm), with their DM channels known, as after
their invites (``--cold-dms``: not known, 2 requests a DM). Native events are off in every server.

``--postgres URL`` runs it on PostgreSQL with 2 processes (SHARD_COUNT=4, SHARD_IDS=0-1 and 2-3) in a schema of
its own (``--schema``, dropped before and after); ``--sqlite`` runs the same on one unsharded process on a SQLite
file; give both to compare them in one run.

    python -m bench.scale --postgres URL [--sqlite] [--servers 1000 --talks 20000 --registrations 200000 --repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from bench.common import RESULTS_DIR, machine, medians, publish, settle, setup_logging, status_mb, stop_process, table
from bench.register import REGISTER_PATTERN, Tracker, classify, percentile, register_button, route_limits, wait_until
from bench.scale_data import Server, Shape, Table, generate
from bot.database import Database
from bot.pacing import share_per_second
from bot.postgres_backend import PostgresDatabase
from bot.settings import load_settings
from bot.timeparse import format_offsets
from tests.emulator import DiscordEmulator, EmulatedInteraction
from tests.harness import School

log = logging.getLogger("bench.scale")

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = RESULTS_DIR / "scale-logs"
GLOBAL_LIMIT = 50  # Discord's global limit, requests per second per bot (its token, whatever the processes)
SHARD_COUNT = 4
TIMEZONE = ZoneInfo("Europe/Paris")
REMINDER_KEY = 60  # the fan-out talks' one reminder: 1h before
MESSAGE_ROUTE = "/channels/{channel_id}/messages"
CREATED = re.compile(r"Created talk \*\*#(\d+)\*\*")
# Lines of a bot's log (stderr) that mark its start-up steps.
MARKS = {
    "login": re.compile(r"logging in using static token"),
    "scheduler": re.compile(r"Scheduler started with (\d+) talk jobs"),
    "on_ready": re.compile(r"Connected as .* to \d+ servers"),
}
SHARD_CONNECTED = re.compile(r"Shard ID \S+ has connected to Gateway")


# --- the emulator's world ------------------------------------------------------------------------------


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARD_COUNT


@dataclasses.dataclass
class World:
    servers: list[Server]  # every server the bot is in, with its announcement channel and organizer role
    storm: School
    fanout: list[tuple[School, list[int]]]  # servers whose talks fall due together, and their members
    dm_channels: list[tuple[int, int]]  # the fan-out members' DM channels (user, channel), known to the bot
    build_s: float
    guilds_made: int  # including those made and left without the bot to even out the shards

    def shards(self) -> dict[int, int]:
        return dict(sorted(Counter(shard_of(s.guild_id) for s in self.servers).items()))


def _school(emu: DiscordEmulator, server: Server, name: str) -> School:
    """The storm's or a fan-out's server: an organizer with the server's organizer role, allowed /talk."""
    guild = emu.guild(server.guild_id)
    organizer = emu.add_user(f"{name}-organizer")
    emu.add_member(guild.id, organizer, roles=[server.organizer_role_id])
    emu.set_command_permission(guild.id, "talk", server.organizer_role_id)
    return School(
        emu,
        guild.id,
        server.channel_id,
        server.organizer_role_id,
        server.organizer_role_id,
        guild.owner_id,
        organizer,
    )


def build_world(emu: DiscordEmulator, args: argparse.Namespace) -> World:
    """``args.servers`` servers, as many on each shard (the emulator's ids follow the clock, so some servers are
    made without the bot and left out), each with a channel and an organizer role; members only in the fan-out's
    servers (and the storm's, which gets new ones each run)."""
    began = time.monotonic()
    quota = [
        args.servers // SHARD_COUNT + (1 if shard < args.servers % SHARD_COUNT else 0) for shard in range(SHARD_COUNT)
    ]
    by_shard: dict[int, list[Server]] = {shard: [] for shard in range(SHARD_COUNT)}
    made = 0
    while any(len(by_shard[shard]) < quota[shard] for shard in by_shard):
        if made > 20 * args.servers + 1_000:
            raise RuntimeError("the emulator's guild ids do not spread over the shards")
        made += 1
        guild = emu.add_guild(f"School {made}", with_bot=False)
        shard = shard_of(guild.id)
        if len(by_shard[shard]) >= quota[shard]:
            time.sleep(0.001)  # the shard is the id's millisecond (mod 4): the next one is another shard's
            continue
        emu.add_bot_to_guild(guild.id)
        channel = emu.add_text_channel(guild.id, "talks")
        role = emu.add_role(guild.id, "Organizers")
        by_shard[shard].append(Server(guild.id, channel, role))
    servers = [server for shard in sorted(by_shard) for server in by_shard[shard]]
    storm_server = by_shard[0][0]
    storm = _school(emu, storm_server, "storm")
    fanout_servers = [by_shard[shard][1 + k] for k in range(args.fanout_per_shard) for shard in sorted(by_shard)]
    fanout: list[tuple[School, list[int]]] = []
    dm_channels: list[tuple[int, int]] = []
    for index, server in enumerate(fanout_servers):
        school = _school(emu, server, f"fanout-{index}")
        share = args.fanout_dms // len(fanout_servers) + (1 if index < args.fanout_dms % len(fanout_servers) else 0)
        members = []
        for number in range(share):
            user = emu.add_user(f"fan-{index:02d}-{number:05d}")
            emu.add_member(school.guild_id, user)
            members.append(user)
            if not args.cold_dms:  # members confirmed earlier got an invite DM: their channel is known
                dm = emu.world.dm_channel_for(user, create=True)
                assert dm is not None
                dm_channels.append((user, dm.id))
        fanout.append((school, members))
    return World(
        servers=servers,
        storm=storm,
        fanout=fanout,
        dm_channels=dm_channels,
        build_s=round(time.monotonic() - began, 3),
        guilds_made=made,
    )


# --- the database ----------------------------------------------------------------------------------------


def schema_url(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


async def drop_schema(url: str, schema: str) -> None:
    raw = await asyncpg.connect(url)
    try:
        await raw.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await raw.close()


async def postgres_facts(url: str) -> dict[str, str]:
    """The server's version and durability settings, which the figures depend on."""
    raw = await asyncpg.connect(url)
    try:
        names = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers")
        return {name: str(await raw.fetchval(f"SHOW {name}")) for name in names}
    finally:
        await raw.close()


async def load(target: Path | str, tables: Sequence[Table]) -> dict[str, Any]:
    """Create the schema through Database.open, then bulk-insert every table in one transaction: COPY on
    PostgreSQL (the identities then moved past the ids given), executemany on SQLite."""
    began = time.monotonic()
    db = await Database.open(target)
    try:
        if isinstance(db, PostgresDatabase):
            async with db.raw_transaction() as raw:
                for each in tables:
                    await raw.copy_records_to_table(each.name, records=each.rows, columns=list(each.columns))
                for name in ("talks", "registrations"):
                    await raw.execute(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                    )
            async with db.raw_transaction() as raw:
                await raw.execute("ANALYZE")
                size = await raw.fetchval(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                    "AND c.relkind = 'r'"
                )
            size_mb = round(int(size or 0) / 2**20, 1)
        else:
            assert isinstance(target, Path)
            async with db.transaction() as conn:
                for each in tables:
                    marks = ", ".join("?" for _ in each.columns)
                    await conn.executemany(
                        f"INSERT INTO {each.name} ({', '.join(each.columns)}) VALUES ({marks})", each.rows
                    )
            async with db.reading() as conn:
                await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                await conn.execute("ANALYZE")
            size_mb = round(sum(p.stat().st_size for p in target.parent.glob(target.name + "*")) / 2**20, 1)
    finally:
        await db.close()
    return {
        "load_s": round(time.monotonic() - began, 3),
        "size_mb": size_mb,
        **{each.name: len(each.rows) for each in tables},
    }


# --- the bot's processes ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Layout:
    name: str
    shards: tuple[int, ...] | None  # None: one unsharded connection

    def owns(self, guild_id: int) -> bool:
        return self.shards is None or shard_of(guild_id) in self.shards

    @property
    def label(self) -> str:
        return "unsharded" if self.shards is None else f"{','.join(map(str, self.shards))} of {SHARD_COUNT}"


LAYOUTS = {
    "postgresql": (Layout("shards 0-1", (0, 1)), Layout("shards 2-3", (2, 3))),
    "sqlite": (Layout("one process", None),),
}


@dataclasses.dataclass
class StartFigures:
    process: str
    shards: str
    servers: int  # servers this process serves
    spawn_to_ready_s: float  # every one of its shards' sessions got READY and every GUILD_CREATE
    # Its first shard ready: discord.py waits 5 s before IDENTIFYing each further shard (Discord's identify limit).
    spawn_to_first_shard_s: float
    spawn_to_login_s: float  # interpreter, imports, settings, database open and migration check
    spawn_to_scheduler_s: float  # end of setup_hook: cogs, command check, job planning
    spawn_to_on_ready_s: float | None  # discord.py's on_ready (it waits for every shard, then a little more)
    shard_connects: int
    talk_jobs: int
    rss_at_ready_mb: float
    hwm_at_ready_mb: float
    peak_rss_mb: float = float("nan")  # VmHWM at the end of the repeat: start-up, storm and fan-out
    exit_code: int | None = None
    stop_s: float | None = None


class Child:
    """One ``python -m bot``, its log read line by line as it comes (stderr), each step's time noted."""

    def __init__(self, layout: Layout, env: dict[str, str], log_path: Path) -> None:
        self.layout = layout
        self.env = env
        self.log_path = log_path
        self.lines: list[str] = []
        self.marks: dict[str, float] = {}
        self.jobs = -1
        self.shard_connects = 0
        self.spawned = 0.0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def process(self) -> asyncio.subprocess.Process:
        assert self._process is not None
        return self._process

    async def spawn(self) -> None:
        self.spawned = time.monotonic()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=ROOT,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            arrived = time.monotonic() - self.spawned
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if SHARD_CONNECTED.search(line):
                self.shard_connects += 1
            for name, pattern in MARKS.items():
                match = pattern.search(line)
                if match and name not in self.marks:
                    self.marks[name] = arrived
                    if name == "scheduler":
                        self.jobs = int(match.group(1))

    async def stop(self) -> tuple[int | None, float]:
        began = time.monotonic()
        code = await stop_process(self.process)
        return code, round(time.monotonic() - began, 3)

    async def close(self) -> None:
        """Kill it if it still runs, and keep its log."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reader, 5)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.log_path.write_text, "\n".join(self.lines) + "\n", encoding="utf-8")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.lines[-lines:])


def child_env(emu: DiscordEmulator, target: Path | str, layout: Layout) -> dict[str, str]:
    """The environment of one process; the empty values hide whatever a .env file in the project says."""
    hidden = ("DISCORD_", "DATABASE_", "DEV_GUILD", "LOG_LEVEL", "DEFAULT_TIMEZONE", "SHARD_", "SMTP_", "WEB_")
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(hidden)}
    env = {
        **inherited,
        "DISCORD_TOKEN": emu.token,
        "DISCORD_API_BASE": emu.api_base,
        "DISCORD_GATEWAY_URL": emu.gateway_url,
        "DEFAULT_TIMEZONE": "Europe/Paris",
        "LOG_LEVEL": "INFO",
        "DEV_GUILD_ID": "",  # commands go global, synced only when they changed
        "PUBLIC_URL": "",
        "WEB_PORT": "",
        "SMTP_HOST": "",
        "PYTHONPATH": str(ROOT),
    }
    if isinstance(target, Path):
        env.update(DATABASE_PATH=str(target), DATABASE_URL="")
    else:
        env.update(DATABASE_URL=target)
    if layout.shards is None:
        env.update(SHARD_COUNT="", SHARD_IDS="")
    else:
        env.update(SHARD_COUNT=str(SHARD_COUNT), SHARD_IDS=",".join(map(str, layout.shards)))
    return env


def shards_ready(emu: DiscordEmulator, before: set[str], layout: Layout) -> int:
    """How many of this process's shards have a new session whose READY and GUILD_CREATEs all went out."""
    count = 1 if layout.shards is None else SHARD_COUNT
    wanted = {0} if layout.shards is None else set(layout.shards)
    ready = {
        session.shard[0]
        for session_id, session in emu.gateway.sessions.items()
        if session_id not in before
        and not session.invalidated
        and session.shard[1] == count
        and session.connection is not None
        and session.connection.ready
    }
    return len(wanted & ready)


async def start_children(
    emu: DiscordEmulator, world: World, target: Path | str, layouts: Sequence[Layout], tag: str, limit: float
) -> tuple[list[Child], list[StartFigures]]:
    """Spawn every process at once; each is ready when its own shards are."""
    before = set(emu.gateway.sessions)
    children = [
        Child(layout, child_env(emu, target, layout), LOG_DIR / f"{tag}-{layout.name.replace(' ', '')}.log")
        for layout in layouts
    ]
    for child in children:
        await child.spawn()

    async def ready(child: Child) -> StartFigures:
        shards = 1 if child.layout.shards is None else len(child.layout.shards)
        exited = asyncio.create_task(child.process.wait())
        times: list[float] = []
        try:
            for needed in sorted({1, shards}):

                def enough(needed: int = needed) -> bool:
                    return shards_ready(emu, before, child.layout) >= needed

                waiter = asyncio.create_task(
                    emu.changed.wait_for(enough, limit, f"{needed} shard(s) of {child.layout.name}")
                )
                done, _ = await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
                if waiter not in done:
                    waiter.cancel()
                    raise RuntimeError(
                        f"{child.layout.name} exited with {child.process.returncode} before it was ready:\n"
                        + child.tail()
                    )
                waiter.result()
                times.append(time.monotonic() - child.spawned)
        finally:
            exited.cancel()
        at = times[-1]
        pid = child.process.pid
        return StartFigures(
            process=child.layout.name,
            shards=child.layout.label,
            servers=sum(1 for server in world.servers if child.layout.owns(server.guild_id)),
            spawn_to_ready_s=round(at, 3),
            spawn_to_first_shard_s=round(times[0], 3),
            spawn_to_login_s=float("nan"),
            spawn_to_scheduler_s=float("nan"),
            spawn_to_on_ready_s=None,
            shard_connects=0,
            talk_jobs=-1,
            rss_at_ready_mb=status_mb(pid, "VmRSS"),
            hwm_at_ready_mb=status_mb(pid, "VmHWM"),
        )

    try:
        figures = list(await asyncio.gather(*(ready(child) for child in children)))
    except BaseException:
        for child in children:
            await child.close()
        raise
    return children, figures


async def stop_children(children: Sequence[Child], figures: Sequence[StartFigures] | None = None) -> None:
    """Read the peak memory, stop every process (together), keep the logs, and note what their logs said."""
    peaks = [status_mb(child.process.pid, "VmHWM") for child in children]
    stopped = await asyncio.gather(*(child.stop() for child in children))
    for child in children:
        await child.close()
    for index, child in enumerate(children):
        if figures is None:
            continue
        each = figures[index]
        each.peak_rss_mb = peaks[index]
        each.exit_code, each.stop_s = stopped[index]
        each.spawn_to_login_s = round(child.marks.get("login", float("nan")), 3)
        each.spawn_to_scheduler_s = round(child.marks.get("scheduler", float("nan")), 3)
        on_ready = child.marks.get("on_ready")
        each.spawn_to_on_ready_s = None if on_ready is None else round(on_ready, 3)
        each.shard_connects = child.shard_connects
        each.talk_jobs = child.jobs


# --- the registration storm ----------------------------------------------------------------------------------


@dataclasses.dataclass
class StormResult:
    members: int
    capacity: int
    talk_id: int
    wall_s: float
    ack_p50_s: float | None
    ack_p95_s: float | None
    answer_p50_s: float | None
    answer_p95_s: float | None
    answer_max_s: float | None
    answers_over_3s: int
    unanswered: int
    answered_twice: int
    rejected: int
    confirmed: int
    waitlisted: int
    registrations: int
    expected_confirmed: int
    split_exact: bool
    answer_db_mismatches: int
    invites_all_s: float | None  # click -> the last confirmed member's invite DM
    missing_invites: int
    rate_limited_429: int
    global_429: int


async def fetch(db: Database, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
    async with db.reading() as conn:
        return list(await conn.execute_fetchall(sql, parameters))


async def storm(emu: DiscordEmulator, world: World, db: Database, args: argparse.Namespace, index: int) -> StormResult:
    school = world.storm
    start = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    created = await school.run(
        school.organizer,
        "talk create",
        {
            "title": f"Register rush {index}",
            "speaker": "Dr. Bench",
            "start": start.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M"),
            "location": "Amphi A",
            "capacity": args.capacity,
        },
        timeout=30,
    )
    found = CREATED.search(created.all_text())
    if found is None:
        raise RuntimeError(f"/talk create did not create the storm's talk: {created.all_text()!r}")
    talk_id = int(found[1])
    announcement = next(
        (
            message
            for message in reversed(school.announcements())
            if (match := REGISTER_PATTERN.match(_button_or_empty(message))) and int(match[1]) == talk_id
        ),
        None,
    )
    if announcement is None:
        raise RuntimeError(f"no announcement with a Register button for talk {talk_id}")
    custom_id = register_button(announcement)
    # New members every run, so every run is alike: each one's first click (their language is recorded) and a DM
    # channel opened for each invite. The bot has no members intent: it is told nothing of them until they click.
    members = []
    for number in range(args.storm_members):
        user = emu.add_user(f"storm-{index}-{number:05d}")
        emu.add_member(school.guild_id, user)
        members.append(user)
    await settle(emu, at_most=30.0)
    before = dataclasses.replace(emu.stats)
    first_request = len(emu.requests)
    log.info("storm %s: %d members press %s at once", index, len(members), custom_id)
    interactions: list[EmulatedInteraction] = list(
        await asyncio.gather(*(emu.click(school.guild_id, user, announcement, custom_id) for user in members))
    )
    clicked = min(interaction.created for interaction in interactions)
    tracker = Tracker(emu, interactions, first_request)

    def all_answered() -> bool:
        tracker.update()
        return tracker.answered == len(interactions)

    if not await wait_until(all_answered, args.timeout):
        log.warning("storm %s: only %d of %d answered", index, tracker.answered, len(interactions))
    await asyncio.sleep(1.0)  # a second answer would come shortly after the first
    tracker.update()
    answered_at = [t.answer_at for t in tracker.timelines if t.answer_at is not None]
    wall = (max(answered_at) if answered_at else time.monotonic()) - clicked

    rows = await fetch(db, "SELECT user_id, status FROM registrations WHERE talk_id = ?", (talk_id,))
    status = {int(row[0]): str(row[1]) for row in rows}
    confirmed_users = [user for user in members if status.get(user) == "confirmed"]

    def invites_out() -> bool:
        tracker.update()
        return all(user in tracker.first_dm for user in confirmed_users)

    if not await wait_until(invites_out, args.timeout):
        log.warning("storm %s: some invite DMs missing", index)
    delays = [tracker.first_dm[user] - clicked for user in confirmed_users if user in tracker.first_dm]
    missing = sum(1 for user in confirmed_users if user not in tracker.first_dm)
    await settle(emu, at_most=60.0)
    acks = [t.ack_at - t.interaction.created for t in tracker.timelines if t.ack_at is not None]
    answers = [t.answer_at - t.interaction.created for t in tracker.timelines if t.answer_at is not None]
    kinds = {t.interaction.user_id: classify(t.answer_text) for t in tracker.timelines if t.answer_at is not None}
    confirmed = sum(1 for value in status.values() if value == "confirmed")
    waitlisted = sum(1 for value in status.values() if value == "waitlisted")
    expected = min(args.capacity, len(members))
    return StormResult(
        members=len(members),
        capacity=args.capacity,
        talk_id=talk_id,
        wall_s=round(wall, 3),
        ack_p50_s=percentile(acks, 0.5),
        ack_p95_s=percentile(acks, 0.95),
        answer_p50_s=percentile(answers, 0.5),
        answer_p95_s=percentile(answers, 0.95),
        answer_max_s=percentile(answers, 1.0),
        answers_over_3s=sum(1 for answer in answers if answer > 3.0),
        unanswered=len(interactions) - len(answers),
        answered_twice=sum(1 for t in tracker.timelines if t.answers > 1),
        rejected=sum(1 for t in tracker.timelines if t.interaction.rejected),
        confirmed=confirmed,
        waitlisted=waitlisted,
        registrations=len(status),
        expected_confirmed=expected,
        split_exact=(confirmed == expected and waitlisted == len(members) - expected and set(status) == set(members)),
        answer_db_mismatches=sum(1 for user, kind in kinds.items() if kind != status.get(user)),
        invites_all_s=round(max(delays), 3) if delays and not missing else None,
        missing_invites=missing,
        rate_limited_429=emu.stats.rate_limited - before.rate_limited,
        global_429=emu.stats.global_rate_limited - before.global_rate_limited,
    )


def _button_or_empty(message: dict[str, Any]) -> str:
    try:
        return register_button(message)
    except RuntimeError:
        return ""


# --- the reminder fan-out --------------------------------------------------------------------------------------


@dataclasses.dataclass
class FanoutResult:
    talks: int
    recipients: int
    dms: int  # reminders that reached a member (new messages in their DM channel)
    duplicates: int
    losses: int
    setup_late: bool  # the talks were not all created and filled before the reminders fell due
    first_dm_s: float | None  # due -> the first reminder accepted
    wall_s: float  # due -> the last reminder accepted
    dms_per_s: float
    share_of_ceiling: float  # dms_per_s / 50
    requests: int  # every accepted request in the fan-out (DM channels opened, DMs, channel posts)
    requests_per_s: float
    requests_share: float
    channel_posts: int
    rate_limited_429: int
    global_429: int
    per_process: dict[str, dict[str, Any]]
    deliveries: dict[str, int]


def _reminder_prefix() -> str:
    return f"⏰ Reminder ({format_offsets((REMINDER_KEY,))} before)"


def _reminders(emu: DiscordEmulator, user: int) -> int:
    prefix = _reminder_prefix()
    return sum(1 for message in emu.dm_messages(user) if message["content"].startswith(prefix))


async def fanout(
    emu: DiscordEmulator,
    world: World,
    db: Database,
    layouts: Sequence[Layout],
    args: argparse.Namespace,
    index: int,
) -> tuple[FanoutResult, list[int]]:
    """Talks in servers on every shard, their 1h reminders due at one second; members filled in by SQL."""
    members = [user for _, users in world.fanout for user in users]
    before_counts = {user: _reminders(emu, user) for user in members}
    due = math.ceil(time.time() + args.fanout_lead)
    due_mono = time.monotonic() + (due - time.time())
    start = datetime.fromtimestamp(due, UTC) + timedelta(minutes=REMINDER_KEY)

    async def create(school: School, number: int) -> int:
        created = await school.run(
            school.organizer,
            "talk create",
            {
                "title": f"Fan-out {index}.{number}",
                "speaker": "Dr. Bench",
                "start": start.isoformat(timespec="seconds"),
                "location": "Amphi B",
                "reminders": format_offsets((REMINDER_KEY,)),
            },
            timeout=30,
        )
        found = CREATED.search(created.all_text())
        if found is None:
            raise RuntimeError(f"/talk create did not create a fan-out talk: {created.all_text()!r}")
        return int(found[1])

    talk_ids = list(await asyncio.gather(*(create(school, n) for n, (school, _) in enumerate(world.fanout))))
    now = time.time()
    rows = [
        (talk_id, school.guild_id, user, f"member {user}", "confirmed", int(now), now, 0)
        for talk_id, (school, users) in zip(talk_ids, world.fanout, strict=True)
        for user in users
    ]
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at, "
            "confirmed_at, dm_failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    setup_late = time.time() >= due - 0.2
    await settle(emu, quiet_for=0.3, at_most=max(0.0, due_mono - time.monotonic() - 0.1))
    if time.monotonic() >= due_mono:
        setup_late = True
    if setup_late:
        log.warning("fan-out %s: the talks were not ready before their reminders fell due", index)
    before = dataclasses.replace(emu.stats)
    first_request = len(emu.requests)
    log.info("fan-out %s: %d reminders due in %.1f s", index, len(members), due_mono - time.monotonic())
    by_channel = {channel: user for user, channel in world.dm_channels}
    owner = {user: school.guild_id for school, users in world.fanout for user in users}
    school_channels = {str(school.channel_id) for school, _ in world.fanout}
    arrived: dict[int, list[float]] = {}
    seen = first_request

    def scan() -> None:
        nonlocal seen
        prefix = _reminder_prefix()
        while seen < len(emu.requests):
            record = emu.requests[seen]
            seen += 1
            if record.method != "POST" or record.route != MESSAGE_ROUTE or not 200 <= record.status < 300:
                continue
            channel_id = int(record.path.split("/")[2])
            user = by_channel.get(channel_id)
            if user is None:
                channel = emu.world.channels.get(channel_id)
                user = channel.recipient_id if channel is not None and channel.guild_id is None else None
                if user is None or user not in owner:
                    continue
                by_channel[channel_id] = user
            content = record.response.get("content", "") if isinstance(record.response, dict) else ""
            if content.startswith(prefix):
                arrived.setdefault(user, []).append(record.time)

    def all_arrived() -> bool:
        scan()
        return len(arrived) == len(members)

    if not await wait_until(all_arrived, args.fanout_timeout + max(0.0, due_mono - time.monotonic())):
        log.warning("fan-out %s: %d of %d reminders arrived", index, len(arrived), len(members))
    await settle(emu, quiet_for=2.0, at_most=30.0)  # a duplicate would come now
    scan()
    counts = {user: _reminders(emu, user) - before_counts[user] for user in members}
    firsts = sorted(min(times) for times in arrived.values())
    last = firsts[-1] if firsts else time.monotonic()
    wall = max(last - due_mono, 1e-9)
    window = [r for r in emu.requests[first_request:] if r.time <= last]
    accepted = [r for r in window if 200 <= r.status < 300]
    dms = sum(counts.values())
    per_process: dict[str, dict[str, Any]] = {}
    for layout in layouts:
        mine = [min(arrived[user]) for user in members if layout.owns(owner[user]) and user in arrived]
        if not mine:
            continue
        span = max(max(mine) - due_mono, 1e-9)
        per_process[layout.name] = {
            "dms": len(mine),
            "wall_s": round(span, 3),
            "dms_per_s": round(len(mine) / span, 2),
        }
    marks = ", ".join("?" for _ in talk_ids)
    statuses = await fetch(
        db,
        f"SELECT status, COUNT(*) FROM deliveries WHERE kind = 'reminder' AND talk_id IN ({marks}) GROUP BY status",
        talk_ids,
    )
    return (
        FanoutResult(
            talks=len(talk_ids),
            recipients=len(members),
            dms=dms,
            duplicates=sum(1 for count in counts.values() if count > 1),
            losses=sum(1 for count in counts.values() if count == 0),
            setup_late=setup_late,
            first_dm_s=round(firsts[0] - due_mono, 3) if firsts else None,
            wall_s=round(wall, 3),
            dms_per_s=round(len(firsts) / wall, 2),
            share_of_ceiling=round(len(firsts) / wall / GLOBAL_LIMIT, 4),
            requests=len(accepted),
            requests_per_s=round(len(accepted) / wall, 2),
            requests_share=round(len(accepted) / wall / GLOBAL_LIMIT, 4),
            channel_posts=sum(
                1 for r in accepted if r.route == MESSAGE_ROUTE and r.path.split("/")[2] in school_channels
            ),
            rate_limited_429=emu.stats.rate_limited - before.rate_limited,
            global_429=emu.stats.global_rate_limited - before.global_rate_limited,
            per_process=per_process,
            deliveries={str(row[0]): int(row[1]) for row in statuses},
        ),
        talk_ids,
    )


# --- one backend ------------------------------------------------------------------------------------------------


def pacing(layouts: Sequence[Layout]) -> dict[str, Any]:
    """What each process paces its own sends at (bot.pacing.share_per_second of its settings), and in all."""
    rates = {}
    for layout in layouts:
        environ = {"DISCORD_TOKEN": "bench"}
        if layout.shards is not None:
            environ.update(SHARD_COUNT=str(SHARD_COUNT), SHARD_IDS=",".join(map(str, layout.shards)))
        rates[layout.name] = round(share_per_second(load_settings(environ, env_file=None)), 2)
    combined = round(sum(rates.values()), 2)
    each = ", ".join(f"{name} {rate:g}/s" for name, rate in rates.items())
    return {
        "per_process_per_s": rates,
        "combined_per_s": combined,
        "note": f"bot.pacing.share_per_second: {each}; {combined:g}/s in all, under the bot's {GLOBAL_LIMIT}/s",
    }


async def run_backend(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    layouts = LAYOUTS[kind]
    target: Path | str
    facts: dict[str, str] = {}
    if kind == "postgresql":
        await drop_schema(args.postgres, args.schema)
        target = schema_url(args.postgres, args.schema)
        facts = await postgres_facts(args.postgres)
    else:
        target = workdir / "podium.sqlite3"
    async with DiscordEmulator(
        latency=args.latency, global_rate_limit=GLOBAL_LIMIT, route_limits=route_limits("messages")
    ) as emu:
        world = build_world(emu, args)
        log.info("%s: %d servers on shards %s in %.2f s", kind, len(world.servers), world.shards(), world.build_s)
        began = time.monotonic()
        tables = generate(
            world.servers,
            Shape(args.talks, args.registrations, args.deliveries, args.deliveries, args.preferences),
            datetime.now(UTC),
            args.seed,
            world.dm_channels,
        )
        generated = round(time.monotonic() - began, 3)
        loaded = await load(target, tables)
        del tables
        loaded["generate_s"] = generated
        log.info("%s: database %s", kind, loaded)
        db = await Database.open(target, pool_size=2)
        try:
            children, first = await start_children(emu, world, target, layouts, f"{kind}-first", args.ready_timeout)
            await settle(emu, at_most=30.0)
            await stop_children(children, first)
            log.info("%s first start (commands synced): %s", kind, [f.spawn_to_ready_s for f in first])
            runs: list[dict[str, Any]] = []
            for index in range(1, args.repeat + 1):
                children, started = await start_children(
                    emu, world, target, layouts, f"{kind}-{index}", args.ready_timeout
                )
                try:
                    log.info("%s run %d: ready %s", kind, index, [f.spawn_to_ready_s for f in started])
                    await settle(emu, at_most=30.0)
                    stormed = await storm(emu, world, db, args, index)
                    log.info(
                        "%s run %d storm: answer p50 %s p95 %s, %d confirmed of %d",
                        kind,
                        index,
                        stormed.answer_p50_s,
                        stormed.answer_p95_s,
                        stormed.confirmed,
                        stormed.capacity,
                    )
                    fanned, talk_ids = await fanout(emu, world, db, layouts, args, index)
                    log.info(
                        "%s run %d fan-out: %d DMs in %.2f s (%.1f %% of 50/s), %d 429s, %d duplicates, %d losses",
                        kind,
                        index,
                        fanned.dms,
                        fanned.wall_s,
                        100 * fanned.share_of_ceiling,
                        fanned.rate_limited_429,
                        fanned.duplicates,
                        fanned.losses,
                    )
                finally:
                    await stop_children(children, started)
                # The next start plans the same 20,000 talks, not this run's too.
                made = [stormed.talk_id, *talk_ids]
                async with db.transaction() as conn:
                    await conn.execute(
                        f"UPDATE talks SET status = 'cancelled' WHERE id IN ({', '.join('?' for _ in made)})", made
                    )
                runs.append(
                    {
                        "start": [dataclasses.asdict(each) for each in started],
                        "storm": dataclasses.asdict(stormed),
                        "fanout": dataclasses.asdict(fanned),
                    }
                )
        finally:
            await db.close()
            if kind == "postgresql":
                await drop_schema(args.postgres, args.schema)
    return {
        "layout": [{"process": layout.name, "shards": layout.label} for layout in layouts],
        "database": {"engine": kind, **facts, **loaded},
        "world": {
            "servers": len(world.servers),
            "servers_per_shard": world.shards(),
            "guilds_made": world.guilds_made,
            "build_s": world.build_s,
            "fanout_servers": len(world.fanout),
            "fanout_members": sum(len(users) for _, users in world.fanout),
        },
        "pacing": pacing(layouts),
        "first_start": [dataclasses.asdict(each) for each in first],
        "median": summarise(runs, layouts),
        "runs": runs,
    }


def summarise(runs: Sequence[dict[str, Any]], layouts: Sequence[Layout]) -> dict[str, Any]:
    starts = {
        layout.name: medians([next(s for s in run["start"] if s["process"] == layout.name) for run in runs])
        for layout in layouts
    }
    return {
        "start": starts,
        "storm": medians([run["storm"] for run in runs]),
        "fanout": medians([run["fanout"] for run in runs]),
    }


def met(data: dict[str, Any]) -> bool:
    """No duplicate, no loss (of a reminder or of an answer), and the exact confirmed count, in every run."""
    for backend in data["backends"].values():
        for run in backend["runs"]:
            storm_run, fan = run["storm"], run["fanout"]
            if not storm_run["split_exact"] or storm_run["unanswered"] or storm_run["answered_twice"]:
                return False
            if fan["duplicates"] or fan["losses"]:
                return False
    return True


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    backends: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="podium-scale-") as tmp:
        async with asyncio.timeout(args.time_limit):
            if args.postgres:
                backends["postgresql"] = await run_backend("postgresql", args, Path(tmp))
            if args.sqlite:
                backends["sqlite"] = await run_backend("sqlite", args, Path(tmp))
    data: dict[str, Any] = {
        "benchmark": "scale: start-up, registration storm and reminder fan-out on a big database",
        "machine": machine(),
        "parameters": {
            "servers": args.servers,
            "talks": args.talks,
            "registrations": args.registrations,
            "deliveries": args.deliveries,
            "repeat": args.repeat,
            "latency_s": args.latency,
            "global_limit_per_s": GLOBAL_LIMIT,
            "shard_count": SHARD_COUNT,
            "storm_members": args.storm_members,
            "capacity": args.capacity,
            "fanout_dms": args.fanout_dms,
            "fanout_servers": args.fanout_per_shard * SHARD_COUNT,
            "dm_channels_known": not args.cold_dms,
        },
        "definitions": {
            "ready": "spawn -> every shard of the process has READY and all its GUILD_CREATEs sent (emulator)",
            "peak_rss_mb": "VmHWM at the end of a repeat (start-up, storm and fan-out)",
            "answer": "click -> the first request that puts the member's answer in front of them (bench.register)",
            "fanout wall": "the second the reminders fell due -> the last reminder DM accepted",
            "share_of_ceiling": "reminder DMs per second of both processes together / 50",
        },
        "backends": backends,
    }
    data["meets_target"] = met(data)
    return data


def _cell(value: Any, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if percent:
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(round(value, 3))
    return str(value)


def report(data: dict[str, Any]) -> str:
    names = {"postgresql": "PostgreSQL 2x2", "sqlite": "SQLite 1 process"}
    start_rows: list[list[str]] = []
    storm_rows: list[list[str]] = []
    fan_rows: list[list[str]] = []
    start_keys = (
        "spawn_to_ready_s",
        "spawn_to_first_shard_s",
        "spawn_to_login_s",
        "spawn_to_scheduler_s",
        "talk_jobs",
        "rss_at_ready_mb",
        "peak_rss_mb",
    )
    storm_keys = ("answer_p50_s", "answer_p95_s", "answer_max_s", "confirmed", "waitlisted", "invites_all_s")
    fan_keys = ("dms", "wall_s", "dms_per_s", "share_of_ceiling", "requests_per_s", "global_429")
    for kind, backend in data["backends"].items():
        for process, median in backend["median"]["start"].items():
            servers = next(s["servers"] for s in backend["runs"][0]["start"] if s["process"] == process)
            start_rows.append([names[kind], process, str(servers), *(_cell(median.get(k)) for k in start_keys)])
        for number, run in enumerate(backend["runs"], start=1):
            storm_run, fan = run["storm"], run["fanout"]
            exact = "yes" if storm_run["split_exact"] else "NO"
            storm_rows.append(
                [
                    names[kind],
                    f"run {number}",
                    *(_cell(storm_run[k]) for k in storm_keys),
                    str(storm_run["capacity"]),
                    exact,
                ]
            )
            fan_rows.append(
                [
                    names[kind],
                    f"run {number}",
                    *(_cell(fan[k], k == "share_of_ceiling") for k in fan_keys),
                    str(fan["duplicates"]),
                    str(fan["losses"]),
                ]
            )
        storm_median, fan_median = backend["median"]["storm"], backend["median"]["fanout"]
        storm_rows.append(
            [
                names[kind],
                "median",
                *(_cell(storm_median.get(k)) for k in storm_keys),
                str(data["parameters"]["capacity"]),
                "",
            ]
        )
        fan_rows.append(
            [
                names[kind],
                "median",
                *(_cell(fan_median.get(k), k == "share_of_ceiling") for k in fan_keys),
                "",
                "",
            ]
        )
    parts = [
        "start-up (medians; ready = all of the process's shards' GUILD_CREATEs sent):",
        table(
            [
                "backend",
                "process",
                "servers",
                "ready s",
                "1st shard s",
                "to login s",
                "setup_hook done s",
                "jobs",
                "RSS@ready MB",
                "peak MB",
            ],
            start_rows,
        ),
        "",
        f"registration storm ({data['parameters']['storm_members']} members at once):",
        table(
            [
                "backend",
                "",
                "ans p50 s",
                "ans p95 s",
                "ans max s",
                "confirmed",
                "waitlisted",
                "all invites s",
                "capacity",
                "exact",
            ],
            storm_rows,
        ),
        "",
        f"reminder fan-out ({data['parameters']['fanout_dms']} DMs due at once, servers on all {SHARD_COUNT} shards):",
        table(
            ["backend", "", "DMs", "wall s", "DMs/s", "% of 50/s", "req/s", "global 429s", "dups", "losses"], fan_rows
        ),
    ]
    for kind, backend in data["backends"].items():
        parts.append(f"{names[kind]} pacing: {backend['pacing']['note']}")
        if kind == "postgresql":
            db = backend["database"]
            parts.append(
                f"PostgreSQL {db.get('server_version')}: fsync={db.get('fsync')}, "
                f"synchronous_commit={db.get('synchronous_commit')}, full_page_writes={db.get('full_page_writes')}"
            )
    parts.append("no duplicate, no loss, exact confirmed count: " + ("yes" if data["meets_target"] else "NO"))
    return "\n".join(parts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", default=None, help="a PostgreSQL server (postgresql://...)")
    parser.add_argument("--sqlite", action="store_true", help="also (or only) run one unsharded process on SQLite")
    parser.add_argument(
        "--schema", default="podium_bench_scale", help="PostgreSQL schema to use (dropped before and after)"
    )
    parser.add_argument("--servers", type=int, default=1000, help="servers the bot is in (default 1000)")
    parser.add_argument("--talks", type=int, default=20_000, help="future talks (default 20000)")
    parser.add_argument("--registrations", type=int, default=200_000, help="registrations (default 200000)")
    parser.add_argument(
        "--deliveries", type=int, default=10_000, help="sent invites and known DM channels (default 10000)"
    )
    parser.add_argument("--preferences", type=int, default=1_000, help="members with reminders off (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per backend (default 3)")
    parser.add_argument("--latency", type=float, default=0.05, help="emulator round trip in seconds (default 0.05)")
    parser.add_argument(
        "--storm-members", type=int, default=500, help="members pressing Register at once (default 500)"
    )
    parser.add_argument("--capacity", type=int, default=200, help="seats of the storm's talk (default 200)")
    parser.add_argument("--fanout-dms", type=int, default=1000, help="reminder DMs falling due together (default 1000)")
    parser.add_argument("--fanout-per-shard", type=int, default=2, help="fan-out servers on each shard (default 2)")
    parser.add_argument(
        "--fanout-lead", type=float, default=8.0, help="seconds from creating the fan-out's talks to their reminders"
    )
    parser.add_argument(
        "--cold-dms", action="store_true", help="the fan-out members' DM channels are not known yet (2 requests a DM)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated data")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="limit for the storm's answers and invites, in seconds"
    )
    parser.add_argument("--fanout-timeout", type=float, default=180.0, help="limit for the fan-out, in seconds")
    parser.add_argument("--ready-timeout", type=float, default=120.0, help="limit for one start, in seconds")
    parser.add_argument("--time-limit", type=float, default=1800.0, help="limit for the whole benchmark, in seconds")
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default bench/results/scale.json)")
    parser.add_argument("--verbose", action="store_true", help="show the emulator's INFO logs")
    args = parser.parse_args(argv)
    if not args.postgres and not args.sqlite:
        parser.error("give --postgres URL, --sqlite, or both")
    if args.postgres and not args.postgres.startswith(("postgresql://", "postgres://")):
        parser.error("--postgres must be a postgresql:// URL")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.schema):
        parser.error("--schema must be lowercase letters, digits and _")
    if args.servers < SHARD_COUNT * (args.fanout_per_shard + 1) or args.fanout_per_shard < 1:
        parser.error(f"--servers must be at least {SHARD_COUNT} x (--fanout-per-shard + 1)")
    if args.repeat < 1 or args.storm_members < 1 or args.capacity < 1 or args.fanout_dms < 1:
        parser.error("--repeat, --storm-members, --capacity and --fanout-dms must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    data = asyncio.run(main_async(args))
    return publish("scale.json", data, args.output, report(data), data["meets_target"])


if __name__ == "__main__":
    sys.exit(main())
