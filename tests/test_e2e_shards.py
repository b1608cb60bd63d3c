"""Sharding (the first part of issue 12) with the real discord.py against the emulator: two bots of one shard each
on one database, their servers on different shards. Each serves only its own servers: it receives only their
events, plans only their talks' jobs and sends only their pending messages, so every reminder goes out once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.client import ShardedPodiumBot
from bot.errors import ConfigurationError
from bot.jobplan import JobAction, PlannedJob
from bot.settings import load_settings
from tests.emulator import DiscordEmulator
from tests.harness import School, build_school, running_bots

SHARDS = 2


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARDS


def schools_on_each_shard(emu: DiscordEmulator) -> dict[int, School]:
    """One server per shard: new servers are made until both shards have one."""
    found: dict[int, School] = {}
    for _ in range(40):
        school = build_school(emu, students=("ann", "ben"))
        found.setdefault(shard_of(school.guild_id), school)
        if len(found) == SHARDS:
            return found
    raise AssertionError("the emulator's ids never fell on both shards")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def reminders_for(emu: DiscordEmulator, user: int) -> list[dict]:
    return [m for m in emu.dm_messages(user) if "Reminder" in m["content"]]


async def test_each_process_serves_its_own_shards(emu: DiscordEmulator, tmp_path: Path) -> None:
    schools = schools_on_each_shard(emu)
    database = tmp_path / "podium.sqlite3"
    extras = [{"SHARD_COUNT": str(SHARDS), "SHARD_IDS": str(shard)} for shard in range(SHARDS)]
    start = (datetime.now(UTC) + timedelta(hours=30)).replace(microsecond=0)
    async with running_bots(emu, database, *extras) as bots:
        assert all(isinstance(bot, ShardedPodiumBot) for bot in bots)
        every = {guild.id for guild in emu.world.guilds.values()}
        for bot in bots:
            health = await bot.health()  # what GET /healthz reports, one websocket per shard
            assert health.ok and health.gateway_connected
        for shard, bot in enumerate(bots):
            mine = {guild.id for guild in bot.guilds}
            assert mine == {g for g in every if shard_of(g) == shard} and schools[shard].guild_id in mine
        for shard in range(SHARDS):  # talk n + 1 is on shard n
            school = schools[shard]
            emu.set_command_permission(school.guild_id, "talk", school.organizer_role)
            setup = await school.run(
                school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role}
            )
            assert "Settings saved" in setup.all_text()
            created = await school.run(
                school.organizer,
                "talk create",
                {"title": f"Talk on shard {shard}", "speaker": "Pr X", "start": iso(start), "reminders": "1d"},
            )
            assert "Created talk" in created.all_text(), created.all_text()
            for student in school.students.values():
                await school.run(student, "register", {"talk": shard + 1})
        for bot in bots:
            await bot.courier.drain()
        # Each process plans only its own servers' talks, however often the hourly pass runs.
        for shard, bot in enumerate(bots):
            await bot.scheduler.plan_all()
            planned = {job.id.split(":")[1] for job in bot.scheduler.scheduler.get_jobs() if job.id.count(":")}
            assert planned == {str(shard + 1)}, (shard, planned)
        # The reminder jobs run in their process: every member gets one reminder, nobody two.
        for shard, bot in enumerate(bots):
            due = start - timedelta(days=1)
            await bot.scheduler.run(PlannedJob(JobAction.REMINDER, shard + 1, due, 1440))
        for bot in bots:
            await bot.courier.drain()
        for school in schools.values():
            for student in school.students.values():
                assert len(reminders_for(emu, student)) == 1
        # A pending message is sent by its server's process only: the other one's retry pass leaves it alone.
        school = schools[1]
        emu.fail_next("POST", r"/channels/\d+/messages", status=503)
        late = await school.run(school.organizer, "talk edit", {"talk": 2, "location": "Amphi B"})
        assert "Updated talk" in late.all_text()
        await bots[1].courier.drain()
        real = bots[0].service.clock
        for bot in bots:
            bot.service.clock = lambda real=real: real() + timedelta(minutes=10)  # past the back-off
        try:
            assert await bots[0].courier.retry_due() == 0
            assert await bots[1].courier.retry_due() >= 1
        finally:
            for bot in bots:
                bot.service.clock = real


@pytest.mark.parametrize("dev_guild", [False, True], ids=["global", "dev-guild"])
async def test_only_shard_0s_process_syncs_the_commands(
    emu: DiscordEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, dev_guild: bool
) -> None:
    """The command list is the bot's, not a shard's: one PUT, from the process that runs shard 0. (With
    DEV_GUILD_ID every process would sync at once; without it, all of them would read "unchanged" before any
    recorded its sync.) The development server here is on shard 1: REST does not care which shard serves it."""
    schools = schools_on_each_shard(emu)
    dev = {"DEV_GUILD_ID": str(schools[1].guild_id)} if dev_guild else {}
    extras = [{"SHARD_COUNT": str(SHARDS), "SHARD_IDS": str(shard), **dev} for shard in range(SHARDS)]
    caplog.set_level(logging.INFO, logger="bot.client")
    async with running_bots(emu, tmp_path / "podium.sqlite3", *extras):
        scope = schools[1].guild_id if dev_guild else None
        assert emu.command_syncs(scope) == 1
        if dev_guild:
            assert emu.command_syncs(None) == 0  # the development server only, as unsharded
        assert emu.commands_for(scope), "shard 0's process synced nothing"
        left = [r.getMessage() for r in caplog.records if "shard 0's process syncs" in r.getMessage()]
        assert len(left) == 1 and left[0].endswith("runs shards 1)"), left
        # The commands shard 0's process synced answer on the other process's server too.
        school = schools[1]
        setup = await school.run(
            school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role}
        )
        assert "Settings saved" in setup.all_text()


@pytest.mark.parametrize(
    ("count", "ids", "fragment"),
    [
        ("0", None, "SHARD_COUNT must be a whole number from 1"),
        ("two", None, "SHARD_COUNT must be a whole number"),
        (None, "0-1", "SHARD_IDS needs SHARD_COUNT"),
        ("4", "0-4", "not within 0 to 3"),
        ("4", "3-1", "not within 0 to 3"),
        ("4", "0;1", "must look like 0-3"),
    ],
)
def test_bad_shard_settings_are_refused(count: str | None, ids: str | None, fragment: str) -> None:
    environ = {"DISCORD_TOKEN": "x"}
    if count is not None:
        environ["SHARD_COUNT"] = count
    if ids is not None:
        environ["SHARD_IDS"] = ids
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(environ, env_file=None)


def test_shard_settings_and_ownership() -> None:
    settings = load_settings({"DISCORD_TOKEN": "x", "SHARD_COUNT": "4", "SHARD_IDS": "0-1,3"}, env_file=None)
    assert (settings.shard_count, settings.shard_ids) == (4, (0, 1, 3))
    assert [settings.owns(shard << 22) for shard in range(4)] == [True, True, False, True]
    unsharded = load_settings({"DISCORD_TOKEN": "x"}, env_file=None)
    assert unsharded.shard_count is None and unsharded.owns(2 << 22)
