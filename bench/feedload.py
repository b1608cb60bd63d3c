"""Feed load: a registration storm while 100 clients fetch a 500-talk server's public feed over real HTTP.

Runs the real bot in-process (tests.harness.running_bot) with its web side on a free port of 127.0.0.1,
against the local Discord emulator (Discord's global limit of 50 requests/s, a per-channel limit on message
posts). The server publishes its calendar and has ``--talks`` talks; one more, announced, has ``--capacity``
seats, and ``--members`` members press its Register button at the same moment. Each repeat runs that storm
twice, each time with a fresh emulator and bot: once quiet, once while ``--clients`` clients, in a separate
process and each from its own loopback address (127.0.0.2, 127.0.0.3, ...), fetch the whole feed again and
again as fast as it comes. That process runs at a lower CPU priority, as if the clients were elsewhere: the
bot pays for answering them, not for their own reading. It reports, for both, the time until each click was
acknowledged and until the member could read an answer (as bench.register measures them), the event loop's
worst stall, and the ratio loaded/quiet of the answer times.

    python -m bench.feedload [--members 300] [--talks 500] [--clients 100] [--latency 0.06] [--repeat 3]

The load clients accept gzip, as calendar apps do (``--encoding identity``: they take the feed uncompressed,
about ten times the bytes). Target: the median answer under load within twice the quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import machine, publish, settle, setup_logging, table
from bench.register import GLOBAL_LIMIT, Tracker, announce, percentile, route_limits, wait_until
from bot import store
from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School, build_school, running_bot
from tests.web_helpers import free_port

log = logging.getLogger("bench.feedload")

RATIO_TARGET = 2.0
LOAD_READY_S = 60.0  # every load client must have had one whole feed by then
WARM_S = 1.0  # load running steadily before the clicks
LAG_TICK = 0.01  # how often the loop-stall probe wakes up


@dataclasses.dataclass
class StormResult:
    loaded: bool
    members: int
    talks: int
    clients: int
    ack_p50_s: float | None
    ack_p95_s: float | None
    answer_p50_s: float | None
    answer_p95_s: float | None
    answer_max_s: float | None
    unanswered: int
    wall_s: float
    loop_stall_max_s: float  # the event loop's longest lateness during the storm
    feed_bytes: int
    feed_renders: int  # renderings of the public feed during the whole run
    load_requests: int  # feed requests the load clients completed during the run
    load_per_s: float
    load_p50_s: float | None
    load_statuses: dict[str, int]


# --- the load: a separate process, so its own work does not run on the bot's event loop ----------------------


async def run_load(url: str, clients: int, encoding: str) -> dict[str, Any]:
    """``clients`` clients, each from its own loopback address, fetching ``url`` back to back until stdin closes."""
    statuses: Counter[str] = Counter()
    times: list[float] = []
    ready = 0
    stop = asyncio.Event()

    async def client(number: int) -> None:
        nonlocal ready
        connector = aiohttp.TCPConnector(limit=1, local_addr=(f"127.0.0.{2 + number}", 0))
        first = True
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    async with http.get(url, headers={"Accept-Encoding": encoding}) as response:
                        await response.read()
                        statuses[str(response.status)] += 1
                except (aiohttp.ClientError, TimeoutError) as error:
                    statuses[type(error).__name__] += 1
                    await asyncio.sleep(0.1)
                    continue
                times.append(time.monotonic() - started)
                if first:
                    first = False
                    ready += 1
                    if ready == clients:
                        sys.stdout.write("ready\n")
                        sys.stdout.flush()

    tasks = [asyncio.create_task(client(number)) for number in range(clients)]
    await asyncio.to_thread(sys.stdin.read)  # the benchmark closes our stdin when the storm is over
    started = time.monotonic()
    stop.set()
    await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()
    log.debug("load stopped in %.1f s", time.monotonic() - started)
    return {"requests": len(times), "p50_s": percentile(times, 0.5), "statuses": dict(statuses)}


class Load:
    """The load process seen from the benchmark."""

    def __init__(self, url: str, clients: int, encoding: str) -> None:
        self.url = url
        self.clients = clients
        self.encoding = encoding
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0.0

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.feedload",
            "--load-url",
            self.url,
            "--clients",
            str(self.clients),
            "--encoding",
            self.encoding,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(LOAD_READY_S):
            line = await self.process.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the load clients did not start: {line!r}")
        self.started = time.monotonic()

    async def stop(self) -> tuple[dict[str, Any], float]:
        assert self.process is not None and self.process.stdin is not None and self.process.stdout is not None
        elapsed = time.monotonic() - self.started
        self.process.stdin.close()
        async with asyncio.timeout(60):
            output = await self.process.stdout.read()
            await self.process.wait()
        return json.loads(output.decode().strip().splitlines()[-1]), elapsed

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


# --- one storm --------------------------------------------------------------------------------------------


async def add_programme(bot: PodiumBot, school: School, count: int) -> None:
    """``count`` talks a month and more away (no reminder falls due while the benchmark runs), in one go."""
    now = datetime.now(UTC)
    async with bot.db.transaction() as conn:
        for number in range(count):
            start = (now + timedelta(days=35 + number % 300, hours=number % 9)).replace(second=0, microsecond=0)
            await store.insert_talk(
                conn,
                school.guild_id,
                school.organizer,
                now,
                {
                    "title": f"Seminar {number + 1}: advances in clinical research",
                    "speaker": f"Dr. Speaker {number + 1}",
                    "speaker_bio": "Professor of medicine, author of many papers on the subject. " * 3,
                    "description": "What we know, what we do not know yet, and how to find out. " * 8,
                    "location": f"Amphi {number % 12 + 1}",
                    "start_at": start,
                    "duration_min": 90,
                    "capacity": 120,
                    "reminders": (1440, 60),
                },
            )


class StallProbe:
    """Wakes up every LAG_TICK seconds and keeps the worst lateness: how long the loop was kept from it."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.worst = 0.0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + LAG_TICK
            await asyncio.sleep(LAG_TICK)
            self.worst = max(self.worst, loop.time() - expected)

    async def stop(self) -> float:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return round(self.worst, 3)


