"""Start-up of ``python -m bot`` with a big database, against the local Discord emulator.

Builds a SQLite database with 10,000 future talks over the next 12 months in 50 servers and 100,000
registrations (plus invite deliveries, DM channels and preferences), then starts the real entry point
as a child process pointed at an emulator running in this process (127.0.0.1 only). Measures the time
from spawn to the emulator seeing the bot ready, the bot's own start-up steps (from its log lines, and
the job planning timed alone in this process), and the child's peak memory (VmHWM). An empty database
is measured the same way as the baseline.

    python -m bench.startup [--talks 10000] [--registrations 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import machine, medians, publish, setup_logging, status_mb, stop_process, table
from bench.scale_data import talk_row
from bot import store
from bot.client import PodiumBot
from bot.database import Database
from bot.models import DeliveryKind
from bot.settings import load_settings
from bot.talks import utcnow
from tests.emulator import DiscordEmulator
from tests.harness import bot_env

log = logging.getLogger("bench.startup")

ROOT = Path(__file__).resolve().parent.parent
TARGET_OWN_WORK_S = 2.0
TARGET_PEAK_MB = 150.0
GUILDS = 50
STOP_TIMEOUT = 15.0

# Lines of the bot's log (stderr) whose arrival marks a step of start-up.
MARKS = {
    "login": re.compile(r"logging in using static token"),
    "commands": re.compile(r"Slash commands unchanged|Synced \d+ (global slash )?commands"),
    "scheduler": re.compile(r"Scheduler started with (\d+) talk jobs"),
    "gateway": re.compile(r"has connected to Gateway"),
    "on_ready": re.compile(r"Connected as .* to \d+ servers"),
}


# --- the database ----------------------------------------------------------------------------------


@dataclasses.dataclass
class DataShape:
    talks: int
    registrations: int
    deliveries: int
    dm_channels: int
    preferences: int


async def build_database(path: Path, shape: DataShape, seed: int) -> dict[str, Any]:
    """Create the schema through Database.open, then bulk-insert everything in one transaction."""
    began = time.monotonic()
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    stamp = int(now.timestamp())
    db = await Database.open(path)
    try:
        if shape.talks == 0:
            return {"build_s": round(time.monotonic() - began, 3), "size_mb": _size_mb(path)}
        guilds = [1_100_000_000_000_000_000 + number * 4_194_304 for number in range(1, GUILDS + 1)]
        members = {guild: [guild + 10_000 + i for i in range(2_000)] for guild in guilds}
        talks, plan = _talk_rows(rng, guilds, now, shape.talks)
        registrations, confirmed = _registration_rows(rng, plan, members, shape.registrations, stamp)
        deliveries = [
            (guild, talk_id, "user", user, DeliveryKind.INVITE_CONFIRMED.value, reg_id, "sent", 1, at, at, at)
            for reg_id, talk_id, guild, user, at in confirmed[: shape.deliveries]
        ]
        dm_users = sorted({user for _, _, _, user, _ in confirmed})[: shape.dm_channels]
        preference_users = rng.sample(
            [(guild, user) for guild in guilds for user in members[guild][:200]], shape.preferences
        )
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO guild_settings (guild_id, channel_id, organizer_role_id, timezone, reminders, "
                "ping_role_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(g, g + 1, g + 2, "Europe/Paris", "1d,1h", None, stamp) for g in guilds],
            )
            await conn.executemany(
                "INSERT INTO talks (id, guild_id, title, speaker, speaker_bio, description, location, start_at, "
                "duration_min, capacity, reminders, announce_at, status, cancel_reason, sequence, "
                "announcement_channel_id, announcement_message_id, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                talks,
            )
            await conn.executemany(
                "INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at, "
                "confirmed_at, dm_failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                registrations,
            )
            await conn.executemany(
                "INSERT INTO deliveries (guild_id, talk_id, recipient_type, recipient_id, kind, key, status, "
                "attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                deliveries,
            )
            await conn.executemany(
                "INSERT INTO dm_channels (user_id, channel_id) VALUES (?, ?)",
                [(user, user + 7) for user in dm_users],
            )
            await conn.executemany(
                "INSERT INTO member_preferences (guild_id, user_id, notifications) VALUES (?, ?, 0)",
                preference_users,
            )
        async with db.reading() as conn:
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await conn.execute("ANALYZE")
    finally:
        await db.close()
    return {
        "build_s": round(time.monotonic() - began, 3),
        "size_mb": _size_mb(path),
        "talks": len(talks),
        "registrations": len(registrations),
        "deliveries": len(deliveries),
        "dm_channels": len(dm_users),
        "member_preferences": len(preference_users),
    }


def _size_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20, 2)


def _talk_rows(
    rng: random.Random, guilds: list[int], now: datetime, count: int
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, int | None, int]]]:
    stamp = int(now.timestamp())
    rows: list[tuple[Any, ...]] = []
    plan: list[tuple[int, int, int | None, int]] = []  # talk id, guild, capacity, created_at
    for talk_id in range(1, count + 1):
        guild = rng.choice(guilds)
        row, capacity = talk_row(
            rng, talk_id, guild, now, (None, None, 10, 15, 20, 30, 50), channel_id=guild + 1, created_by=guild + 10_000
        )
        rows.append(row)
        plan.append((talk_id, guild, capacity, stamp))
    return rows, plan


def _registration_rows(
    rng: random.Random,
    plan: list[tuple[int, int, int | None, int]],
    members: dict[int, list[int]],
    total: int,
    stamp: int,
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, int, int, int]]]:
    """Exactly ``total`` registrations, confirmed up to each talk's capacity and waitlisted beyond it."""
    counts = [rng.randint(0, 2 * total // len(plan)) for _ in plan]
    while sum(counts) != total:
        index = rng.randrange(len(counts))
        if sum(counts) < total:
            counts[index] += 1
        elif counts[index] > 0:
            counts[index] -= 1
    rows: list[tuple[Any, ...]] = []
    confirmed: list[tuple[int, int, int, int, int]] = []  # registration id, talk, guild, user, at
    for (talk_id, guild, capacity, _), count in zip(plan, counts, strict=True):
        for place, user in enumerate(rng.sample(members[guild], count)):
            at = stamp - rng.randrange(60, 30 * 86_400)
            is_confirmed = capacity is None or place < capacity
            rows.append(
                (
                    talk_id,
                    guild,
                    user,
                    f"Member {user % 100_000}",
                    "confirmed" if is_confirmed else "waitlisted",
                    at,
                    at + rng.random() if is_confirmed else None,
                    0,
                )
            )
            if is_confirmed:
                confirmed.append((len(rows), talk_id, guild, user, at))
    return rows, confirmed


# --- one start of the bot ----------------------------------------------------------------------------


@dataclasses.dataclass
class StartResult:
    spawn_to_ready_s: float
    spawn_to_login_s: float  # interpreter start, imports, settings, database open
    setup_hook_s: float  # login line to "Scheduler started": 2 REST calls, cogs, command check, planning
    spawn_to_scheduler_s: float
    spawn_to_gateway_s: float
    talk_jobs: int
    # VmHWM of the child just before it was stopped. (RUSAGE_CHILDREN's ru_maxrss is no use here: it also
    # counts this process's own pages, which the child shares between fork and exec.)
    peak_rss_mb: float
    rss_at_ready_mb: float
    exit_code: int | None
    stop_s: float  # SIGINT to exit
    rest_requests: int
    command_syncs: int


async def start_once(database: Path, latency: float, ready_limit: float, log_file: Path) -> StartResult:
    async with DiscordEmulator(latency=latency) as emu:
        for number in range(GUILDS):
            guild = emu.add_guild(f"School {number + 1}")
            emu.add_text_channel(guild.id, "talks")
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD", "LOG_LEVEL", "DEFAULT_TIMEZONE"))
        }
        # No DEV_GUILD_ID: commands go global, synced only when they changed (the empty value hides any .env).
        env = {**inherited, **bot_env(emu, database), "DEV_GUILD_ID": "", "PYTHONPATH": str(ROOT)}
        marks: dict[str, float] = {}
        jobs = -1
        lines: list[str] = []

        spawned = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

        async def read_log() -> None:
            nonlocal jobs
            assert process.stderr is not None
            async for raw in process.stderr:
                arrived = time.monotonic()
                line = raw.decode(errors="replace").rstrip()
                lines.append(line)
                for name, pattern in MARKS.items():
                    match = pattern.search(line)
                    if match and name not in marks:
                        marks[name] = arrived - spawned
                        if name == "scheduler":
                            jobs = int(match.group(1))

        reader = asyncio.create_task(read_log())
        try:
            waiter = asyncio.create_task(emu.wait_ready(timeout=ready_limit))
            exited = asyncio.create_task(process.wait())
            done, _ = await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                waiter.cancel()
                raise RuntimeError(f"the bot exited with {process.returncode} before it was ready")
            waiter.result()
            ready = time.monotonic() - spawned
            rss_at_ready = status_mb(process.pid, "VmRSS")
            await asyncio.sleep(1.0)  # let the first retry pass and anything queued at ready run
            peak = status_mb(process.pid, "VmHWM")
            stopping = time.monotonic()
            exit_code = await stop_process(process, STOP_TIMEOUT)
            stop_s = time.monotonic() - stopping
            exited.cancel()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader, 5)
            await asyncio.to_thread(log_file.write_text, "\n".join(lines) + "\n", encoding="utf-8")
        missing = {"login", "scheduler"} - set(marks)
        if missing:
            raise RuntimeError(f"log lines not seen: {sorted(missing)}; see {log_file}")
        syncs = sum(1 for r in emu.requests if r.method == "PUT" and (r.route or "").endswith("/commands"))
        return StartResult(
            spawn_to_ready_s=round(ready, 3),
            spawn_to_login_s=round(marks["login"], 3),
            setup_hook_s=round(marks["scheduler"] - marks["login"], 3),
            spawn_to_scheduler_s=round(marks["scheduler"], 3),
            spawn_to_gateway_s=round(marks.get("gateway", float("nan")), 3),
            talk_jobs=jobs,
            peak_rss_mb=peak,
            rss_at_ready_mb=rss_at_ready,
            exit_code=exit_code,
            stop_s=round(stop_s, 3),
            rest_requests=len(emu.requests),
            command_syncs=syncs,
        )


