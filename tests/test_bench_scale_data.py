"""bench.scale's data generator: the exact sizes asked for, rows that fit the schema's columns and constraints."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.scale_data import QUIET_HOURS, Server, Shape, generate
from bot.timeparse import parse_offsets


def test_generated_rows_fit_the_shape_and_the_schema() -> None:
    servers = [
        Server(guild_id=1_400_000_000_000_000_000 + (n << 22), channel_id=n + 1, organizer_role_id=n + 2)
        for n in range(8)
    ]
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    tables = {
        table.name: table
        for table in generate(
            servers, Shape(200, 2_000, 50, 40, 20, members_per_server=100), now, seed=3, known_dm_channels=[(5, 6)]
        )
    }
    assert [len(tables[name].rows) for name in tables] == [8, 200, 2_000, 50, 41, 20]
    for table in tables.values():
        assert all(len(row) == len(table.columns) for row in table.rows), table.name

    talks = {row[0]: dict(zip(tables["talks"].columns, row, strict=True)) for row in tables["talks"].rows}
    assert sorted(talks) == list(range(1, 201))
    quiet = now + timedelta(hours=QUIET_HOURS)
    for talk in talks.values():
        start = datetime.fromtimestamp(talk["start_at"], UTC)
        assert start >= now + timedelta(hours=26)
        assert not any(now < start - timedelta(minutes=m) <= quiet for m in parse_offsets(talk["reminders"]))
        assert talk["guild_id"] in {s.guild_id for s in servers}

    registrations = [
        dict(zip(tables["registrations"].columns, row, strict=True)) for row in tables["registrations"].rows
    ]
    assert [r["id"] for r in registrations] == list(range(1, 2_001))
    assert len({(r["talk_id"], r["user_id"]) for r in registrations}) == 2_000
    confirmed = Counter(r["talk_id"] for r in registrations if r["status"] == "confirmed")
    waitlisted = Counter(r["talk_id"] for r in registrations if r["status"] == "waitlisted")
    for talk_id, talk in talks.items():
        assert talk["capacity"] is None or confirmed[talk_id] <= talk["capacity"]
        assert not waitlisted[talk_id] or confirmed[talk_id] == talk["capacity"]
    assert all((r["confirmed_at"] is None) == (r["status"] == "waitlisted") for r in registrations)
    assert all(r["guild_id"] == talks[r["talk_id"]]["guild_id"] for r in registrations)
    assert (5, 6) in tables["dm_channels"].rows
    assert len({row[0] for row in tables["dm_channels"].rows}) == 41