async def one_storm(args: argparse.Namespace, loaded: bool, label: str) -> StormResult:
    async with DiscordEmulator(
        latency=args.latency, global_rate_limit=GLOBAL_LIMIT, route_limits=route_limits("messages")
    ) as emu:
        school = build_school(emu, students=())
        members = []
        for number in range(args.members):
            user = emu.add_user(f"member-{number:05d}")
            emu.add_member(school.guild_id, user)
            members.append(user)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory(prefix="podium-feedload-") as tmp:
            async with running_bot(
                emu,
                Path(tmp) / "podium.sqlite3",
                DEV_GUILD_ID=str(school.guild_id),
                PUBLIC_URL=base,
                WEB_PORT=str(port),
            ) as bot:
                assert bot.web is not None and bot.web.running
                announcement, custom_id = await announce(school, args.capacity)
                await school.run(school.admin, "setup", {"public_calendar": True})
                await add_programme(bot, school, args.talks)
                public_id = (await bot.service.settings(school.guild_id)).public_id
                feed_url = f"{base}/g/{public_id}/calendar.ics"
                async with aiohttp.ClientSession() as http, http.get(feed_url) as response:
                    feed_bytes = len(await response.read())
                    if response.status != 200:
                        raise RuntimeError(f"the feed answered {response.status}")
                await settle(emu, at_most=30.0)

                load = Load(feed_url, args.clients, args.encoding) if loaded else None
                probe = StallProbe()
                try:
                    if load is not None:
                        await load.start()
                        await asyncio.sleep(WARM_S)
                    probe.start()
                    first_request = len(emu.requests)
                    log.info("%s: %d members press Register%s", label, len(members), " under load" if loaded else "")
                    interactions = await asyncio.gather(
                        *(emu.click(school.guild_id, user, announcement, custom_id) for user in members)
                    )
                    clicked = min(ia.created for ia in interactions)
                    tracker = Tracker(emu, interactions, first_request)

                    def all_answered() -> bool:
                        tracker.update()
                        return tracker.answered == len(interactions)

                    if not await wait_until(all_answered, args.timeout):
                        log.warning("%s: only %d of %d answered", label, tracker.answered, len(interactions))
                    stall = await probe.stop()
                    load_stats, load_time = await load.stop() if load is not None else ({}, 0.0)
                finally:
                    await probe.stop()
                    if load is not None:
                        await load.kill()
                tracker.update()
                renders = bot.web.renders["server_feed"]

    acks = [t.ack_at - t.interaction.created for t in tracker.timelines if t.ack_at is not None]
    answers = [t.answer_at - t.interaction.created for t in tracker.timelines if t.answer_at is not None]
    answered_at = [t.answer_at for t in tracker.timelines if t.answer_at is not None]
    requests = int(load_stats.get("requests", 0))
    return StormResult(
        loaded=loaded,
        members=args.members,
        talks=args.talks,
        clients=args.clients if loaded else 0,
        ack_p50_s=percentile(acks, 0.5),
        ack_p95_s=percentile(acks, 0.95),
        answer_p50_s=percentile(answers, 0.5),
        answer_p95_s=percentile(answers, 0.95),
        answer_max_s=percentile(answers, 1.0),
        unanswered=len(interactions) - len(answers),
        wall_s=round((max(answered_at) if answered_at else time.monotonic()) - clicked, 3),
        loop_stall_max_s=stall,
        feed_bytes=feed_bytes,
        feed_renders=renders,
        load_requests=requests,
        load_per_s=round(requests / load_time, 1) if load_time else 0.0,
        load_p50_s=load_stats.get("p50_s"),
        load_statuses=load_stats.get("statuses", {}),
    )


