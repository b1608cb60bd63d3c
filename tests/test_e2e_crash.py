"""kill -9 of ``python -m bot`` during and between reminders: every member still gets each reminder once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.emulator import DiscordEmulator
from tests.harness import BotProcess, School, bot_env, build_school, wait_started

STUDENTS = tuple(f"student{i:02d}" for i in range(12))


@pytest.fixture
async def slow_emu() -> AsyncIterator[DiscordEmulator]:
    # A slow network (300 ms a request) stretches the fan-out so the kill lands in the middle of it.
    async with DiscordEmulator(latency=0.3) as emulator:
        yield emulator


def reminder_counts(emu: DiscordEmulator, school: School, label: str) -> Counter[int]:
    counts: Counter[int] = Counter()
    for user in school.students.values():
        counts[user] = sum(label in m["content"] for m in emu.dm_messages(user))
    return counts


@pytest.mark.timeout(240)
async def test_kill_9_during_and_between_reminders(slow_emu: DiscordEmulator, tmp_path: Path) -> None:
    emu = slow_emu
    school = build_school(emu, students=STUDENTS)
    env = bot_env(emu, tmp_path / "podium.sqlite3", DEV_GUILD_ID=str(school.guild_id))
    bot = BotProcess(env, tmp_path / "bot.log")
    await bot.start()
    try:
        await wait_started(emu, [bot], 1)
        await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2, seconds=15)
        created = await school.run(
            school.organizer,
            "talk create",
            {"title": "Sepsis", "speaker": "Dr. Singer", "start": start.isoformat(), "reminders": "2m,1m"},
        )
        assert "Created talk **#1**" in created.all_text()
        replies = await asyncio.gather(
            *(school.run(user, "register", {"talk": 1}) for user in school.students.values())
        )
        assert all("You're registered" in reply.all_text() for reply in replies)
        assert datetime.now(UTC) < start - timedelta(minutes=2), "registrations took longer than the set-up allows"

        first, second = "Reminder (2m before)", "Reminder (1m before)"
        # Crash in the middle of the first fan-out.
        await emu.changed.wait_for(
            lambda: sum(reminder_counts(emu, school, first).values()) >= 1, 30, "the first reminders"
        )
        await bot.kill()
        delivered_before_crash = sum(reminder_counts(emu, school, first).values())

        bot = BotProcess(env, tmp_path / "bot.log")
        await bot.start()
        await wait_started(emu, [bot], 2)
        await emu.changed.wait_for(
            lambda: all(reminder_counts(emu, school, first).values()), 60, "every first reminder after the restart"
        )

        # Crash again between the two reminders; the second one is rebuilt from the database.
        await bot.kill()
        bot = BotProcess(env, tmp_path / "bot.log")
        await bot.start()
        await wait_started(emu, [bot], 3)
        await emu.changed.wait_for(
            lambda: all(reminder_counts(emu, school, second).values()), 90, "every second reminder"
        )
        arrived = datetime.now(UTC)
        assert arrived >= start - timedelta(minutes=1)

        assert set(reminder_counts(emu, school, first).values()) == {1}, bot.log()
        assert set(reminder_counts(emu, school, second).values()) == {1}, bot.log()
        posts = [m["content"] for m in emu.messages(school.channel_id) if "starts" in m["content"]]
        assert len(posts) == 2
        # invites were not sent again by the restarts either
        invites = Counter(
            user
            for user in school.students.values()
            for m in emu.dm_messages(user)
            if "You're registered" in m["content"]
        )
        assert set(invites.values()) == {1}
        assert 1 <= delivered_before_crash <= len(STUDENTS)
        assert await bot.stop() == 0  # SIGTERM: a clean stop
        assert "Traceback" not in bot.log()
        assert "Stopped." in bot.log()
    finally:
        await bot.stop()
