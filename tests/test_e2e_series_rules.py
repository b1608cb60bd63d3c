"""Where series meet eligibility and the native events, with the real bot against the emulator: a series reserved
for a class year (bad roles refused, members without the role refused date by date, members with it registered
for every date), and each date of a series as its own event in the Events tab."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School
from tests.web_helpers import PARIS, local


async def setup_series(school: School, bot: PodiumBot, **options: Any) -> Any:
    school.emu.set_command_permission(school.guild_id, "series", school.organizer_role)
    reply = await school.run(
        school.admin,
        "setup",
        {"channel": school.channel_id, "organizer_role": school.organizer_role, "timezone": "Europe/Paris"},
    )
    assert "Settings saved" in reply.all_text()
    start = (datetime.now(UTC) + timedelta(days=3)).astimezone(PARIS).replace(hour=18, minute=0, second=0)
    values: dict[str, Any] = {
        "title": "Journal club",
        "speaker": "Dr Roux",
        "start": local(start),
        "repeat": "weekly",
        "count": 3,
    }
    values.update(options)
    created = await school.run(school.organizer, "series create", values, timeout=20)
    await bot.announcer.drain()
    return created, start


async def talk_count(bot: PodiumBot) -> int:
    async with bot.db.reading() as conn:
        [(count,)] = list(await conn.execute_fetchall("SELECT COUNT(*) FROM talks"))
    return int(count)


async def test_a_series_reserved_for_a_class_year(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    year = emu.add_role(school.guild_id, "Year 4", mentionable=True)
    alice, bob = school.students["alice"], school.students["bob"]
    emu.add_member(school.guild_id, alice, roles=[year])
    unknown, _ = await setup_series(school, bot, eligible_roles="<@&123456789012345678>")
    assert "`<@&123456789012345678>` is not a role of this server" in unknown.all_text()
    assert await talk_count(bot) == 0  # nothing created
    late, _ = await setup_series(
        school, bot, priority_roles=f"<@&{year}>", priority_until=local(datetime.now(UTC) + timedelta(days=30))
    )
    assert "must come before the talk starts" in late.all_text() and await talk_count(bot) == 0
    created, _ = await setup_series(school, bot, eligible_roles=f"<@&{year}>")
    assert "Created series **#" in created.all_text(), created.all_text()
    assert await talk_count(bot) == 3
    refused = await school.run(bob, "register", {"series": 1})
    text = refused.all_text()
    assert text.count(f"is reserved for members with one of these roles: <@&{year}>") == 3
    assert refused.message is not None and refused.message["mention_roles"] == []
    accepted = await school.run(alice, "register", {"series": 1})
    assert [line.endswith("— confirmed") for line in accepted.all_text().splitlines()[-3:]] == [True] * 3
    async with bot.db.reading() as conn:
        rows = list(await conn.execute_fetchall("SELECT user_id FROM registrations ORDER BY talk_id"))
    assert [int(row[0]) for row in rows] == [alice, alice, alice]

    # Each date is an event of its own, at its own time, though the dates share one announcement.
    events = sorted(emu.scheduled_events(school.guild_id), key=lambda e: e["scheduled_start_time"])
    assert [e["name"] for e in events] == ["Journal club"] * 3
    starts = [datetime.fromisoformat(e["scheduled_start_time"]) for e in events]
    assert [s.astimezone(PARIS).hour for s in starts] == [18, 18, 18]
    assert starts[1] - starts[0] >= timedelta(days=6, hours=23)
    await bot.mirror.reconcile_all()  # a restart's pass adopts nothing twice
    assert len(emu.scheduled_events(school.guild_id)) == 3
    cancelled = await school.run(school.organizer, "talk cancel", {"talk": 2})
    assert "ancel" in cancelled.all_text()
    await bot.announcer.drain()
    statuses = {e["id"]: e["status"] for e in emu.scheduled_events(school.guild_id)}
    assert sorted(statuses.values()) == [1, 1, 4]
