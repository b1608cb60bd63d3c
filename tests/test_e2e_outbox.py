"""Nothing lost, by design: what a change owes is committed with it, so a crash (or a failing follow-up) right
after the reply loses no message, and the restart sends each one exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.client import PodiumBot
from bot.talks import ChangeLimit
from tests.databases import run_sql
from tests.emulator import DiscordEmulator
from tests.harness import BotProcess, School, bot_env, build_school, running_bot, wait_started

STUDENTS = tuple(f"student{i:02d}" for i in range(40))
# What each kind of DM says, to count them per member and talk.
PHRASES = {
    "confirmed": "You're registered for",
    "withdrawn": "no longer registered",
    "promoted": "now **confirmed**",
    "updated": "has changed",
    "cancelled": "been **cancelled**",
}


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(latency=0.03) as emulator:
        yield emulator


def dm_counts(emu: DiscordEmulator, school: School) -> Counter[tuple[int, str, str]]:
    """(member, talk title, kind) -> how many such DMs the member has."""
    counts: Counter[tuple[int, str, str]] = Counter()
    for user in school.students.values():
        for message in emu.dm_messages(user):
            title = message["content"].split("**")[1] if "**" in message["content"] else ""
            if "now **confirmed**" in message["content"]:
                title = message["content"].split("**")[3]
            for kind, phrase in PHRASES.items():
                if phrase in message["content"]:
                    counts[(user, title, kind)] += 1
    return counts


class Owed:
    """The DMs the test expects: each exactly once."""

    def __init__(self) -> None:
        self.expected: Counter[tuple[int, str, str]] = Counter()

    def add(self, users: Iterable[int], title: str, kind: str) -> None:
        for user in users:
            self.expected[(user, title, kind)] += 1

    def missing(self, emu: DiscordEmulator, school: School) -> dict[tuple[int, str, str], int]:
        counts = dm_counts(emu, school)
        return {key: want for key, want in self.expected.items() if counts[key] < want}

    async def arrived(self, emu: DiscordEmulator, school: School, timeout: float = 60) -> None:
        await emu.changed.wait_for(
            lambda: not self.missing(emu, school),
            timeout,
            lambda: (
                f"every owed DM (missing {len(self.missing(emu, school))}, e.g. {list(self.missing(emu, school))[:3]})"
            ),
        )

    def check_exact(self, emu: DiscordEmulator, school: School) -> None:
        counts = dm_counts(emu, school)
        wrong = {key: (counts[key], want) for key, want in self.expected.items() if counts[key] != want}
        extra = {key: count for key, count in counts.items() if key not in self.expected}
        assert not wrong, f"(got, wanted) for {len(wrong)} members, e.g. {list(wrong.items())[:5]}"
        assert not extra, f"unexpected DMs: {list(extra.items())[:5]}"


def ids(school: School, names: Iterable[str]) -> list[int]:
    return [school.students[name] for name in names]


async def create(school: School, title: str, start: datetime, capacity: int | None = None) -> int:
    options: dict[str, Any] = {"title": title, "speaker": "Dr. Singer", "start": start.isoformat(), "reminders": "1m"}
    if capacity:
        options["capacity"] = capacity
    created = await school.run(school.organizer, "talk create", options)
    text = created.all_text()
    assert "Created talk **#" in text, text
    return int(text.split("**#")[1].split("**")[0])


async def register(school: School, users: Iterable[int], talk: int) -> None:
    # A few at a time: a registration storm is another test's subject.
    users = list(users)
    for first in range(0, len(users), 10):
        replies = await asyncio.gather(*(school.run(u, "register", {"talk": talk}) for u in users[first : first + 10]))
        assert all("registered" in r.all_text() or "waitlist" in r.all_text() for r in replies)


async def pending_rows(database: Path) -> int:
    rows = await run_sql(database, "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'")
    return int(rows[0][0])


async def prepare_round(school: School, owed: Owed, number: int) -> tuple[dict[str, int], dict[str, str]]:
    """Three fresh talks: one full with a waitlist, one and another with 40 confirmed."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3 + number)
    titles = {"unreg": f"Round {number} seats", "edit": f"Round {number} moved", "cancel": f"Round {number} dropped"}
    talks = {
        "unreg": await create(school, titles["unreg"], start, capacity=10),
        "edit": await create(school, titles["edit"], start + timedelta(hours=2)),
        "cancel": await create(school, titles["cancel"], start + timedelta(hours=4)),
    }
    everyone = ids(school, STUDENTS)
    await register(school, everyone[:20], talks["unreg"])
    await register(school, everyone, talks["edit"])
    await register(school, everyone, talks["cancel"])
    owed.add(everyone[:10], titles["unreg"], "confirmed")
    owed.add(everyone, titles["edit"], "confirmed")
    owed.add(everyone, titles["cancel"], "confirmed")
    return talks, titles


async def unregister_ten(school: School, owed: Owed, talk: int, title: str) -> None:
    """10 concurrent /unregister, each freeing a seat that goes to the next on the waitlist."""
    everyone = ids(school, STUDENTS)
    replies = await asyncio.gather(*(school.run(user, "unregister", {"talk": talk}) for user in everyone[:10]))
    assert all("no longer registered" in reply.all_text() for reply in replies)
    owed.add(everyone[:10], title, "withdrawn")
    owed.add(everyone[10:20], title, "promoted")


