"""A clean stop in the middle of a 1,000-member reminder fan-out: the bot exits within seconds, leaves what it
did not send in the outbox, and the restart completes the fan-out with nobody reminded twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import store
from bot.database import Database
from bot.talks import TalkInput, TalkService
from tests.conftest import PARIS
from tests.databases import database_target
from tests.emulator import DiscordEmulator
from tests.harness import BotProcess, School, bot_env, build_school, wait_started

MEMBERS = 1000
LABEL = "Reminder (15m before)"


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(latency=0.03) as emulator:
        yield emulator


async def seed(emu: DiscordEmulator, school: School, database: Path) -> None:
    """A talk in 10 minutes whose 15-minute reminder fell due 5 minutes ago (the bot was down), with 1,000
    confirmed members whose invites already went out and whose DM channels are known."""
    now = datetime.now(UTC).replace(microsecond=0)
    db = await Database.open(database_target(database))
    try:
        # The talk was created before the reminder fell due, so the reminder is owed.
        service = TalkService(db, PARIS, lambda: now - timedelta(minutes=10))
        await service.update_settings(school.guild_id, channel_id=school.channel_id)
        talk = await service.create_talk(
            school.guild_id,
            school.organizer,
            TalkInput(
                title="Sepsis", speaker="Dr. Singer", start=(now + timedelta(minutes=10)).isoformat(), reminders="15m"
            ),
        )
        for name, user in school.students.items():
            await service.register(school.guild_id, talk.id, user, name)
        async with db.transaction() as conn:
            await conn.execute("UPDATE deliveries SET status = 'sent'")  # the invites, long delivered
            for user in school.students.values():
                channel = emu.world.dm_channel_for(user, create=True)
                assert channel is not None
                await store.save_dm_channel(conn, user, channel.id)
    finally:
        await db.close()


def reminders(emu: DiscordEmulator, school: School) -> Counter[int]:
    return Counter(
        {user: sum(LABEL in m["content"] for m in emu.dm_messages(user)) for user in school.students.values()}
    )


@pytest.mark.timeout(180)
async def test_sigterm_during_a_1000_member_fan_out(emu: DiscordEmulator, tmp_path: Path) -> None:
    school = build_school(emu, students=tuple(f"m{i:04d}" for i in range(MEMBERS)))
    database = tmp_path / "podium.sqlite3"
    await seed(emu, school, database)
    env = bot_env(emu, database, DEV_GUILD_ID=str(school.guild_id))
    bot = BotProcess(env, tmp_path / "bot.log")
    await bot.start()
    try:
        await wait_started(emu, [bot], 1)
        await emu.changed.wait_for(lambda: sum(reminders(emu, school).values()) >= 100, 60, "100 reminders")
        asked = time.monotonic()
        assert await bot.stop() == 0  # SIGTERM
        stopped_in = time.monotonic() - asked
        sent_before_stop = sum(reminders(emu, school).values())
        assert stopped_in < 5, f"the bot took {stopped_in:.1f} s to stop"
        assert sent_before_stop < MEMBERS, "the fan-out was over before the stop: nothing was tested"
        assert "Traceback" not in bot.log()

        bot = BotProcess(env, tmp_path / "bot.log")
        await bot.start()
        await wait_started(emu, [bot], 2)
        await emu.changed.wait_for(
            lambda: all(reminders(emu, school).values()), 90, "every member's reminder after the restart"
        )
        assert set(reminders(emu, school).values()) == {1}
        posts = [m for m in emu.messages(school.channel_id) if "starts" in m["content"]]
        assert len(posts) == 1
        assert await bot.stop() == 0
    finally:
        await bot.stop()