# --- the bot's own work, in this process ---------------------------------------------------------------


async def plan_in_process(database: Path) -> dict[str, Any]:
    """Database.open and TalkScheduler.plan_all timed alone, plus the query behind plan_all."""
    began = time.monotonic()
    db = await Database.open(database)
    opened = time.monotonic() - began
    try:
        settings = load_settings({"DISCORD_TOKEN": "bench", "DATABASE_PATH": str(database)}, env_file=None)
        bot = PodiumBot(settings, db)
        service = bot.service
        until = service.clock() + timedelta(days=2)
        began = time.monotonic()
        talks = await service.talks_to_plan(until)
        query = time.monotonic() - began
        apscheduler = bot.scheduler.scheduler
        apscheduler.start(paused=True)  # jobs are added, none runs
        try:
            began = time.monotonic()
            jobs = await bot.scheduler.plan_all()
            planning = time.monotonic() - began
        finally:
            apscheduler.shutdown(wait=False)
        began = time.monotonic()
        async with db.reading() as conn:
            due = await store.due_deliveries(conn, service.clock())
        pending = time.monotonic() - began
    finally:
        await db.close()
    return {
        "db_open_s": round(opened, 4),
        "talks_to_plan_query_s": round(query, 4),
        "talks_loaded": len(talks),
        "plan_all_s": round(planning, 4),
        "jobs_planned": jobs,
        "due_deliveries_query_s": round(pending, 4),
        "due_deliveries": len(due),
    }


