"""A send whose answer was lost, retried after Discord forgot its nonce: the bot finds the message it already
posted in the channel's history (by the marker the message carries) instead of posting a second one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import store
from bot.client import PodiumBot
from bot.jobplan import JobAction, PlannedJob
from bot.models import Delivery, DeliveryKind, DeliveryStatus
from tests.emulator import DiscordEmulator
from tests.harness import School, build_school, running_bot

DM_SEND = r"/channels/\d+/messages"


async def rows(bot: PodiumBot, kind: DeliveryKind) -> list[Delivery]:
    async with bot.db.reading() as conn:
        return await store.deliveries_for(conn, 1, kind)


async def retry_later(bot: PodiumBot) -> None:
    """Past every back-off: the restarted bot retries the row now."""
    real_clock = bot.service.clock
    bot.service.clock = lambda: real_clock() + timedelta(minutes=10)
    try:
        await bot.courier.retry_due()
    finally:
        bot.service.clock = real_clock


def lose_answers(emu: DiscordEmulator, path: str) -> None:
    # Discord posts the message, then the answer is lost behind a 503 (which discord.py does not retry itself,
    # so the courier's back-off will): the row stays pending, its attempt recorded.
    emu.fail_next("POST", path, status=503, after_processing=True)


async def test_a_lost_answer_retried_after_the_nonce_window_is_not_sent_twice(
    emu: DiscordEmulator, tmp_path: Path
) -> None:
    school: School = build_school(emu, students=("ann",))
    ann = school.students["ann"]
    database = tmp_path / "podium.sqlite3"
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")
        await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
        created = await school.run(
            school.organizer, "talk create", {"title": "Sepsis", "speaker": "Dr. S", "start": start.isoformat()}
        )
        assert "Created talk **#1**" in created.all_text()
        lose_answers(emu, DM_SEND)
        await school.run(ann, "register", {"talk": 1})
        await bot.courier.drain()
        [invite] = await rows(bot, DeliveryKind.INVITE_CONFIRMED)
        assert invite.status is DeliveryStatus.PENDING and invite.attempted_at is not None
        [posted] = emu.dm_messages(ann)  # Discord has it; the bot does not know
        # The same with a reminder, whose marker is on its Unregister button.
        lose_answers(emu, rf"/channels/{emu.dm_channel_id(ann)}/messages")
        await bot.scheduler.run(PlannedJob(JobAction.REMINDER, 1, start - timedelta(days=1), 1440))
        [reminder] = await rows(bot, DeliveryKind.REMINDER)
        assert reminder.status is DeliveryStatus.PENDING
        assert len(emu.dm_messages(ann)) == 2

    # The bot stays down longer than Discord remembers nonces.
    emu.expire_nonces()
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")
        await retry_later(bot)
        await bot.courier.drain()
        [invite] = await rows(bot, DeliveryKind.INVITE_CONFIRMED)
        [reminder] = await rows(bot, DeliveryKind.REMINDER)
        assert invite.status is DeliveryStatus.SENT and invite.message_id == int(posted["id"])
        assert reminder.status is DeliveryStatus.SENT
        messages = emu.dm_messages(ann)
        assert len(messages) == 2, [m["content"][:40] for m in messages]
        assert reminder.message_id == int(messages[1]["id"])
        # the bot asked the channel's history, and posted nothing more
        assert await bot.courier.retry_due() == 0
        assert len(emu.dm_messages(ann)) == 2


async def test_without_the_message_in_history_the_retry_sends_it(emu: DiscordEmulator, tmp_path: Path) -> None:
    """The other side of the check: an attempt that never reached Discord is sent on retry, once."""
    school: School = build_school(emu, students=("ann",))
    ann = school.students["ann"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    async with running_bot(emu, tmp_path / "podium.sqlite3", DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")
        await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
        await school.run(school.organizer, "talk create", {"title": "T", "speaker": "S", "start": start.isoformat()})
        emu.fail_next("POST", DM_SEND, status=503)  # refused before processing; discord.py does not retry a 503
        await school.run(ann, "register", {"talk": 1})
        await bot.courier.drain()
        assert emu.dm_messages(ann) == []
        emu.expire_nonces()
        await retry_later(bot)
        [invite] = await rows(bot, DeliveryKind.INVITE_CONFIRMED)
        assert invite.status is DeliveryStatus.SENT
        assert len(emu.dm_messages(ann)) == 1
