"""Register rush: N members press an announcement's Register button at the same moment.

Runs the real bot in-process (tests.harness.running_bot) against the local Discord emulator on
127.0.0.1, which enforces Discord's global limit of 50 requests/s and a per-channel limit on message
posts. One announced talk has ``--capacity`` seats; every member clicks its Register button at once.
For each click it measures the time until the interaction was acknowledged and until the member could
read an answer, checks the confirmed/waitlisted split in the bot's database, then (unless
``--skip-dms``) waits for every confirmed member's invite DM.

    python -m bench.register [--members 1000] [--capacity 300] [--latency 0.06] [--repeat 3]

Timings come from the emulator's request log (RequestRecord.time: when Discord had processed the bot's
request), relative to the click (EmulatedInteraction.created), so they do not depend on how often this
script looks. "Acknowledged" is the first accepted interaction callback (deferral or message). "Answer"
is the first accepted request that puts readable text in front of the member: a callback carrying a
message (type 4/7), a follow-up, or an edit of @original; a deferral's "thinking..." placeholder is not
an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import math
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import machine, publish, settle, setup_logging, table
from bot.embeds import REGISTER_ID
from tests.emulator import DISCORD_LIKE_LIMITS, DiscordEmulator, EmulatedInteraction
from tests.emulator.interactions import CallbackType, message_text
from tests.emulator.ratelimit import RouteLimit
from tests.harness import School, build_school, running_bot

log = logging.getLogger("bench.register")

GLOBAL_LIMIT = 50  # Discord's global limit, requests per second per bot
ANSWER_TARGET_S = 3.0  # every member should read an answer within this long after the click
MESSAGE_POST = "POST /channels/{channel_id}/messages"
TIMEZONE = ZoneInfo("Europe/Paris")  # the harness's DEFAULT_TIMEZONE
POLL = 0.05  # how often the waits look at the request log (the timings do not depend on it)
REGISTER_PATTERN = re.compile("^" + re.escape(REGISTER_ID).replace(re.escape("{talk_id}"), "([0-9]+)") + "$")


@dataclasses.dataclass
class RegisterResult:
    members: int
    capacity: int
    wall_s: float  # first click -> last answer (or the time limit, if some never came)
    ack_p50_s: float | None
    ack_p95_s: float | None
    ack_max_s: float | None
    answer_p50_s: float | None
    answer_p95_s: float | None
    answer_max_s: float | None
    acks_over_3s: int
    answers_over_3s: int
    unacknowledged: int
    unanswered: int
    answered_twice: int  # interactions with more than one answer (message-bearing callback/follow-up/edit)
    rejected: int  # interactions with a request Discord refused (late ack, double ack, ...)
    confirmed: int
    waitlisted: int
    registrations: int
    split_exact: bool
    answer_db_mismatches: int  # answer says "waitlist" but the database says confirmed, or the other way
    answer_texts: dict[str, int]
    dms_checked: bool
    dm_all_s: float | None  # first click -> last confirmed member's invite DM
    dm_p50_s: float | None
    dm_max_s: float | None
    missing_dms: int  # confirmed members without an invite DM when the wait ended
    waitlisted_dms: int  # waitlisted members who got a DM anyway
    requests: int
    requests_per_s: float
    rate_limited_429: int
    global_429: int
    request_statuses: dict[str, int]


@dataclasses.dataclass
class Timeline:
    """What happened to one click, from the emulator's request log."""

    interaction: EmulatedInteraction
    ack_at: float | None = None
    answer_at: float | None = None
    answers: int = 0
    answer_text: str = ""


