"""Issue 10, "Join link": the real bot against the emulator. The link reaches confirmed members only, from its
release time, once (merged into a reminder at that moment), never anything public; bad input changes nothing;
closed DMs and a restart lose and repeat nothing."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import store
from bot.client import PodiumBot
from bot.jobplan import JobAction, PlannedJob
from bot.models import DeliveryKind, DeliveryStatus
from tests.emulator import DiscordEmulator
from tests.harness import School, running_bot
from tests.web_helpers import WebSide, create_talk, feed_link, set_up, web_bot

URL = "https://meet.example.edu/j/4242?pwd=hushhush"
HOST = "meet.example.edu"
JOIN = "podium:join:{talk}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def with_link(emu: DiscordEmulator, user: int, url: str = URL) -> list[dict[str, Any]]:
    return [m for m in emu.dm_messages(user) if url in m["content"]]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message["components"] for c in row["components"]]


async def register(school: School, name: str, talk: int = 1) -> str:
    reply = await school.run(school.students[name], "register", {"talk": talk})
    return reply.all_text()


async def invite_out(emu: DiscordEmulator, user: int) -> None:
    await emu.wait_for_message(lambda m: m["channel_id"] == str(emu.dm_channel_id(user) or 0) and m["attachments"])


async def test_only_confirmed_members_and_only_from_the_release(
    emu: DiscordEmulator, school: School, tmp_path: Path
) -> None:
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as web:
        await run_release(emu, school, web)


async def run_release(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    alice, bob, carol, dave = (school.students[n] for n in ("alice", "bob", "carol", "dave"))
    saved = await set_up(school, join_link_before="1m", public_calendar=True)
    assert "**Join link sent to confirmed members:** 1m before the start" in saved
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1, seconds=6)
    release = start - timedelta(minutes=1)
    reply = await school.run(
        school.organizer,
        "talk create",
        {"title": "Hybrid grand round", "speaker": "Dr. House", "start": iso(start), "capacity": 2, "join_url": URL,
         "reminders": "none"},
    )  # fmt: skip
    assert "Its join link stays private" in reply.all_text() and HOST not in reply.all_text()
    for name in ("alice", "bob"):
        assert "You're registered" in await register(school, name)
        assert HOST not in await register(school, name)  # "already registered", no link before the release
    assert "waitlist" in await register(school, "carol")
    [announcement] = school.announcements()
    assert [b["custom_id"] for b in buttons(announcement)][4] == JOIN.format(talk=1)

    # Before the release: the button says when, or why not; the feed has no link yet.
    early = await school.click(alice, announcement, JOIN.format(talk=1))
    assert early.ephemeral and "opens" in early.all_text() and HOST not in early.all_text()
    assert f"<t:{int(release.timestamp())}:R>" in early.all_text()
    waiting = await school.click(carol, announcement, JOIN.format(talk=1))
    assert "#1 on the waitlist" in waiting.all_text() and HOST not in waiting.all_text()
    stranger = await school.click(dave, announcement, JOIN.format(talk=1))
    assert "confirmed seat" in stranger.all_text() and HOST not in stranger.all_text()
    feed, _webcal, _text = await feed_link(school, alice)
    status, body, _headers = await web.get(feed)
    assert status == 200 and HOST not in body.decode()
    assert datetime.now(UTC) < release
    assert with_link(emu, alice) == []

    # The release: one DM each to the confirmed, with the link as text and button, and Check in.
    dm = await emu.wait_for_message(lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and URL in m["content"],
                                    timeout=15)  # fmt: skip
    assert datetime.now(UTC) >= release - timedelta(seconds=1)  # the emulator's clock and ours may differ a bit
    await emu.wait_for_message(lambda m: m["channel_id"] == str(emu.dm_channel_id(bob)) and URL in m["content"])
    link_button, checkin = buttons(dm)
    assert link_button["style"] == 5 and link_button["url"] == URL
    assert re.fullmatch(r"podium:checkin:1:m\d+", checkin["custom_id"])
    assert f"<{URL}>" in dm["content"] and dm["mention_everyone"] is False
    assert with_link(emu, carol) == [] and with_link(emu, dave) == []
    now_open = await school.click(alice, announcement, JOIN.format(talk=1))
    assert URL in now_open.all_text() and now_open.ephemeral
    assert HOST not in (await school.click(carol, announcement, JOIN.format(talk=1))).all_text()

    # The member's own feed carries it now (its cached copy expired at the release); the public side never.
    status, body, _headers = await web.get(feed)
    assert status == 200 and URL.replace(",", "\\,") in body.decode().replace("\r\n ", "")
    public_id = (await web.bot.service.settings(school.guild_id)).public_id
    for path in (f"/g/{public_id}/calendar.ics", f"/g/{public_id}/", await web.talk_path(school.guild_id, 1)):
        status, body, _headers = await web.get(path)
        assert status == 200, path
        assert HOST not in body.decode(), path

    # Confirmed after the release: the link comes with the confirmation, and by DM.
    await school.run(school.organizer, "talk edit", {"talk": 1, "capacity": 0})  # carol promoted
    late = await register(school, "dave")
    assert "You're registered" in late and URL in late
    for member in (carol, dave):
        await emu.wait_for_message(lambda m, u=member: m["channel_id"] == str(emu.dm_channel_id(u) or 0)
                                   and URL in m["content"])  # fmt: skip
    await web.bot.courier.drain()
    for member in (alice, bob, carol, dave):
        assert len(with_link(emu, member)) == 1, member
    # Nothing anyone else can read carries it: channel posts, the announcement, organizers' replies.
    dm_channels = {str(emu.dm_channel_id(u)) for u in (alice, bob, carol, dave)}
    public = [m for m in emu.all_messages() if m["channel_id"] not in dm_channels]
    assert public and all(HOST not in str(m) for m in public)


async def test_merged_with_the_reminder_closed_dms_and_a_changed_link(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    alice, bob, carol = (school.students[n] for n in ("alice", "bob", "carol"))
    await set_up(school)  # join_link_before: 15 minutes, the default
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await create_talk(school, title="Hybrid", speaker="Dr. Who", start=iso(start), reminders="1d,15m", join_url=URL)
    for name in ("alice", "bob", "carol"):
        assert "You're registered" in await register(school, name)
        await invite_out(emu, school.students[name])
    await school.run(carol, "notifications", {"enabled": False})
    emu.set_dms_open(bob, False)
    release = start - timedelta(minutes=15)
    assert "join_link:1" in bot.scheduler.job_ids(1) and "reminder:1:15" in bot.scheduler.job_ids(1)
    real_clock = bot.service.clock
    seen = real_clock()
    bot.service.clock = lambda: release + (real_clock() - seen)
    try:
        await asyncio.gather(
            bot.scheduler.run(PlannedJob(JobAction.JOIN_LINK, 1, release)),
            bot.scheduler.run(PlannedJob(JobAction.REMINDER, 1, release, 15)),
        )
        await bot.courier.drain()
        # alice: the reminder carries the link, and no second DM; carol (reminders off): the link on its own.
        [reminder] = with_link(emu, alice)
        assert "Reminder" in reminder["content"]
        assert [b.get("url") or b["custom_id"] for b in buttons(reminder)][:2] == [URL, "podium:checkin:1"]
        assert re.fullmatch(r"podium:unregister:1:m\d+", buttons(reminder)[2]["custom_id"])
        [alone] = with_link(emu, carol)
        assert "Reminder" not in alone["content"]
        assert len(with_link(emu, alice)) == len(with_link(emu, carol)) == 1
        # bob's DMs are closed: recorded as failed, not retried; the button still gives him the link.
        async with bot.db.reading() as conn:
            rows = await store.deliveries_for(conn, 1)
        failed = {(r.kind, r.recipient_id) for r in rows if r.status is DeliveryStatus.FAILED}
        assert (DeliveryKind.REMINDER, bob) in failed
        assert {(r.kind, r.recipient_id) for r in rows if r.kind is DeliveryKind.JOIN_LINK} == {
            (DeliveryKind.JOIN_LINK, carol)
        }
        [announcement] = school.announcements()
        assert URL in (await school.click(bob, announcement, JOIN.format(talk=1))).all_text()

        # The organizer changes the link after the release: everyone confirmed gets the new one, once.
        new = "https://meet.example.edu/j/7777"
        edited = await school.run(school.organizer, "talk edit", {"talk": 1, "join_url": new})
        assert "sending the new one to the 3 confirmed members" in edited.all_text()
        await bot.courier.drain()
        for member in (alice, carol):
            [fresh] = with_link(emu, member, new)
            assert URL not in fresh["content"]
        assert new in (await school.click(bob, announcement, JOIN.format(talk=1))).all_text()
        # the old DMs still say the old link, but the button, the feed and new DMs say the new one
        cleared = await school.run(school.organizer, "talk edit", {"talk": 1, "join_url": "-"})
        assert "removed" in cleared.all_text()
        assert "podium:join:1" not in str(emu.message(int(announcement["id"]))["components"])
    finally:
        bot.service.clock = real_clock


async def test_bad_input_and_closed_states(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    alice = school.students["alice"]
    await set_up(school)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    for bad, says in (
        ("ftp://files.example.edu/talk", "https://"),
        ("javascript:alert(document.cookie)", "https://"),
        ("https://meet.example.edu/" + "x" * 600, "the limit is 512"),
        ("https://meet.example.edu/@everyone", "mentions"),
        ("https://meet.example.edu/<@&1>", "mentions"),
        ("https://zoom.us@evil.example/j/1", "user name or password"),
    ):
        reply = await school.run(
            school.organizer, "talk create", {"title": "T", "speaker": "S", "start": iso(start), "join_url": bad}
        )
        assert reply.ephemeral and says in reply.all_text(), (bad, reply.all_text())
        assert "Created" not in reply.all_text()
    assert await bot.service.upcoming(school.guild_id) == []
    for bad_lead in ("25h", "soon", "-5m"):
        reply = await school.run(school.admin, "setup", {"join_link_before": bad_lead})
        assert "from `0m`" in reply.all_text(), reply.all_text()
    assert (await bot.service.settings(school.guild_id)).join_link_before is None

    await create_talk(school, title="Plain", speaker="S", start=iso(start))
    [plain] = school.announcements()
    assert "podium:join" not in str(plain["components"])  # no link, no button
    wrong_edit = await school.run(school.organizer, "talk edit", {"talk": 99, "join_url": URL})
    assert "no talk #99" in wrong_edit.all_text()
    bad_edit = await school.run(school.organizer, "talk edit", {"talk": 1, "join_url": "javascript:alert(1)"})
    assert "https://" in bad_edit.all_text()
    assert (await bot.service.get_talk(school.guild_id, 1)).join_url is None

    await create_talk(school, title="Online", speaker="S", start=iso(start + timedelta(hours=3)), join_url=URL)
    assert "You're registered" in await register(school, "alice", talk=2)
    online = school.announcements()[-1]
    await school.run(school.organizer, "talk cancel", {"talk": 2})
    cancelled = await school.click(alice, online, JOIN.format(talk=2))
    assert "cancelled" in cancelled.all_text() and HOST not in cancelled.all_text()
    edit_cancelled = await school.run(school.organizer, "talk edit", {"talk": 2, "join_url": URL + "x"})
    assert "was cancelled" in edit_cancelled.all_text()

    await create_talk(school, title="Later", speaker="S", start=iso(start + timedelta(hours=6)), join_url=URL)
    assert "You're registered" in await register(school, "alice", talk=3)
    later = school.announcements()[-1]
    real_clock = bot.service.clock
    bot.service.clock = lambda: start + timedelta(hours=8)
    try:
        over = await school.click(alice, later, JOIN.format(talk=3))
        assert "is over" in over.all_text() and HOST not in over.all_text()
        edit_over = await school.run(school.organizer, "talk edit", {"talk": 3, "join_url": URL + "y"})
        assert "already over" in edit_over.all_text()
    finally:
        bot.service.clock = real_clock
    assert all(HOST not in str(m) for m in emu.all_messages(include_ephemeral=False))


async def test_exactly_once_across_a_restart(emu: DiscordEmulator, school: School, tmp_path: Path) -> None:
    """Alice's DM reached Discord but the answer was lost (503, which discord.py does not retry); the bot stops,
    Discord forgets the nonce, and the restart runs the release again: the history finds the message."""
    database = tmp_path / "podium.sqlite3"
    alice, bob = school.students["alice"], school.students["bob"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1, seconds=5)
    release = start - timedelta(minutes=1)
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)):
        await set_up(school, join_link_before="1m")
        await create_talk(school, title="Once", speaker="S", start=iso(start), join_url=URL, reminders="none")
        for name in ("alice", "bob"):
            assert "You're registered" in await register(school, name)
            await invite_out(emu, school.students[name])
        emu.fail_next("POST", rf"/channels/{emu.dm_channel_id(alice)}/messages", status=503, after_processing=True)
        for member in (alice, bob):
            await emu.wait_for_message(lambda m, u=member: m["channel_id"] == str(emu.dm_channel_id(u))
                                       and URL in m["content"], timeout=15)  # fmt: skip
    emu.expire_nonces()
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        assert datetime.now(UTC) > release
        await bot.scheduler.run(PlannedJob(JobAction.JOIN_LINK, 1, release))  # as the start-up's past-due job
        real_clock = bot.service.clock
        bot.service.clock = lambda: real_clock() + timedelta(minutes=11)
        try:
            await bot.courier.retry_due()
        finally:
            bot.service.clock = real_clock
        await bot.courier.drain()
        async with bot.db.reading() as conn:
            rows = await store.deliveries_for(conn, 1, DeliveryKind.JOIN_LINK)
    assert {(r.recipient_id, r.status) for r in rows} == {(alice, DeliveryStatus.SENT), (bob, DeliveryStatus.SENT)}
    assert len(with_link(emu, alice)) == 1 and len(with_link(emu, bob)) == 1
