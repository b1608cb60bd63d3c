"""Email abuse with the real bot against the Discord emulator and a local SMTP server: a set/remove loop aimed
at a stranger's address from two servers and two accounts, the one-click unsubscribe of every email, /email
remove in a DM by a member who left the server, and the SMTP password kept out of the log."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.client import PodiumBot
from bot.models import DeliveryKind, DeliveryStatus
from tests.emulator import DiscordEmulator
from tests.harness import BotProcess, School, bot_env, running_bot
from tests.mailbox import Mailbox, Received
from tests.test_e2e_email import PASSWORD, SENDER, advance, code_in, create_talk, email_rows, table
from tests.web_helpers import free_port

VICTIM = "victim@example.org"
OPERATOR = "Podium (Faculty IT)"
RETRY = re.compile(r"<t:(\d+):R>")
# A server name chosen to pass for a bank; it must never become the sender.
SPOOF = "Your Bank Security Team"


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    box = await Mailbox(user="podium", password=PASSWORD).start()
    yield box
    await box.stop()


@pytest.fixture
async def web_mail_bot(
    emu: DiscordEmulator, school: School, mailbox: Mailbox, tmp_path: Path
) -> AsyncIterator[tuple[PodiumBot, str]]:
    """Commands synced globally (no DEV_GUILD_ID), as in production: they work in every server and in DMs."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_bot(
        emu,
        tmp_path / "podium.sqlite3",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(mailbox.port),
        SMTP_FROM=SENDER,
        SMTP_STARTTLS="false",
        SMTP_USER="podium",
        SMTP_PASSWORD=PASSWORD,
        MAIL_FROM_NAME=OPERATOR,
        PUBLIC_URL=base,
        WEB_PORT=str(port),
    ) as running:
        running.scheduler.scheduler.pause_job("retry-deliveries")
        yield running, base


def second_server(emu: DiscordEmulator, school: School, *members: int) -> tuple[int, int]:
    """A server someone created and named to impersonate a bank, with the given members."""
    guild = emu.add_guild(SPOOF)
    channel = emu.add_text_channel(guild.id, "general")
    for member in members:
        emu.add_member(guild.id, member)
    return guild.id, channel


async def run_in(
    emu: DiscordEmulator, guild: int | None, channel: int | None, user: int, command: str, options: dict[str, Any]
) -> str:
    interaction = await emu.slash(guild, user, command, options, channel_id=channel)
    await interaction.wait_done(10)
    assert interaction.ephemeral
    return interaction.all_text()


async def test_set_remove_loop_from_two_servers_and_two_accounts_sends_three_codes(
    emu: DiscordEmulator, school: School, web_mail_bot: tuple[PodiumBot, str], mailbox: Mailbox
) -> None:
    bot, base = web_mail_bot
    mallory, mike = school.students["carol"], school.students["dave"]
    other, other_channel = second_server(emu, school, mallory, mike)
    async with asyncio.timeout(10):
        while bot.get_guild(other) is None:  # noqa: ASYNC110 - the GUILD_CREATE is already on the socket
            await asyncio.sleep(0)
    places = [(school.guild_id, school.channel_id), (other, other_channel)]
    replies: list[str] = []
    for cycle in range(20):
        for guild, channel in places:
            for member in (mallory, mike):
                # the spellings of one mailbox count as one
                address = VICTIM if cycle % 2 else f"Victim+{cycle}@Example.org"
                replies.append(await run_in(emu, guild, channel, member, "email set", {"address": address}))
                replies.append(await run_in(emu, guild, channel, member, "email remove", {}))
    await bot.courier.drain()
    assert len(mailbox.received) == 3, [m.recipients for m in mailbox.received]
    assert all(m.recipients[0].lower().startswith("victim") for m in mailbox.received)
    sent = [text for text in replies if "I emailed a 6-digit code" in text]
    refused = [text for text in replies if "the most I send to one address, whoever asks" in text]
    assert (len(sent), len(refused)) == (3, 80 - 3)
    # the member is told when to try again, as a Discord timestamp an hour after the first code
    retry = {int(match.group(1)) for text in refused if (match := RETRY.search(text))}
    assert len(retry) == 1
    first_code = min(int(m.message["Date"].datetime.timestamp()) for m in mailbox.received)
    assert abs(retry.pop() - (first_code + 3600)) <= 2

    # every code is from the operator; the bank-like server's name is only in the text, as a server's name
    for mail in mailbox.received:
        assert mail.message["From"].addresses[0].display_name == OPERATOR
        assert mail.message["From"].addresses[0].addr_spec == SENDER
        assert mail.subject.endswith(f"is your {OPERATOR} confirmation code")
        assert SPOOF not in str(mail.message["From"]) and SPOOF not in mail.subject
        assert mail.message["List-Unsubscribe"].startswith(f"<{base}/unsubscribe/")
        assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert any(f"the Discord server “{SPOOF}”" in mail.message.get_content() for mail in mailbox.received)

    # an hour later the limit has passed: another code can go
    advance(bot, timedelta(hours=1, seconds=5))
    later = await run_in(emu, school.guild_id, school.channel_id, mallory, "email set", {"address": VICTIM})
    assert "I emailed a 6-digit code" in later
    await mailbox.wait_for(4)


