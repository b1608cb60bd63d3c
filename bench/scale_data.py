"""The data bench.scale loads: servers' settings, a year of talks, registrations, sent invites, DM channels.

Rows are plain tuples in the schema's column order, ready for PostgreSQL's COPY (asyncpg's
``copy_records_to_table``) or SQLite's ``executemany``. The ideas are bench/startup.py's (talks from tomorrow
to a year out, nothing falling due in the first hours, capacities filled then waitlisted), spread over the
emulator's real servers and their announcement channels instead of 50 made-up ids.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.models import DeliveryKind
from bot.timeparse import format_offsets, parse_offsets

REMINDER_CHOICES = ("1d,1h", "1d,1h", "1d,1h", "1d,1h", "1h", "1d", "2d,1d,1h", "7d,1d,1h", "30m", "1d,1h,15m")
CAPACITIES = (None, None, 10, 15, 20, 30, 50)
QUIET_HOURS = 3  # no reminder, announcement or start falls due this soon after the data is made
# Made-up members: far below the emulator's snowflakes (about 1.4e18 today), so never one of its users.
MEMBER_BASE = 900_000_000_000_000_000
MEMBER_BLOCK = 100_000  # ids per server


@dataclasses.dataclass(frozen=True)
class Server:
    guild_id: int
    channel_id: int
    organizer_role_id: int


@dataclasses.dataclass(frozen=True)
class Shape:
    talks: int
    registrations: int
    deliveries: int  # sent invites, one per confirmed registration, the first ones
    dm_channels: int  # known DM channels of confirmed members
    preferences: int  # members who turned their reminders off
    members_per_server: int = 400


@dataclasses.dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


GUILD_SETTINGS = (
    "guild_id",
    "channel_id",
    "organizer_role_id",
    "timezone",
    "reminders",
    "ping_role_id",
    "updated_at",
    "native_events",
)
TALKS = (
    "id",
    "guild_id",
    "title",
    "speaker",
    "speaker_bio",
    "description",
    "location",
    "start_at",
    "duration_min",
    "capacity",
    "reminders",
    "announce_at",
    "status",
    "cancel_reason",
    "sequence",
    "announcement_channel_id",
    "announcement_message_id",
    "created_by",
    "created_at",
    "updated_at",
)
REGISTRATIONS = (
    "id",
    "talk_id",
    "guild_id",
    "user_id",
    "display_name",
    "status",
    "registered_at",
    "confirmed_at",
    "dm_failed",
)
DELIVERIES = (
    "guild_id",
    "talk_id",
    "recipient_type",
    "recipient_id",
    "kind",
    "key",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
DM_CHANNELS = ("user_id", "channel_id")
MEMBER_PREFERENCES = ("guild_id", "user_id", "notifications")


def generate(
    servers: Sequence[Server],
    shape: Shape,
    now: datetime,
    seed: int,
    known_dm_channels: Sequence[tuple[int, int]] = (),
) -> list[Table]:
    """Every table's rows, in an order that satisfies the foreign keys (talks before registrations).

    ``known_dm_channels`` (user, channel) are added to the generated DM channels: real ones the emulator has.
    Every server has native events off: mirroring 20,000 talks into Discord's Events tab is a fan-out of its own.
    """
    if not servers:
        raise ValueError("at least one server")
    rng = random.Random(seed)
    now = now.replace(microsecond=0)
    stamp = int(now.timestamp())
    settings = [
        (s.guild_id, s.channel_id, s.organizer_role_id, "Europe/Paris", "1d,1h", None, stamp, 0) for s in servers
    ]
    talks, plan = _talks(rng, servers, now, shape.talks)
    registrations, confirmed = _registrations(rng, servers, plan, shape, stamp)
    deliveries = [
        (guild, talk_id, "user", user, DeliveryKind.INVITE_CONFIRMED.value, reg_id, "sent", 1, at, at, at)
        for reg_id, talk_id, guild, user, at in confirmed[: shape.deliveries]
    ]
    known = dict(known_dm_channels)
    made = [user for user in sorted({user for _, _, _, user, _ in confirmed}) if user not in known]
    dm_channels = [(user, user + 7) for user in made[: shape.dm_channels]] + sorted(known.items())
    pool = [(s.guild_id, _member(index, number)) for index, s in enumerate(servers) for number in range(200)]
    preferences = [(guild, user, 0) for guild, user in rng.sample(pool, min(shape.preferences, len(pool)))]
    return [
        Table("guild_settings", GUILD_SETTINGS, settings),
        Table("talks", TALKS, talks),
        Table("registrations", REGISTRATIONS, registrations),
        Table("deliveries", DELIVERIES, deliveries),
        Table("dm_channels", DM_CHANNELS, dm_channels),
        Table("member_preferences", MEMBER_PREFERENCES, preferences),
    ]


def _member(server_index: int, number: int) -> int:
    return MEMBER_BASE + server_index * MEMBER_BLOCK + number


def talk_row(
    rng: random.Random,
    talk_id: int,
    guild_id: int,
    now: datetime,
    capacities: Sequence[int | None],
    *,
    channel_id: int,
    created_by: int,
) -> tuple[tuple[Any, ...], int | None]:
    """One talk's row (the columns of TALKS) starting between tomorrow and a year from now, with nothing of it
    falling due in the next QUIET_HOURS, and its capacity. Shared with bench/startup.py."""
    quiet_until = now + timedelta(hours=QUIET_HOURS)
    stamp = int(now.timestamp())
    while True:
        start = now + timedelta(minutes=rng.randrange(26 * 60, 365 * 24 * 60, 15))
        offsets = parse_offsets(rng.choice(REMINDER_CHOICES))
        if not any(now < start - timedelta(minutes=offset) <= quiet_until for offset in offsets):
            break
    announce_at = None
    if rng.random() < 0.1:  # announced later, by the scheduler
        announce_at = max(now + (start - now) * rng.uniform(0.2, 0.9), quiet_until + timedelta(minutes=5))
    capacity = rng.choice(capacities)
    cancelled = rng.random() < 0.03
    announced = announce_at is None
    row = (
        talk_id,
        guild_id,
        f"Talk {talk_id}: advances in field {talk_id % 97}",
        f"Prof. Speaker {talk_id % 1_000}",
        "A short biography of the speaker." if talk_id % 3 else None,
        "What the talk is about, in a few sentences. " * 4,
        f"Amphi {chr(65 + talk_id % 6)}",
        int(start.timestamp()),
        rng.choice((45, 60, 60, 90, 120)),
        capacity,
        format_offsets(offsets),
        None if announce_at is None else int(announce_at.timestamp()),
        "cancelled" if cancelled else "scheduled",
        "Speaker unavailable" if cancelled else None,
        rng.choice((0, 0, 0, 1, 2)),
        channel_id if announced else None,
        # Messages the emulator never saw: nothing in the benchmark's minutes edits them (QUIET_HOURS).
        channel_id + 1_000_000 + talk_id if announced else None,
        created_by,
        stamp,
        stamp,
    )
    return row, capacity


def _talks(
    rng: random.Random, servers: Sequence[Server], now: datetime, count: int
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, int | None]]]:
    rows: list[tuple[Any, ...]] = []
    plan: list[tuple[int, int, int | None]] = []  # talk id, server index, capacity
    for talk_id in range(1, count + 1):
        index = rng.randrange(len(servers))
        server = servers[index]
        row, capacity = talk_row(
            rng, talk_id, server.guild_id, now, CAPACITIES, channel_id=server.channel_id, created_by=_member(index, 0)
        )
        rows.append(row)
        plan.append((talk_id, index, capacity))
    return rows, plan


def _registrations(
    rng: random.Random,
    servers: Sequence[Server],
    plan: list[tuple[int, int, int | None]],
    shape: Shape,
    stamp: int,
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, int, int, int]]]:
    """Exactly ``shape.registrations`` rows, confirmed up to each talk's capacity and waitlisted beyond it."""
    if not plan:
        if shape.registrations:
            raise ValueError("registrations need talks")
        return [], []
    most = shape.members_per_server
    if shape.registrations > most * len(plan):
        raise ValueError(f"{shape.registrations} registrations do not fit {len(plan)} talks of {most} members")
    average = shape.registrations / len(plan)
    counts = [min(most, rng.randint(0, max(1, round(2 * average)))) for _ in plan]
    total = sum(counts)
    while total != shape.registrations:  # nudge random talks until the total is exact
        index = rng.randrange(len(counts))
        if total < shape.registrations and counts[index] < most:
            counts[index] += 1
            total += 1
        elif total > shape.registrations and counts[index] > 0:
            counts[index] -= 1
            total -= 1
    rows: list[tuple[Any, ...]] = []
    confirmed: list[tuple[int, int, int, int, int]] = []  # registration id, talk, guild, user, at
    for (talk_id, index, capacity), count in zip(plan, counts, strict=True):
        guild = servers[index].guild_id
        for place, number in enumerate(rng.sample(range(most), count)):
            user = _member(index, number)
            at = stamp - rng.randrange(60, 30 * 86_400)
            is_confirmed = capacity is None or place < capacity
            reg_id = len(rows) + 1
            rows.append(
                (
                    reg_id,
                    talk_id,
                    guild,
                    user,
                    f"Member {number}",
                    "confirmed" if is_confirmed else "waitlisted",
                    at,
                    at + rng.random() if is_confirmed else None,
                    0,
                )
            )
            if is_confirmed:
                confirmed.append((reg_id, talk_id, guild, user, at))
    return rows, confirmed
