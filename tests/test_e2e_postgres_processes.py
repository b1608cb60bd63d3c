"""Two ``python -m bot`` processes of two shards each (SHARD_COUNT=4, SHARD_IDS=0-1 and 2-3) on ONE PostgreSQL
database, against one emulator, with a server on each of the four shards.

- A registration storm of 300 members for one talk of 120 seats, half of it answered by each process, ends with
  exactly 120 confirmed and 180 waitlisted: the talk's row lock (store.lock_talks) makes each process's count
  and insert one step, and every member is answered once and registered once.
- Each server's reminder reaches each of its members exactly once, though both processes share the outbox.
- The process of shards 0-1 is killed (SIGKILL) in the middle of its reminder fan-out and started again: its
  members still get the reminder exactly once (the outbox rows written before the fan-out, the claims it held
  lifted at start-up by TalkService.release_claims, the history look-up for sends that may have reached
  Discord), and the other process's servers are not affected.

In reality a server's interactions reach only its shard's process; the emulator's ``shard_id=`` sends half of
the storm over a shard of the other process, which answers it as it would any interaction.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.databases import postgres_only, run_sql
from tests.emulator import DiscordEmulator, EmulatedInteraction
from tests.harness import BotProcess, School, bot_env, build_school, wait_started

pytestmark = postgres_only

SHARDS = 4
PROCESSES = ("0-1", "2-3")  # SHARD_IDS of process A and process B
STORM = 300
CAPACITY = 120
MEMBERS = 30  # in each of the three other servers
# From the talks' creation to their reminder: the set-up, the registrations, the storm and the invites it owes
# all happen before; the reminder falls due a minute before the start, so the fan-out and the restart have that
# minute before a reminder would be too late.
SETUP_BUDGET = timedelta(seconds=30)
REMINDER = "Reminder (1m before)"
INVITE = "You're registered for"
POST = "⏰ **Talk on shard"  # the reminder in the announcement channel
KILL_AFTER = 10  # reminders of process A's servers that arrived before the kill
WAITLISTED = re.compile(r"#(\d+) on the waitlist")


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    # Fast for the set-up; the reminder fan-out then runs at 300 ms a request (as tests/test_e2e_crash.py), so
    # the kill lands in its middle.
    async with DiscordEmulator(latency=0.02) as emulator:
        yield emulator


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARDS


def dms(emu: DiscordEmulator, users: Iterable[int], text: str) -> Counter[int]:
    """How many DMs containing ``text`` each of these members got."""
    return Counter({user: sum(text in m["content"] for m in emu.dm_messages(user)) for user in users})


def all_got(emu: DiscordEmulator, users: Iterable[int], text: str) -> bool:
    return all(dms(emu, users, text).values())


async def wait_until_sent(database: Path, timeout: float = 60) -> None:
    """Until no outbox row is pending any more, whichever process was to send it."""
    async with asyncio.timeout(timeout):
        # Another process's commits signal nothing here: polling the count is the way to see them.
        while (await run_sql(database, "SELECT count(*) FROM deliveries WHERE status = 'pending'"))[0][0]:  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def register_all(emu: DiscordEmulator, school: School, talk_id: int, *, split: bool) -> list[EmulatedInteraction]:
    """Every student runs /register at once; with ``split`` every second one's goes to process B (shard 2)."""
    interactions = [
        await emu.slash(
            school.guild_id,
            user,
            "register",
            {"talk": talk_id},
            channel_id=school.channel_id,
            shard_id=2 if split and index % 2 else None,
        )
        for index, user in enumerate(school.students.values())
    ]
    await asyncio.gather(*(interaction.wait_done(30) for interaction in interactions))
    return interactions