async def test_a_member_sets_confirms_and_changes_their_address_once(
    emu: DiscordEmulator, school: School, web_mail_bot: tuple[PodiumBot, str], mailbox: Mailbox
) -> None:
    bot, _ = web_mail_bot
    alice = school.students["alice"]

    async def set_and_confirm(address: str, count: int) -> str:
        asked = await school.run(alice, "email set", {"address": address})
        assert "I emailed a 6-digit code" in asked.all_text(), asked.all_text()
        mail = (await mailbox.wait_for(count))[-1]
        confirmed = await school.run(alice, "email confirm", {"code": code_in(mail)})
        return confirmed.all_text()

    assert "Confirmed: `alice@uni.example`" in await set_and_confirm("alice@uni.example", 1)
    # no wait to change it right after confirming: the one-minute wait is between unconfirmed codes
    assert "Confirmed: `alice@hospital.example`" in await set_and_confirm("alice@hospital.example", 2)
    [row] = await table(bot, "member_emails")
    assert row["address"] == "alice@hospital.example"


async def test_one_click_unsubscribe_stops_the_servers_emails(
    emu: DiscordEmulator, school: School, web_mail_bot: tuple[PodiumBot, str], mailbox: Mailbox
) -> None:
    bot, base = web_mail_bot
    alice = school.students["alice"]
    await create_talk(school, (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0))
    asked = await school.run(alice, "email set", {"address": "alice@uni.example"})
    assert "I emailed" in asked.all_text()
    [code_mail] = await mailbox.wait_for(1)
    await school.run(alice, "email confirm", {"code": code_in(code_mail)})
    await school.run(alice, "register", {"talk": 1})
    invite: Received = (await mailbox.wait_for(2))[1]
    assert invite.message["From"].addresses[0].display_name == OPERATOR
    link = invite.message["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{base}/unsubscribe/")
    assert link in invite.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert invite.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # an update is owed while the mail server is down: it waits in the outbox
    await mailbox.stop()
    await school.run(school.organizer, "talk edit", {"talk": 1, "location": "Amphi B"})
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "has changed" in m["content"]
    )
    await bot.courier.drain()
    pending = [r for r in await email_rows(bot) if r.status is DeliveryStatus.PENDING]
    assert [r.kind for r in pending] == [DeliveryKind.EMAIL_UPDATED]

    token = link.rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    async with aiohttp.ClientSession() as http:
        # GET only asks (link scanners open links); nothing changes
        async with http.get(link) as page:
            assert page.status == 200
            text = await page.text()
            assert 'method="post"' in text
            assert "the Discord server “Faculty of Medicine”" in text
            assert page.headers["Cache-Control"] == "no-store"
        assert len(await table(bot, "member_emails")) == 1
        # every miss is the same 404 as the rest of the web side
        bodies = set()
        for url in (f"{base}/unsubscribe/{forged}", f"{base}/unsubscribe/x"):
            async with http.post(url, data={"List-Unsubscribe": "One-Click"}) as miss:
                bodies.add((miss.status, await miss.read()))
        for url in (f"{base}/unsubscribe/{forged}", f"{base}/u/{token}.ics", f"{base}/g/1/"):
            async with http.get(url) as miss:
                bodies.add((miss.status, await miss.read()))
        assert bodies == {(404, b"Not found.\n")}
        async with http.post(link, data={"something": "else"}) as wrong:
            assert wrong.status == 400
        # the mail app's one-click POST (RFC 8058)
        async with http.post(link, data={"List-Unsubscribe": "One-Click"}) as done:
            assert done.status == 200
            assert "no more email from the Discord server “Faculty of Medicine”" in await done.text()
        async with http.post(link, data={"List-Unsubscribe": "One-Click"}) as again:
            assert again.status == 200  # following it twice is harmless
    assert await table(bot, "member_emails") == []
    updated = next(r for r in await email_rows(bot) if r.kind is DeliveryKind.EMAIL_UPDATED)
    assert (updated.status, updated.last_error) == (DeliveryStatus.MISSED, "unsubscribed by the link in an email")
    await mailbox.start()
    advance(bot, timedelta(minutes=5))
    await bot.courier.retry_due()
    await school.run(school.organizer, "talk edit", {"talk": 1, "location": "Amphi C"})
    await emu.wait_for_message(lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "Amphi C" in str(m))
    await bot.courier.drain()
    assert len(mailbox.received) == 2  # nothing more by email; DMs go on