async def move(school: School, owed: Owed, talk: int, title: str) -> None:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    edited = await school.run(school.organizer, "talk edit", {"talk": talk, "start": later.isoformat()})
    assert "updated calendar invite to 40" in edited.all_text(), edited.all_text()
    owed.add(ids(school, STUDENTS), title, "updated")


async def cancel(school: School, owed: Owed, talk: int, title: str) -> None:
    cancelled = await school.run(school.organizer, "talk cancel", {"talk": talk})
    assert "Sending the cancellation to the 40 confirmed" in cancelled.all_text(), cancelled.all_text()
    owed.add(ids(school, STUDENTS), title, "cancelled")


@pytest.mark.timeout(300)
async def test_sigkill_right_after_each_reply_loses_nothing_and_repeats_nothing(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    school = build_school(emu, students=STUDENTS)
    database = tmp_path / "podium.sqlite3"
    env = bot_env(emu, database, DEV_GUILD_ID=str(school.guild_id))
    log = tmp_path / "bot.log"
    bot = BotProcess(env, log)
    starts = 1
    await bot.start()
    owed = Owed()
    try:
        await wait_started(emu, [bot], starts)
        await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})

        async def crash_and_restart() -> None:
            nonlocal bot, starts
            await bot.kill()  # right after the reply: the follow-up had no time to send much, if anything
            bot = BotProcess(env, log)
            await bot.start()
            starts += 1
            await wait_started(emu, [bot], starts)

        unsent_at_kill: list[int] = []
        for number in (1, 2):
            talks, titles = await prepare_round(school, owed, number)
            await owed.arrived(emu, school)  # the invites of the registrations, before the operations under test
            for operation, key in ((unregister_ten, "unreg"), (move, "edit"), (cancel, "cancel")):
                await operation(school, owed, talks[key], titles[key])
                await crash_and_restart()
                unsent_at_kill.append(len(owed.missing(emu, school)))
                await owed.arrived(emu, school)
        # The bot is another process: nothing to await but its database, so look at it a few times.
        async with asyncio.timeout(30):
            while await pending_rows(database):  # noqa: ASYNC110 - another process's database has no event
                await asyncio.sleep(0.2)
        owed.check_exact(emu, school)
        # The kills did land before the sends: most owed messages were still to send at each restart.
        assert sum(unsent_at_kill) > 0, unsent_at_kill
        assert await bot.stop() == 0
    finally:
        await bot.stop()


@pytest.mark.timeout(120)
async def test_a_failing_follow_up_loses_nothing(emu: DiscordEmulator, tmp_path: Path) -> None:
    school = build_school(emu, students=STUDENTS)
    owed = Owed()
    async with running_bot(emu, tmp_path / "podium.sqlite3", DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")  # this test runs the retry itself
        # It counts what is due at once: no hold on the withdrawal of a member who registered seconds before
        # (that hold is tested in test_e2e_access.py).
        bot.service.change_limit = ChangeLimit(hold=timedelta(0))
        await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
        talks, titles = await prepare_round(school, owed, 1)
        await bot.courier.drain()
        await owed.arrived(emu, school)
        sent_before = len(emu.all_messages())

        def broken(*_: object, **__: object) -> dict[int, asyncio.Task[Any]]:
            raise RuntimeError("injected: the follow-up fails after the commit")

        real_dispatch = bot.courier.dispatch
        bot.courier.dispatch = broken  # type: ignore[method-assign]
        await unregister_ten(school, owed, talks["unreg"], titles["unreg"])
        await move(school, owed, talks["edit"], titles["edit"])
        await cancel(school, owed, talks["cancel"], titles["cancel"])
        await bot.announcer.drain()
        # The replies went out and said what happened; no DM did (only the announcement edits).
        assert [m for m in emu.all_messages()[sent_before:] if m["channel_id"] != str(school.channel_id)] == []
        bot.courier.dispatch = real_dispatch  # type: ignore[method-assign]
        assert await bot.courier.retry_due() == 10 + 10 + 40 + 40
        await owed.arrived(emu, school)
        assert await bot.courier.retry_due() == 0
        owed.check_exact(emu, school)


async def test_only_the_latest_state_goes_out(emu: DiscordEmulator, tmp_path: Path) -> None:
    """Registered, then unregistered before the first DM went out (DMs failing with 500s): the member gets only
    the withdrawal, never the stale confirmation that would put the talk back in their calendar."""
    school = build_school(emu, students=("ann",))
    ann = school.students["ann"]
    async with running_bot(emu, tmp_path / "podium.sqlite3", DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")
        await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
        talk = await create(school, "Stale", datetime.now(UTC) + timedelta(days=2))
        emu.fail_next("POST", r"/channels/\d+/messages", status=500, times=5)  # every try discord.py makes
        await school.run(ann, "register", {"talk": talk})
        await bot.courier.drain()
        assert emu.dm_messages(ann) == []
        left = await school.run(ann, "unregister", {"talk": talk})
        assert "no longer registered" in left.all_text()
        await bot.courier.drain()
        bot.service.clock = lambda: datetime.now(UTC) + timedelta(minutes=5)  # past the confirmation's back-off
        await bot.courier.retry_due()
        contents = [m["content"] for m in emu.dm_messages(ann)]
        assert len(contents) == 1 and "no longer registered" in contents[0], contents
        assert isinstance(bot, PodiumBot)