@pytest.mark.timeout(240)
async def test_two_processes_share_one_postgres_database(emu: DiscordEmulator, tmp_path: Path) -> None:
    schools = [
        build_school(
            emu,
            students=tuple(f"s{shard}m{i:03d}" for i in range(STORM if shard == 0 else MEMBERS)),
            shard=(shard, SHARDS),
        )
        for shard in range(SHARDS)
    ]
    assert [shard_of(school.guild_id) for school in schools] == [0, 1, 2, 3]
    database = tmp_path / "podium.sqlite3"  # one PostgreSQL schema for both processes (tests/databases.py)
    envs = [bot_env(emu, database, SHARD_COUNT=str(SHARDS), SHARD_IDS=ids) for ids in PROCESSES]
    assert envs[0]["DATABASE_URL"] == envs[1]["DATABASE_URL"]
    bots = [BotProcess(env, tmp_path / f"bot-{ids}.log") for env, ids in zip(envs, PROCESSES, strict=True)]
    for bot in bots:
        await bot.start()
    try:
        await wait_started(emu, bots, SHARDS)
        # Each connection got only its shard's server.
        assert sorted(tuple(p["shard"]) for p in emu.identify_payloads) == [(s, SHARDS) for s in range(SHARDS)]

        start = datetime.now(UTC).replace(microsecond=0) + SETUP_BUDGET + timedelta(minutes=1)
        reminders_due = start - timedelta(minutes=1)
        talks: list[int] = []
        for shard, school in enumerate(schools):
            setup = await school.run(
                school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role}
            )
            assert "Settings saved" in setup.all_text(), setup.all_text()
            options: dict[str, object] = {
                "title": f"Talk on shard {shard}",
                "speaker": "Dr. Singer",
                "start": start.isoformat(),
                "reminders": "1m",
            }
            if shard == 0:
                options["capacity"] = CAPACITY
            created = await school.run(school.organizer, "talk create", options)
            found = re.search(r"Created talk \*\*#(\d+)\*\*", created.all_text())
            assert found, created.all_text()
            talks.append(int(found.group(1)))

        others = await asyncio.gather(
            *(register_all(emu, school, talk, split=False) for school, talk in zip(schools[1:], talks[1:], strict=True))
        )
        assert all("You're registered" in reply.all_text() for replies in others for reply in replies)

        # 1. The storm: 300 members of server 0 (process A's) at once, every second one answered by process B.
        storm = await register_all(emu, schools[0], talks[0], split=True)
        positions: list[int] = []
        answered: dict[int, str] = {}
        for interaction in storm:
            assert len(interaction.callbacks) == 1 and not interaction.rejected, interaction
            [answer] = interaction.messages  # one answer each (a deferral's follow-up fills @original)
            text = answer["content"]
            if "You're registered" in text:
                answered[interaction.user_id] = "confirmed"
            else:
                waitlisted = WAITLISTED.search(text)
                assert waitlisted, text
                positions.append(int(waitlisted.group(1)))
                answered[interaction.user_id] = "waitlisted"
        rows = await run_sql(database, "SELECT user_id, status FROM registrations WHERE talk_id = ?", (talks[0],))
        assert len(rows) == STORM == len({row[0] for row in rows}), "a member registered twice"
        stored = {int(row[0]): str(row[1]) for row in rows}
        assert Counter(stored.values()) == {"confirmed": CAPACITY, "waitlisted": STORM - CAPACITY}
        assert stored == answered, "an answer disagrees with the database"
        assert sorted(positions) == list(range(1, STORM - CAPACITY + 1))  # each place on the waitlist once

        # Every confirmed member's invite went out once, whichever process registered them; none to the waitlist.
        confirmed = [{user for user, status in stored.items() if status == "confirmed"}]
        confirmed += [set(school.students.values()) for school in schools[1:]]
        await wait_until_sent(database)
        for school, members in zip(schools, confirmed, strict=True):
            invites = dms(emu, school.students.values(), INVITE)
            assert {user for user, count in invites.items() if count} == members
            assert {invites[user] for user in members} == {1}
        assert datetime.now(UTC) < reminders_due - timedelta(seconds=2), "the set-up took longer than it may"

        # 2. and 3. The reminders of all four servers fall due together; process A dies in the middle of its own.
        emu.latency = 0.3
        mine, theirs = confirmed[0] | confirmed[1], confirmed[2] | confirmed[3]
        await emu.changed.wait_for(
            lambda: dms(emu, mine, REMINDER).total() >= KILL_AFTER, 90, "the first reminders of process A's servers"
        )
        await bots[0].kill()
        # Process B carries on alone: each of its members gets the reminder, and it leaves A's rows alone.
        await emu.changed.wait_for(lambda: all_got(emu, theirs, REMINDER), 30, "process B's reminders")
        before_restart = dms(emu, mine, REMINDER).total()
        assert before_restart < len(mine), "process A's fan-out was over before the kill: nothing was tested"

        # As if process A stayed down longer than Discord remembers nonces: only the history look-up keeps a send
        # that reached Discord before the kill from going out twice.
        emu.expire_nonces()
        bots[0] = BotProcess(envs[0], tmp_path / "bot-0-1.log")
        await bots[0].start()
        await wait_started(emu, bots, SHARDS + 2)
        await emu.changed.wait_for(lambda: all_got(emu, mine, REMINDER), 45, "process A's reminders after its restart")
        await wait_until_sent(database)
        assert datetime.now(UTC) < start

        for school, members in zip(schools, confirmed, strict=True):
            counts = dms(emu, school.students.values(), REMINDER)
            assert {user for user, count in counts.items() if count} == members
            assert {counts[user] for user in members} == {1}, {
                user: counts[user] for user in members if counts[user] != 1
            }
            posts = [m for m in emu.messages(school.channel_id) if m["content"].startswith(POST)]
            assert len(posts) == 1
        statuses = await run_sql(
            database,
            "SELECT status, count(*) FROM deliveries WHERE kind IN ('reminder', 'reminder_post') GROUP BY status",
        )
        assert {str(row[0]): int(row[1]) for row in statuses} == {"sent": CAPACITY + 3 * MEMBERS + SHARDS}
        # The restart lifted the claims the killed process held on its servers' rows (else they would have
        # waited out CLAIM_LEASE, two minutes, past the talks' start), and process B never reconnected.
        released = re.search(r"Released (\d+) deliveries an earlier run had claimed", bots[0].log())
        assert released and int(released.group(1)) >= 1, bots[0].log()
        assert Counter(p["shard"][0] for p in emu.identify_payloads) == {0: 2, 1: 2, 2: 1, 3: 1}

        for bot in bots:
            assert await bot.stop() == 0
        for bot in bots:
            assert "Traceback" not in bot.log(), bot.log()
    finally:
        for bot in bots:
            await bot.stop()