async def test_a_member_who_left_the_server_removes_their_address_in_a_dm(
    emu: DiscordEmulator, school: School, web_mail_bot: tuple[PodiumBot, str], mailbox: Mailbox
) -> None:
    bot, _ = web_mail_bot
    alice = school.students["alice"]
    asked = await school.run(alice, "email set", {"address": "alice@uni.example"})
    assert "I emailed" in asked.all_text()
    [mail] = await mailbox.wait_for(1)
    await school.run(alice, "email confirm", {"code": code_in(mail)})
    advance(bot, timedelta(minutes=2))
    other, channel = second_server(emu, school, alice)
    async with asyncio.timeout(10):
        while bot.get_guild(other) is None:  # noqa: ASYNC110
            await asyncio.sleep(0)
    assert "I emailed" in await run_in(emu, other, channel, alice, "email set", {"address": "alice@home.example"})
    emu.remove_member(school.guild_id, alice)

    # in a DM, set and confirm say where to run them; remove works and covers every server
    in_dm = await run_in(emu, None, None, alice, "email set", {"address": "alice@uni.example"})
    assert "Run `/email set` in the server whose talks you want by email" in in_dm
    removed = await run_in(emu, None, None, alice, "email remove", {})
    assert "Removed `alice@uni.example` in the server **Faculty of Medicine**" in removed
    cancelled = (
        f"Cancelled the confirmation of `alice@home.example` (its code no longer works) in the server **{SPOOF}**"
    )
    assert cancelled in removed
    assert await table(bot, "member_emails") == []
    assert await table(bot, "email_codes") == []
    nothing = await run_in(emu, None, None, alice, "email remove", {})
    assert "nothing to remove" in nothing


async def test_the_smtp_password_never_reaches_the_log(emu: DiscordEmulator, school: School, tmp_path: Path) -> None:
    """``python -m bot`` as operators run it, against a mail server that echoes the password it was given."""
    secret = "Tr0ub4dor&3-smtp"
    box = await Mailbox(user="podium", password="the-right-one", echo_failed_password=True).start()
    env = bot_env(
        emu,
        tmp_path / "podium.sqlite3",
        DEV_GUILD_ID=str(school.guild_id),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(box.port),
        SMTP_FROM=SENDER,
        SMTP_STARTTLS="false",
        SMTP_USER="podium",
        SMTP_PASSWORD=secret,
    )
    process = BotProcess(env, tmp_path / "bot.log")
    await process.start()
    try:
        await emu.wait_ready(timeout=30)
        reply = await school.run(school.students["alice"], "email set", {"address": "alice@uni.example"}, timeout=30)
        assert "could not send the email just now" in reply.all_text()
        assert secret not in reply.all_text()
    finally:
        assert await process.stop() == 0
        await box.stop()
    log = process.log()
    assert "refused the bot's settings" in log  # the server's answer is logged ...
    assert "Wrong password '[redacted]'" in log  # ... without the password it echoed
    assert secret not in log
    assert not stored_anywhere(tmp_path, secret)


def stored_anywhere(folder: Path, secret: str) -> bool:
    """Whether the database or its side files hold ``secret`` (a failed login must not be saved either)."""
    return any(secret.encode() in path.read_bytes() for path in folder.glob("podium.sqlite3*"))
