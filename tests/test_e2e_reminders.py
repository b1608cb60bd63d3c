"""Issue "Reminders and scheduled announcements": timing, Discord faults and exactly-once delivery,
with the real bot against the emulator (in-process, so the database can be inspected)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot import store
from bot.client import PodiumBot
from bot.jobplan import JobAction, PlannedJob
from bot.models import DeliveryKind, DeliveryStatus
from tests.emulator import DiscordEmulator
from tests.harness import School

DM_SEND = r"/channels/\d+/messages"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


async def setup_talk(
    school: School,
    *,
    start: datetime,
    reminders: str = "1d",
    capacity: int | None = None,
    users: tuple[str, ...] = ("alice", "bob", "carol"),
) -> None:
    await school.run(
        school.admin,
        "setup",
        {"channel": school.channel_id, "organizer_role": school.organizer_role, "ping_role": school.ping_role},
    )
    options: dict[str, object] = {
        "title": "Antibiotic resistance",
        "speaker": "Dr. Fleming",
        "start": iso(start),
        "reminders": reminders,
        "location": "Amphi C",
    }
    if capacity:
        options["capacity"] = capacity
    created = await school.run(school.organizer, "talk create", options)
    assert "Created talk **#1**" in created.all_text(), created.all_text()
    for name in users:
        user = school.students[name]
        reply = await school.run(user, "register", {"talk": 1})
        if "You're registered" in reply.all_text():
            # The reply does not wait for the invite DM; the tests below want it out of the way.
            await school.emu.wait_for_message(
                lambda m, u=user: m["channel_id"] == str(school.emu.dm_channel_id(u) or 0) and m["attachments"]
            )


def reminders_for(emu: DiscordEmulator, user: int) -> list[dict]:
    return [m for m in emu.dm_messages(user) if "Reminder" in m["content"]]


def reminder_job(bot: PodiumBot, offset: int, run_at: datetime) -> PlannedJob:
    return PlannedJob(JobAction.REMINDER, 1, run_at, offset)


async def test_reminders_arrive_at_their_offset(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1, seconds=4)
    await setup_talk(school, start=start, reminders="1m")
    await school.run(school.students["carol"], "notifications", {"enabled": False})
    due = start - timedelta(minutes=1)
    assert datetime.now(UTC) < due  # nothing sent early
    assert reminders_for(emu, school.students["alice"]) == []
    post = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(school.channel_id) and "starts" in m["content"], timeout=15
    )
    alice_dm = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(school.students["alice"])) and "Reminder" in m["content"]
    )
    arrived = datetime.now(UTC)
    assert due <= arrived < due + timedelta(seconds=5)
    assert f"<t:{int(start.timestamp())}:F>" in alice_dm["content"]
    assert "Amphi C" in alice_dm["content"]
    # the button carries the delivery's marker, by which a retry finds the message in the channel's history
    assert re.fullmatch(r"podium:unregister:1:m\d+", alice_dm["components"][0]["components"][0]["custom_id"])
    # the reminder post pings the configured role, and nothing else
    assert f"<@&{school.ping_role}>" in post["content"]
    assert post["mention_roles"] == [str(school.ping_role)]
    assert post["mention_everyone"] is False
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(school.students["bob"])) and "Reminder" in m["content"]
    )
    assert reminders_for(emu, school.students["carol"]) == []  # notifications off
    # the Unregister button on the DM works from the DM
    button = alice_dm["components"][0]["components"][0]["custom_id"]
    dm_click = await emu.click(None, school.students["alice"], alice_dm, button)
    await dm_click.wait_done()
    assert "no longer registered" in dm_click.all_text()


async def test_announce_at_posts_on_time_not_before(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
    announce_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    created = await school.run(
        school.organizer,
        "talk create",
        {
            "title": "Held",
            "speaker": "S",
            "start": iso(announce_at + timedelta(days=2)),
            "announce_at": iso(announce_at),
        },
    )
    assert "will be announced" in created.all_text()
    assert school.announcements() == []
    early = await school.run(school.students["alice"], "register", {"talk": 1})
    assert "no open talk" in early.all_text()
    await emu.wait_for_message(lambda m: m["channel_id"] == str(school.channel_id) and m["embeds"], timeout=10)
    arrived = datetime.now(UTC)
    assert announce_at <= arrived < announce_at + timedelta(seconds=3)
    assert len(school.announcements()) == 1
    late = await school.run(school.students["alice"], "register", {"talk": 1})
    assert "You're registered" in late.all_text()
    assert await bot.scheduler.plan_all() >= 0
    assert "announce:1" not in bot.scheduler.job_ids(1)


async def test_5xx_is_retried_and_lost_responses_do_not_duplicate(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start=start)
    emu.fail_next("POST", DM_SEND, status=500, times=1)
    # Discord created the message but the answer was lost: the retry carries the same nonce.
    emu.fail_next("POST", DM_SEND, status=502, times=1, after_processing=True)
    await bot.scheduler.run(reminder_job(bot, 1440, datetime.now(UTC)))
    for name in ("alice", "bob", "carol"):
        assert len(reminders_for(emu, school.students[name])) == 1, name
    assert emu.stats.injected_faults == 2
    async with bot.db.reading() as conn:
        rows = await store.deliveries_for(conn, 1, DeliveryKind.REMINDER)
    assert {row.status for row in rows} == {DeliveryStatus.SENT}
    # running the same job again (a restart, a duplicate fire) sends nothing new
    await bot.scheduler.run(reminder_job(bot, 1440, datetime.now(UTC)))
    assert all(len(reminders_for(emu, school.students[n])) == 1 for n in ("alice", "bob", "carol"))


async def test_persistent_5xx_is_postponed_then_delivered(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start=start, users=("alice",))
    alice = school.students["alice"]
    dm_channel = emu.dm_channel_id(alice)
    # discord.py does not retry a 503 itself (only 500, 502, 504, 524): the courier's own back-off must.
    emu.fail_next("POST", rf"/channels/{dm_channel}/messages", status=503, times=1)
    await bot.scheduler.run(reminder_job(bot, 1440, datetime.now(UTC)))
    assert reminders_for(emu, alice) == []
    async with bot.db.reading() as conn:
        [row] = await store.deliveries_for(conn, 1, DeliveryKind.REMINDER)
    assert row.status is DeliveryStatus.PENDING
    assert row.attempts == 1
    assert "503" in (row.last_error or "")
    real_clock = bot.service.clock
    bot.service.clock = lambda: real_clock() + timedelta(seconds=6)  # past the first back-off
    try:
        assert await bot.courier.retry_due() == 1
    finally:
        bot.service.clock = real_clock
    assert len(reminders_for(emu, alice)) == 1


async def test_closed_dms_are_recorded_and_not_retried(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start=start)
    emu.set_dms_open(school.students["bob"], False)
    await bot.scheduler.run(reminder_job(bot, 1440, datetime.now(UTC)))
    assert len(reminders_for(emu, school.students["alice"])) == 1
    assert len(reminders_for(emu, school.students["carol"])) == 1
    async with bot.db.reading() as conn:
        rows = {row.recipient_id: row for row in await store.deliveries_for(conn, 1, DeliveryKind.REMINDER)}
    assert rows[school.students["bob"]].status is DeliveryStatus.FAILED
    assert "50007" in (rows[school.students["bob"]].last_error or "")
    before = len(emu.requests)
    assert await bot.courier.retry_due() == 0
    assert len(emu.requests) == before


async def test_429_is_honoured(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start=start)
    limited_before = emu.stats.rate_limited
    emu.fail_next("POST", DM_SEND, status=429, times=2, retry_after=0.3)
    began = datetime.now(UTC)
    await bot.scheduler.run(reminder_job(bot, 1440, datetime.now(UTC)))
    assert emu.stats.rate_limited >= limited_before + 2
    assert datetime.now(UTC) - began >= timedelta(seconds=0.3)
    for name in ("alice", "bob", "carol"):
        assert len(reminders_for(emu, school.students[name])) == 1


async def test_reminders_due_while_down_and_after_start(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start=start)
    # A reminder that fell due while the bot was down, before the talk started: sent once.
    await bot.scheduler.run(reminder_job(bot, 1440, datetime.now(UTC)))
    assert len(reminders_for(emu, school.students["alice"])) == 1
    # The same job seen after the talk started: recorded as missed, nothing sent.
    real_clock = bot.service.clock
    bot.service.clock = lambda: start + timedelta(minutes=1)
    try:
        await bot.scheduler.run(reminder_job(bot, 60, start - timedelta(hours=1)))
    finally:
        bot.service.clock = real_clock
    assert len(reminders_for(emu, school.students["alice"])) == 1
    async with bot.db.reading() as conn:
        missed = [row for row in await store.deliveries_for(conn, 1) if row.key == 60]
    assert missed
    assert {row.status for row in missed} == {DeliveryStatus.MISSED}


async def test_promoted_member_gets_no_stale_reminder(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start=start, capacity=1, users=("alice", "bob"))
    sent_at = datetime.now(UTC)
    await bot.scheduler.run(reminder_job(bot, 1440, sent_at))
    await school.run(school.students["alice"], "unregister", {"talk": 1})  # bob is promoted after the reminder
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(school.students["bob"]) or 0) and "confirmed" in m["content"]
    )
    await bot.scheduler.run(reminder_job(bot, 1440, sent_at))  # the job again (e.g. after a restart)
    assert reminders_for(emu, school.students["bob"]) == []


async def test_edit_reschedules_and_cancel_removes_jobs(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(hours=30)).replace(microsecond=0)
    await setup_talk(school, start=start, reminders="1d,1h")
    assert bot.scheduler.job_ids(1) == {"reminder:1:1440", "reminder:1:60", "start:1", "end:1", "feedback:1"}
    await school.run(school.organizer, "talk edit", {"talk": 1, "reminders": "2h,15m"})
    assert bot.scheduler.job_ids(1) == {"reminder:1:120", "reminder:1:15", "start:1", "end:1", "feedback:1"}
    job = bot.scheduler.scheduler.get_job("reminder:1:15")
    assert job.next_run_time == start - timedelta(minutes=15)
    await school.run(school.organizer, "talk edit", {"talk": 1, "start": iso(start + timedelta(hours=1))})
    assert bot.scheduler.scheduler.get_job("reminder:1:15").next_run_time == start + timedelta(minutes=45)
    await school.run(school.organizer, "talk cancel", {"talk": 1})
    assert bot.scheduler.job_ids(1) == set()


async def test_started_and_over_markers(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    await setup_talk(school, start=start, users=("alice",))
    [announcement] = school.announcements()
    real_clock = bot.service.clock
    try:
        bot.service.clock = lambda: start + timedelta(minutes=5)
        await bot.scheduler.run(PlannedJob(JobAction.START, 1, start))
        live = emu.message(int(announcement["id"]))
        assert live["embeds"][0]["title"].startswith("Happening now")
        bot.service.clock = lambda: start + timedelta(hours=2)
        await bot.scheduler.run(PlannedJob(JobAction.END, 1, start + timedelta(hours=1)))
        over = emu.message(int(announcement["id"]))
        assert over["embeds"][0]["title"].startswith("Over")
        assert [c.get("disabled", False) for c in over["components"][0]["components"]] == [True, True, False, True]
        late = await school.run(school.students["bob"], "register", {"talk": 1})
        assert late.ephemeral
        assert "is over" in late.all_text()
    finally:
        bot.service.clock = real_clock