# --- figures -------------------------------------------------------------------------------------------------


def median_of(runs: Sequence[StormResult], key: str) -> float | None:
    values = [getattr(run, key) for run in runs if getattr(run, key) is not None]
    return round(statistics.median(values), 4) if values else None


def ratio(loaded: float | None, quiet: float | None) -> float | None:
    return None if loaded is None or not quiet else round(loaded / quiet, 2)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    quiet: list[StormResult] = []
    loaded: list[StormResult] = []
    for index in range(args.repeat):
        quiet.append(await one_storm(args, False, f"repeat {index + 1} quiet"))
        loaded.append(await one_storm(args, True, f"repeat {index + 1} loaded"))
        log.info(
            "repeat %d: answer p50 %s -> %s s, p95 %s -> %s s; %s feed requests/s",
            index + 1,
            quiet[-1].answer_p50_s,
            loaded[-1].answer_p50_s,
            quiet[-1].answer_p95_s,
            loaded[-1].answer_p95_s,
            loaded[-1].load_per_s,
        )
    keys = [field.name for field in dataclasses.fields(StormResult) if field.type in ("float | None", "float", "int")]
    median = {
        "quiet": {key: median_of(quiet, key) for key in keys},
        "loaded": {key: median_of(loaded, key) for key in keys},
    }
    ratios = {
        "answer_p50": ratio(median["loaded"]["answer_p50_s"], median["quiet"]["answer_p50_s"]),
        "answer_p95": ratio(median["loaded"]["answer_p95_s"], median["quiet"]["answer_p95_s"]),
        "ack_p95": ratio(median["loaded"]["ack_p95_s"], median["quiet"]["ack_p95_s"]),
    }
    complete = all(run.unanswered == 0 for run in quiet + loaded)
    return {
        "benchmark": "feed load",
        "machine": machine(),
        "parameters": {
            "members": args.members,
            "capacity": args.capacity,
            "talks": args.talks,
            "clients": args.clients,
            "accept_encoding": args.encoding,
            "latency_s": args.latency,
            "repeat": args.repeat,
            "global_limit_per_s": GLOBAL_LIMIT,
        },
        "definitions": {
            "ack": "click -> first accepted interaction callback (as bench.register)",
            "answer": "click -> first accepted message the member can read (as bench.register)",
            "ratio": "median over repeats under load / median over repeats without load",
            "load": "clients fetching the whole public feed back to back, each from its own loopback address",
        },
        "target": {"answer_p50_ratio_at_most": RATIO_TARGET, "unanswered": 0},
        "median": median,
        "ratio": ratios,
        "meets_target": complete and ratios["answer_p50"] is not None and ratios["answer_p50"] <= RATIO_TARGET,
        "runs": {"quiet": [dataclasses.asdict(r) for r in quiet], "loaded": [dataclasses.asdict(r) for r in loaded]},
    }


