"""Reminder fan-out: one talk, N confirmed members, one reminder job, against a rate-limited emulator.

Runs the real bot in-process (tests.harness.running_bot) against the local Discord emulator on
127.0.0.1, which enforces Discord's global limit of 50 requests/s and a per-channel limit on message
posts. A reminder is triggered the way the scheduler does it (TalkScheduler.run with a PlannedJob) twice
per repeat: cold (no DM channel known, 2 requests per member) and warm (DM channels cached, 1 request).

    python -m bench.fanout [--members 1000] [--latency 0.03] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import machine, medians, publish, settle, setup_logging, table
from bot import store
from bot.client import PodiumBot
from bot.jobplan import JobAction, PlannedJob
from bot.models import DeliveryKind, Talk
from bot.talks import TalkInput
from bot.timeparse import format_offsets
from tests.emulator import DISCORD_LIKE_LIMITS, DiscordEmulator
from tests.emulator.ratelimit import RouteLimit
from tests.harness import School, build_school, running_bot

log = logging.getLogger("bench.fanout")

GLOBAL_LIMIT = 50  # Discord's global limit, requests per second per bot
TARGET_SHARE = 0.9  # the target: at least 90 % of the global ceiling
MESSAGE_POST = "POST /channels/{channel_id}/messages"
DM_OPEN = "POST /users/@me/channels"
COLD_KEY = 24 * 60  # the 1d reminder
WARM_KEY = 60  # the 1h reminder


@dataclasses.dataclass
class FanoutResult:
    phase: str
    members: int
    recipients: int
    wall_s: float
    requests: int
    dm_opens: int
    message_posts: int
    other_requests: int
    requests_per_s: float
    share_of_ceiling: float
    messages_sent: int
    messages_per_s: float
    redundant_posts: int  # posts Discord answered with an earlier message (same nonce): wasted budget
    rate_limited_429: int
    global_429: int
    duplicates: int
    losses: int
    channel_posts: int
    late_requests: int  # requests the bot still made after the job returned (background retries)
    deliveries: dict[str, int]
    request_statuses: dict[str, int]
    retry_passes: int  # "Resuming N pending deliveries" passes of the retry job during the run
    registrations_s: float = 0.0  # registering every member through TalkService.register, one by one


class RetryPassCounter(logging.Handler):
    """Counts the courier's retry passes (its periodic job) so a fan-out they overlapped is visible."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.passes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Resuming "):
            self.passes.append(record.getMessage())


def route_limits(kind: str) -> dict[str, RouteLimit]:
    if kind == "discord-like":
        return dict(DISCORD_LIKE_LIMITS)
    # Discord limits message posts per channel (each member's DM channel is its own bucket).
    return {MESSAGE_POST: DISCORD_LIKE_LIMITS[MESSAGE_POST]}


def reminder_count(emu: DiscordEmulator, user_id: int, key: int) -> int:
    prefix = f"⏰ Reminder ({format_offsets((key,))} before)"
    return sum(1 for message in emu.dm_messages(user_id) if message["content"].startswith(prefix))