# --- the benchmark ---------------------------------------------------------------------------------------


async def measure_variant(name: str, shape: DataShape, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    database = workdir / name / "podium.sqlite3"
    built = await build_database(database, shape, args.seed)
    log.info("%s database: %s", name, built)
    first = await start_once(database, args.latency, args.ready_timeout, workdir / f"{name}-first.log")
    log.info("%s first start (global command sync): %s", name, first)
    runs: list[StartResult] = []
    planning: list[dict[str, Any]] = []
    for index in range(args.repeat):
        result = await start_once(database, args.latency, args.ready_timeout, workdir / f"{name}-{index + 1}.log")
        log.info("%s run %d: %s", name, index + 1, result)
        runs.append(result)
        planning.append(await plan_in_process(database))
    raw = [dataclasses.asdict(run) for run in runs]
    return {
        "database": built,
        "first_start": dataclasses.asdict(first),
        "median": medians(raw),
        "runs": raw,
        "in_process": {"median": medians(planning), "runs": planning},
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    big = DataShape(
        talks=args.talks,
        registrations=args.registrations,
        deliveries=args.deliveries,
        dm_channels=args.deliveries,
        preferences=500,
    )
    with tempfile.TemporaryDirectory(prefix="podium-startup-") as tmp:
        workdir = Path(tmp)
        async with asyncio.timeout(args.time_limit):
            baseline = await measure_variant("empty", DataShape(0, 0, 0, 0, 0), args, workdir)
            loaded = await measure_variant("big", big, args, workdir)
    big_median = loaded["median"]
    own_work = big_median["spawn_to_ready_s"]
    return {
        "benchmark": "start-up of python -m bot",
        "machine": machine(),
        "parameters": {
            "talks": args.talks,
            "registrations": args.registrations,
            "deliveries": args.deliveries,
            "guilds": GUILDS,
            "repeat": args.repeat,
            "emulator_latency_s": args.latency,
        },
        "target": {"ready_s": TARGET_OWN_WORK_S, "peak_rss_mb": TARGET_PEAK_MB},
        "meets_target": own_work < TARGET_OWN_WORK_S and big_median["peak_rss_mb"] < TARGET_PEAK_MB,
        "empty": baseline,
        "big": loaded,
        "cost_of_big_db": {
            key: round(big_median[key] - baseline["median"][key], 4)
            for key in ("spawn_to_ready_s", "spawn_to_login_s", "setup_hook_s", "peak_rss_mb")
        },
    }


def report(data: dict[str, Any]) -> str:
    columns = (
        ("ready s", "spawn_to_ready_s"),
        ("to login s", "spawn_to_login_s"),
        ("setup_hook s", "setup_hook_s"),
        ("to gateway s", "spawn_to_gateway_s"),
        ("jobs", "talk_jobs"),
        ("peak MB", "peak_rss_mb"),
    )
    rows: list[list[Any]] = []
    for name in ("empty", "big"):
        variant = data[name]
        inproc = variant["in_process"]["median"]
        extra = [inproc["talks_loaded"], inproc["plan_all_s"]]
        rows.append([f"{name} (median)", *(variant["median"][key] for _, key in columns), *extra])
        for number, run in enumerate(variant["runs"], start=1):
            planned = variant["in_process"]["runs"][number - 1]
            rows.append(
                [f"  run {number}", *(run[key] for _, key in columns), planned["talks_loaded"], planned["plan_all_s"]]
            )
        first = variant["first_start"]
        rows.append(["  first start", *(first[key] for _, key in columns), "", ""])
    headers = ["database", *(title for title, _ in columns), "talks loaded", "plan_all s"]
    verdict = f"target: ready < {TARGET_OWN_WORK_S} s and peak < {TARGET_PEAK_MB} MB with the big database: " + (
        "met" if data["meets_target"] else "NOT met"
    )
    return table(headers, rows) + "\n" + verdict


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=10_000, help="future talks (default 10000)")
    parser.add_argument("--registrations", type=int, default=100_000, help="registrations (default 100000)")
    parser.add_argument("--deliveries", type=int, default=5_000, help="sent invite deliveries (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured starts per database (default 3)")
    parser.add_argument("--latency", type=float, default=0.0, help="emulator round trip in seconds (default 0)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated data")
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="limit for one start in seconds")
    parser.add_argument("--time-limit", type=float, default=600.0, help="limit for the whole benchmark in seconds")
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default bench/results/startup.json)")
    parser.add_argument("--verbose", action="store_true", help="show the emulator's INFO logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    data = asyncio.run(main_async(args))
    return publish("startup.json", data, args.output, report(data), data["meets_target"])


if __name__ == "__main__":
    sys.exit(main())