def report(data: dict[str, Any]) -> str:
    columns = (
        ("ack p50", "ack_p50_s"),
        ("ack p95", "ack_p95_s"),
        ("ans p50", "answer_p50_s"),
        ("ans p95", "answer_p95_s"),
        ("ans max", "answer_max_s"),
        ("unanswered", "unanswered"),
        ("stall max", "loop_stall_max_s"),
        ("feed req/s", "load_per_s"),
        ("feed p50", "load_p50_s"),
        ("renders", "feed_renders"),
    )

    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    rows = []
    for mode in ("quiet", "loaded"):
        rows.append([f"median {mode}", *(cell(data["median"][mode].get(key)) for _, key in columns)])
        for number, run in enumerate(data["runs"][mode], start=1):
            rows.append([f"  run {number}", *(cell(run[key]) for _, key in columns)])
    ratios = data["ratio"]
    summary = (
        f"loaded/quiet: answer p50 x{ratios['answer_p50']}, answer p95 x{ratios['answer_p95']}, "
        f"ack p95 x{ratios['ack_p95']} (target: answer p50 <= x{RATIO_TARGET}): "
        f"{'met' if data['meets_target'] else 'NOT met'}"
    )
    return table(["", *(title for title, _ in columns)], rows) + "\n" + summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.feedload", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=300, help="members who press Register (default 300)")
    parser.add_argument("--capacity", type=int, default=100, help="seats of the stormed talk (default 100)")
    parser.add_argument("--talks", type=int, default=500, help="other talks in the public feed (default 500)")
    parser.add_argument("--clients", type=int, default=100, help="clients fetching the feed (default 100, max 250)")
    parser.add_argument(
        "--encoding",
        choices=("gzip, deflate", "identity"),
        default="gzip, deflate",
        help="the load clients' Accept-Encoding: what calendar apps send (default), or identity (uncompressed)",
    )
    parser.add_argument("--latency", type=float, default=0.06, help="network round trip in seconds (default 0.06)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats, each a quiet and a loaded storm (default 3)")
    parser.add_argument("--timeout", type=float, default=180.0, help="limit for all answers in seconds")
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default bench/results/feedload.json)")
    parser.add_argument("--verbose", action="store_true", help="show the bot's and the emulator's INFO logs")
    parser.add_argument("--load-url", help=argparse.SUPPRESS)  # the load process: fetch this until stdin closes
    args = parser.parse_args(argv)
    if args.members < 1 or args.repeat < 1 or not 1 <= args.clients <= 250:
        parser.error("--members and --repeat must be at least 1, --clients from 1 to 250")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.load_url:
        # As if the clients ran on other machines: on the two cores the benchmark shares with the bot, their own
        # work (reading and unpacking feeds) must not take the bot's CPU time; the bot's answers to them still do.
        os.nice(10)
        stats = asyncio.run(run_load(args.load_url, args.clients, args.encoding))
        sys.stdout.write(json.dumps(stats) + "\n")
        return 0
    setup_logging(args.verbose)
    data = asyncio.run(main_async(args))
    return publish("feedload.json", data, args.output, report(data), data["meets_target"])


if __name__ == "__main__":
    sys.exit(main())