async def fan_out(
    emu: DiscordEmulator,
    bot: PodiumBot,
    school: School,
    talk: Talk,
    members: list[int],
    key: int,
    phase: str,
    retries: RetryPassCounter,
    time_limit: float,
) -> FanoutResult:
    before_stats = dataclasses.replace(emu.stats)
    first = len(emu.requests)
    channel_before = len(emu.messages(school.channel_id))
    passes_before = len(retries.passes)
    job = PlannedJob(JobAction.REMINDER, talk.id, bot.service.clock(), key)
    log.info("%s fan-out: reminder %s to %d members", phase, job.id, len(members))
    start = time.monotonic()
    async with asyncio.timeout(time_limit):
        await bot.scheduler.run(job)
    end = time.monotonic()
    wall = end - start
    await settle(emu)

    window = [r for r in emu.requests[first:] if r.time <= end]
    late = len(emu.requests) - first - len(window)
    routes = Counter(f"{r.method} {r.route}" for r in window)
    statuses = Counter(str(r.status) for r in window)
    dm_channel_ids = {str(emu.dm_channel_id(user)) for user in members}
    dm_posts_ok = sum(
        1
        for r in window
        if f"{r.method} {r.route}" == MESSAGE_POST and r.status == 200 and r.path.split("/")[2] in dm_channel_ids
    )
    counts = [reminder_count(emu, user, key) for user in members]
    sent = sum(counts)
    async with bot.db.reading() as conn:
        deliveries = [d for d in await store.deliveries_for(conn, talk.id, DeliveryKind.REMINDER) if d.key == key]
        recipients = len(await store.reminder_recipients(conn, talk, job.run_at))
    requests = len(window)
    return FanoutResult(
        phase=phase,
        members=len(members),
        recipients=recipients,
        wall_s=round(wall, 3),
        requests=requests,
        dm_opens=routes[DM_OPEN],
        message_posts=routes[MESSAGE_POST],
        other_requests=requests - routes[DM_OPEN] - routes[MESSAGE_POST],
        requests_per_s=round(requests / wall, 2),
        share_of_ceiling=round(requests / wall / GLOBAL_LIMIT, 3),
        messages_sent=sent,
        messages_per_s=round(sent / wall, 2),
        redundant_posts=dm_posts_ok - sent,
        rate_limited_429=emu.stats.rate_limited - before_stats.rate_limited,
        global_429=emu.stats.global_rate_limited - before_stats.global_rate_limited,
        duplicates=sum(1 for count in counts if count > 1),
        losses=sum(1 for count in counts if count == 0),
        channel_posts=len(emu.messages(school.channel_id)) - channel_before,
        late_requests=late,
        deliveries=dict(Counter(d.status.value for d in deliveries)),
        request_statuses=dict(statuses),
        retry_passes=len(retries.passes) - passes_before,
    )


async def one_repeat(args: argparse.Namespace, index: int, retries: RetryPassCounter) -> list[FanoutResult]:
    async with DiscordEmulator(
        latency=args.latency, global_rate_limit=GLOBAL_LIMIT, route_limits=route_limits(args.limits)
    ) as emu:
        school = build_school(emu, students=())
        members = []
        for number in range(args.members):
            user = emu.add_user(f"member-{number:05d}")
            emu.add_member(school.guild_id, user)
            members.append(user)
        with tempfile.TemporaryDirectory(prefix="podium-fanout-") as tmp:
            async with running_bot(emu, Path(tmp) / "podium.sqlite3", DEV_GUILD_ID=str(school.guild_id)) as bot:
                service = bot.service
                await service.update_settings(school.guild_id, channel_id=school.channel_id)
                start_at = service.clock() + timedelta(days=10)
                talk = await service.create_talk(
                    school.guild_id,
                    school.organizer,
                    TalkInput(
                        title="Fan-out under load",
                        speaker="Dr. Bench",
                        start=start_at.isoformat(timespec="minutes"),
                        location="Amphi A",
                        reminders="1d,1h",
                    ),
                )
                # The invites these registrations owe would go out during the fan-out and be counted in it.
                bot.scheduler.scheduler.pause_job("retry-deliveries")
                began = time.monotonic()
                for user in members:
                    await service.register(school.guild_id, talk.id, user, f"member {user}")
                registering = round(time.monotonic() - began, 3)
                async with bot.db.transaction() as conn:
                    await conn.execute(
                        "UPDATE deliveries SET status = 'missed', last_error = 'outside the benchmark'"
                        " WHERE talk_id = ? AND status = 'pending'",
                        (talk.id,),
                    )
                bot.scheduler.scheduler.resume_job("retry-deliveries")
                log.info("repeat %d: %d registrations in %.2f s", index + 1, len(members), registering)
                await settle(emu)  # the reminder's run_at is taken after this, so every member is owed it
                cold = await fan_out(emu, bot, school, talk, members, COLD_KEY, "cold", retries, args.timeout)
                warm = await fan_out(emu, bot, school, talk, members, WARM_KEY, "warm", retries, args.timeout)
    for result in (cold, warm):
        result.registrations_s = registering
        log.info(
            "repeat %d %s: %.2f s, %d requests (%.1f/s), %d 429s, %d duplicates, %d losses",
            index + 1,
            result.phase,
            result.wall_s,
            result.requests,
            result.requests_per_s,
            result.rate_limited_429,
            result.duplicates,
            result.losses,
        )
    return [cold, warm]