class Tracker:
    """Reads the emulator's request log incrementally and stamps each click's ack and first answer."""

    def __init__(self, emu: DiscordEmulator, interactions: Sequence[EmulatedInteraction], first_request: int) -> None:
        self.emu = emu
        self.timelines = [Timeline(ia) for ia in interactions]
        self.by_id = {str(t.interaction.id): t for t in self.timelines}
        self.by_token = {t.interaction.token: t for t in self.timelines}
        self.next_request = first_request
        self.answered = 0
        self.first_dm: dict[int, float] = {}  # user -> when the first message into their DM channel was accepted

    def update(self) -> None:
        requests = self.emu.requests
        while self.next_request < len(requests):
            record = requests[self.next_request]
            self.next_request += 1
            if not 200 <= record.status < 300:
                continue
            parts = record.path.split("/")
            if record.method == "POST" and len(parts) == 5 and parts[1] == "interactions" and parts[4] == "callback":
                timeline = self.by_id.get(parts[2])
                if timeline is None:
                    continue
                if timeline.ack_at is None:
                    timeline.ack_at = record.time
                callback = timeline.interaction.callbacks[0] if timeline.interaction.callbacks else {}
                if callback.get("type") in (CallbackType.CHANNEL_MESSAGE, CallbackType.UPDATE_MESSAGE):
                    self._answer(timeline, record.time, message_text(callback.get("data") or {}), new=True)
            elif len(parts) >= 4 and parts[1] == "webhooks":
                timeline = self.by_token.get(parts[3])
                if timeline is None:
                    continue
                followup = record.method == "POST" and len(parts) == 4
                edit_original = record.method == "PATCH" and parts[4:] == ["messages", "@original"]
                if (followup or edit_original) and isinstance(record.response, Mapping):
                    self._answer(timeline, record.time, message_text(record.response), new=followup)
            elif record.method == "POST" and record.route == "/channels/{channel_id}/messages":
                self._dm(parts[2], record.time)

    def _answer(self, timeline: Timeline, at: float, text: str, *, new: bool) -> None:
        """A message with text reached the member; ``new`` when it is a message of its own, not an edit."""
        if not text:
            return
        # The first follow-up after a deferral fills the placeholder: that is the answer, not an edit.
        # A later edit of @original changes the answer the member already has: not a second answer.
        if new or timeline.answer_at is None:
            timeline.answers += 1
        if timeline.answer_at is None:
            timeline.answer_at = at
            timeline.answer_text = text
            self.answered += 1

    def _dm(self, channel_id: str, at: float) -> None:
        channel = self.emu.world.channels.get(int(channel_id)) if channel_id.isdigit() else None
        user = channel.recipient_id if channel is not None and channel.guild_id is None else None
        if user is not None and user not in self.first_dm:
            self.first_dm[user] = at


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (p95 of 1,000 values is the 950th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 3)


def route_limits(kind: str) -> dict[str, RouteLimit]:
    if kind == "discord-like":
        return dict(DISCORD_LIKE_LIMITS)
    # Discord limits message posts per channel (each member's DM channel is its own bucket).
    return {MESSAGE_POST: DISCORD_LIKE_LIMITS[MESSAGE_POST]}


async def wait_until(predicate: Callable[[], bool], limit: float) -> bool:
    """Polls ``predicate`` until it holds or ``limit`` seconds passed; returns whether it held."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


def register_button(announcement: Mapping[str, Any]) -> str:
    def walk(components: Sequence[Mapping[str, Any]]) -> list[str]:
        found: list[str] = []
        for component in components:
            custom_id = component.get("custom_id")
            if isinstance(custom_id, str) and REGISTER_PATTERN.match(custom_id):
                found.append(custom_id)
            found.extend(walk(component.get("components") or []))
        return found

    buttons = walk(announcement.get("components") or [])
    if len(buttons) != 1:
        raise RuntimeError(f"expected one Register button on the announcement, found {buttons}")
    return buttons[0]


async def announce(school: School, capacity: int) -> tuple[dict[str, Any], str]:
    """/setup and /talk create as the harness's admin and organizer; returns the announcement and its button."""
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
    start = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    created = await school.run(
        school.organizer,
        "talk create",
        {
            "title": "Register rush",
            "speaker": "Dr. Bench",
            "start": start.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M"),
            "location": "Amphi A",
            "capacity": capacity,
        },
        timeout=30,
    )
    announcements = school.announcements()
    if len(announcements) != 1:
        raise RuntimeError(f"expected one announcement, got {len(announcements)}: {created.all_text()!r}")
    return announcements[0], register_button(announcements[0])


def classify(text: str) -> str:
    lowered = text.casefold()
    if "waitlist" in lowered:
        return "waitlisted"
    if "registered" in lowered:
        return "confirmed"
    return "other"