def summarise(runs: list[FanoutResult]) -> dict[str, Any]:
    raw = [dataclasses.asdict(run) for run in runs]
    median = medians(raw)
    meets = (
        median["share_of_ceiling"] >= TARGET_SHARE
        and max(run.duplicates for run in runs) == 0
        and max(run.losses for run in runs) == 0
    )
    return {"median": median, "meets_target": meets, "runs": raw}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    retries = RetryPassCounter()
    courier_log = logging.getLogger("bot.courier")
    courier_log.setLevel(logging.INFO)
    courier_log.addHandler(retries)
    results: list[FanoutResult] = []
    try:
        for index in range(args.repeat):
            results.extend(await one_repeat(args, index, retries))
    finally:
        courier_log.removeHandler(retries)
    return {
        "benchmark": "reminder fan-out",
        "machine": machine(),
        "parameters": {
            "members": args.members,
            "latency_s": args.latency,
            "repeat": args.repeat,
            "global_limit_per_s": GLOBAL_LIMIT,
            "route_limits": {key: list(value) for key, value in route_limits(args.limits).items()},
        },
        "target": {"share_of_ceiling": TARGET_SHARE, "duplicates": 0, "losses": 0},
        "cold": summarise([r for r in results if r.phase == "cold"]),
        "warm": summarise([r for r in results if r.phase == "warm"]),
    }


def report(data: dict[str, Any]) -> str:
    columns = (
        ("wall s", "wall_s"),
        ("requests", "requests"),
        ("req/s", "requests_per_s"),
        ("% of 50/s", "share_of_ceiling"),
        ("msg/s", "messages_per_s"),
        ("redundant", "redundant_posts"),
        ("429s", "rate_limited_429"),
        ("dups", "duplicates"),
        ("losses", "losses"),
        ("late req", "late_requests"),
    )
    rows = []
    for phase in ("cold", "warm"):
        median = data[phase]["median"]
        cells: list[Any] = [f"{phase} (median)"]
        for _, key in columns:
            value = median[key]
            cells.append(f"{value * 100:.1f}%" if key == "share_of_ceiling" else value)
        cells.append("yes" if data[phase]["meets_target"] else "NO")
        rows.append(cells)
        for number, run in enumerate(data[phase]["runs"], start=1):
            cells = [f"  run {number}"]
            for _, key in columns:
                value = run[key]
                cells.append(f"{value * 100:.1f}%" if key == "share_of_ceiling" else value)
            cells.append("")
            rows.append(cells)
    return table(["phase", *(title for title, _ in columns), "target met"], rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000, help="confirmed registrations (default 1000)")
    parser.add_argument("--latency", type=float, default=0.03, help="network round trip in seconds (default 0.03)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats, each with a fresh emulator (default 3)")
    parser.add_argument("--timeout", type=float, default=240.0, help="limit for one fan-out in seconds")
    parser.add_argument(
        "--limits",
        choices=("messages", "discord-like"),
        default="messages",
        help="per-route limits: message posts 5/5 s per channel (default), or all of DISCORD_LIKE_LIMITS "
        "(which also caps opening DM channels at 10 per 10 s)",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default bench/results/fanout.json)")
    parser.add_argument("--verbose", action="store_true", help="show the bot's and the emulator's INFO logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    data = asyncio.run(main_async(args))
    return publish(
        "fanout.json", data, args.output, report(data), data["cold"]["meets_target"] and data["warm"]["meets_target"]
    )


if __name__ == "__main__":
    sys.exit(main())