async def one_repeat(args: argparse.Namespace, index: int) -> RegisterResult:
    async with DiscordEmulator(
        latency=args.latency, global_rate_limit=GLOBAL_LIMIT, route_limits=route_limits(args.limits)
    ) as emu:
        school = build_school(emu, students=())
        members: list[int] = []
        for number in range(args.members):
            user = emu.add_user(f"member-{number:05d}")
            emu.add_member(school.guild_id, user)
            members.append(user)
        with tempfile.TemporaryDirectory(prefix="podium-register-") as tmp:
            async with running_bot(emu, Path(tmp) / "podium.sqlite3", DEV_GUILD_ID=str(school.guild_id)) as bot:
                announcement, custom_id = await announce(school, args.capacity)
                talk_match = REGISTER_PATTERN.match(custom_id)
                assert talk_match is not None
                talk_id = int(talk_match[1])
                await settle(emu, at_most=30.0)
                before = dataclasses.replace(emu.stats)
                first_request = len(emu.requests)

                log.info("repeat %d: %d members press %s at once", index + 1, len(members), custom_id)
                interactions = await asyncio.gather(
                    *(emu.click(school.guild_id, user, announcement, custom_id) for user in members)
                )
                clicked = min(ia.created for ia in interactions)
                tracker = Tracker(emu, interactions, first_request)

                def all_answered() -> bool:
                    tracker.update()
                    return tracker.answered == len(interactions)

                if not await wait_until(all_answered, args.timeout):
                    log.warning(
                        "repeat %d: only %d of %d answered within %.0f s",
                        index + 1,
                        tracker.answered,
                        len(interactions),
                        args.timeout,
                    )
                # A second answer (a duplicate) would come shortly after the first: give it a moment.
                await asyncio.sleep(max(1.0, 4 * args.latency))
                tracker.update()
                answered_at = [t.answer_at for t in tracker.timelines if t.answer_at is not None]
                wall = (max(answered_at) if answered_at else time.monotonic()) - clicked
                log.info("repeat %d: %d answers in %.2f s", index + 1, len(answered_at), wall)

                talk = await bot.service.get_talk(school.guild_id, talk_id)
                registrations = await bot.service.attendees(talk)
                status = {r.user_id: ("confirmed" if r.confirmed else "waitlisted") for r in registrations}
                confirmed_users = [user for user in members if status.get(user) == "confirmed"]

                dm_all: float | None = None
                dm_delays: list[float] = []
                missing_dms = 0
                if not args.skip_dms:

                    def dms_arrived() -> bool:
                        tracker.update()
                        return all(user in tracker.first_dm for user in confirmed_users)

                    if not await wait_until(dms_arrived, args.dm_timeout):
                        log.warning("repeat %d: some invite DMs missing after %.0f s", index + 1, args.dm_timeout)
                    arrived = tracker.first_dm
                    dm_delays = [arrived[user] - clicked for user in confirmed_users if user in arrived]
                    missing_dms = sum(1 for user in confirmed_users if user not in arrived)
                    if dm_delays and not missing_dms:
                        dm_all = round(max(dm_delays), 3)
                    log.info("repeat %d: %d invite DMs, %d missing", index + 1, len(dm_delays), missing_dms)
                tracker.update()
                waitlisted_dms = sum(1 for user in tracker.first_dm if status.get(user) == "waitlisted")
                window = emu.requests[first_request:]
                last = window[-1].time if window else clicked
                stats = emu.stats

    acks = [t.ack_at - t.interaction.created for t in tracker.timelines if t.ack_at is not None]
    answers = [t.answer_at - t.interaction.created for t in tracker.timelines if t.answer_at is not None]
    kinds = {t.interaction.user_id: classify(t.answer_text) for t in tracker.timelines if t.answer_at is not None}
    confirmed = sum(1 for s in status.values() if s == "confirmed")
    waitlisted = sum(1 for s in status.values() if s == "waitlisted")
    expected_confirmed = min(args.capacity, args.members)
    return RegisterResult(
        members=args.members,
        capacity=args.capacity,
        wall_s=round(wall, 3),
        ack_p50_s=percentile(acks, 0.5),
        ack_p95_s=percentile(acks, 0.95),
        ack_max_s=percentile(acks, 1.0),
        answer_p50_s=percentile(answers, 0.5),
        answer_p95_s=percentile(answers, 0.95),
        answer_max_s=percentile(answers, 1.0),
        acks_over_3s=sum(1 for a in acks if a > ANSWER_TARGET_S),
        answers_over_3s=sum(1 for a in answers if a > ANSWER_TARGET_S),
        unacknowledged=len(tracker.timelines) - len(acks),
        unanswered=len(tracker.timelines) - len(answers),
        answered_twice=sum(1 for t in tracker.timelines if t.answers > 1),
        rejected=sum(1 for t in tracker.timelines if t.interaction.rejected),
        confirmed=confirmed,
        waitlisted=waitlisted,
        registrations=len(registrations),
        split_exact=(
            confirmed == expected_confirmed
            and waitlisted == args.members - expected_confirmed
            and set(status) == set(members)
            and len(registrations) == args.members
        ),
        answer_db_mismatches=sum(1 for user, kind in kinds.items() if kind != status.get(user)),
        answer_texts=dict(Counter(kinds.values())),
        dms_checked=not args.skip_dms,
        dm_all_s=dm_all,
        dm_p50_s=percentile(dm_delays, 0.5),
        dm_max_s=percentile(dm_delays, 1.0),
        missing_dms=missing_dms,
        waitlisted_dms=waitlisted_dms,
        requests=len(window),
        requests_per_s=round(len(window) / max(last - clicked, 1e-9), 2),
        rate_limited_429=stats.rate_limited - before.rate_limited,
        global_429=stats.global_rate_limited - before.global_rate_limited,
        request_statuses=dict(Counter(str(r.status) for r in window)),
    )


def meets_target(run: RegisterResult) -> bool:
    return (
        run.split_exact
        and run.unanswered == 0
        and run.answered_twice == 0
        and run.rejected == 0
        and run.answer_db_mismatches == 0
        and run.answers_over_3s == 0
        and run.missing_dms == 0
    )


def medians(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The median of every numeric field, over the runs where it has a value (None: not measured)."""
    keys = [key for key in runs[0] if key != "split_exact" and key != "dms_checked"]
    result: dict[str, float] = {}
    for key in keys:
        values = [run[key] for run in runs if isinstance(run[key], int | float) and not isinstance(run[key], bool)]
        if values:
            result[key] = round(statistics.median(values), 4)
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    runs = [await one_repeat(args, index) for index in range(args.repeat)]
    for number, run in enumerate(runs, start=1):
        log.info(
            "repeat %d: ack p50 %s p95 %s, answer p50 %s p95 %s max %s, %d/%d split, %d over 3 s",
            number,
            run.ack_p50_s,
            run.ack_p95_s,
            run.answer_p50_s,
            run.answer_p95_s,
            run.answer_max_s,
            run.confirmed,
            run.waitlisted,
            run.answers_over_3s,
        )
    raw = [dataclasses.asdict(run) for run in runs]
    return {
        "benchmark": "register rush",
        "machine": machine(),
        "parameters": {
            "members": args.members,
            "capacity": args.capacity,
            "latency_s": args.latency,
            "repeat": args.repeat,
            "global_limit_per_s": GLOBAL_LIMIT,
            "route_limits": {key: list(value) for key, value in route_limits(args.limits).items()},
            "skip_dms": args.skip_dms,
        },
        "definitions": {
            "ack": "click -> first accepted interaction callback (deferral or message)",
            "answer": "click -> first accepted callback with a message, follow-up, or edit of @original that "
            "carries text (content, embed or text display); a deferral's placeholder is not an answer",
            "dm": "click -> the first message the bot posted into the member's DM channel was accepted",
        },
        "target": {
            "answers_over_3s": 0,
            "split_exact": True,
            "unanswered": 0,
            "answered_twice": 0,
            "rejected": 0,
            "missing_dms": 0,
        },
        "median": medians(raw),
        "meets_target": all(meets_target(run) for run in runs),
        "runs": raw,
    }


def report(data: dict[str, Any]) -> str:
    columns = (
        ("wall s", "wall_s"),
        ("ack p50", "ack_p50_s"),
        ("ack p95", "ack_p95_s"),
        ("ack max", "ack_max_s"),
        ("ans p50", "answer_p50_s"),
        ("ans p95", "answer_p95_s"),
        ("ans max", "answer_max_s"),
        (">3 s", "answers_over_3s"),
        ("confirmed", "confirmed"),
        ("waitlisted", "waitlisted"),
        ("unanswered", "unanswered"),
        ("twice", "answered_twice"),
        ("rejected", "rejected"),
        ("all DMs s", "dm_all_s"),
        ("429s", "rate_limited_429"),
    )

    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    rows: list[list[str]] = []
    median = data["median"]
    rows.append(["median", *(cell(median.get(key)) for _, key in columns), "yes" if data["meets_target"] else "NO"])
    for number, run in enumerate(data["runs"], start=1):
        met = meets_target(RegisterResult(**run))
        rows.append([f"  run {number}", *(cell(run[key]) for _, key in columns), "yes" if met else "no"])
    return table(["", *(title for title, _ in columns), "target met"], rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.register", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=1000, help="members who press Register (default 1000)")
    parser.add_argument("--capacity", type=int, default=300, help="seats of the talk (default 300)")
    parser.add_argument("--latency", type=float, default=0.06, help="network round trip in seconds (default 0.06)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats, each with a fresh emulator (default 3)")
    parser.add_argument("--timeout", type=float, default=180.0, help="limit for all answers in seconds")
    parser.add_argument("--dm-timeout", type=float, default=180.0, help="limit for the invite DMs after the answers")
    parser.add_argument("--skip-dms", action="store_true", help="do not wait for the confirmed members' invite DMs")
    parser.add_argument(
        "--limits",
        choices=("messages", "discord-like"),
        default="messages",
        help="per-route limits: message posts 5/5 s per channel (default), or all of DISCORD_LIKE_LIMITS",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default bench/results/register.json)")
    parser.add_argument("--verbose", action="store_true", help="show the bot's and the emulator's INFO logs")
    args = parser.parse_args(argv)
    if args.members < 1 or args.capacity < 1 or args.repeat < 1:
        parser.error("--members, --capacity and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    data = asyncio.run(main_async(args))
    return publish("register.json", data, args.output, report(data), data["meets_target"])


if __name__ == "__main__":
    sys.exit(main())
