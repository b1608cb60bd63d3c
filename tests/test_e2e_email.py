"""Emailed invites with the real bot against the Discord emulator and a local SMTP server (aiosmtpd):
confirming an address with a code, then invitations that follow the talk, through the same outbox as DMs."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar

from bot import store
from bot.client import PodiumBot
from bot.models import DeliveryKind, DeliveryStatus
from tests.emulator import DiscordEmulator
from tests.harness import School, ics_of, running_bot
from tests.mailbox import Mailbox, Received

PARIS = ZoneInfo("Europe/Paris")
SENDER = "podium@school.example"
PASSWORD = "s3cret-smtp-pw"
EMAIL_KINDS = {kind for kind in DeliveryKind if kind.value.startswith("email_")}


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    box = await Mailbox(user="podium", password=PASSWORD).start()
    yield box
    await box.stop()


@pytest.fixture
async def mail_bot(emu: DiscordEmulator, school: School, mailbox: Mailbox, tmp_path: Path) -> AsyncIterator[PodiumBot]:
    async with running_bot(
        emu,
        tmp_path / "podium.sqlite3",
        DEV_GUILD_ID=str(school.guild_id),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(mailbox.port),
        SMTP_FROM=SENDER,
        SMTP_STARTTLS="false",
        SMTP_USER="podium",
        SMTP_PASSWORD=PASSWORD,
    ) as running:
        # The periodic retry would race the explicit retry_due() calls these tests make.
        running.scheduler.scheduler.pause_job("retry-deliveries")
        yield running


def local(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")


def advance(bot: PodiumBot, delta: timedelta) -> None:
    """Move the bot's clock forward (code expiry, re-send limit, retry back-off)."""
    current = bot.service.clock
    bot.service.clock = lambda: current() + delta


async def create_talk(school: School, start: datetime, capacity: int | None = 2) -> None:
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
    options: dict[str, Any] = {"title": "CRISPR in the clinic", "speaker": "Prof. Doudna", "start": local(start)}
    if capacity:
        options["capacity"] = capacity
    created = await school.run(school.organizer, "talk create", {**options, "location": "Amphi A"})
    assert "Created talk **#1**" in created.all_text()


def code_in(mail: Received) -> str:
    match = re.search(r"/email confirm code:(\d{6})", mail.message.get_content())
    assert match, mail.message.get_content()
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def confirm_address(school: School, mailbox: Mailbox, user: int, address: str) -> str:
    """/email set, read the code from the email, /email confirm; returns the confirm reply."""
    before = len(mailbox.received)
    asked = await school.run(user, "email set", {"address": address})
    assert "I emailed a 6-digit code" in asked.all_text(), asked.all_text()
    mail = (await mailbox.wait_for(before + 1))[-1]
    confirmed = await school.run(user, "email confirm", {"code": code_in(mail)})
    assert confirmed.ephemeral
    assert "Confirmed" in confirmed.all_text(), confirmed.all_text()
    return confirmed.all_text()


def calendar_part(message: EmailMessage) -> EmailMessage:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part  # type: ignore[return-value]


def invite_of(mail: Received) -> tuple[Any, Any]:
    """The VEVENT as icalendar and as vobject read it, after checking the MIME structure."""
    message = mail.message
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html", "text/calendar"]
    assert attachment.get_content_type() == "application/ics"
    part = calendar_part(message)
    text = part.get_content()
    calendar = Calendar.from_ical(text)
    assert part.get_param("method") == calendar["METHOD"]
    assert part.get_param("charset") == "utf-8"
    [event] = calendar.walk("VEVENT")
    parsed = vobject.readOne(text)
    assert parsed.method.value == calendar["METHOD"]
    assert parsed.vevent.uid.value == str(event["UID"])
    assert int(parsed.vevent.sequence.value) == event["SEQUENCE"]
    assert parsed.vevent.dtstart.value == event.decoded("DTSTART")
    return calendar, parsed


async def email_rows(bot: PodiumBot, talk_id: int = 1) -> list[Any]:
    async with bot.db.reading() as conn:
        return [row for row in await store.deliveries_for(conn, talk_id) if row.kind in EMAIL_KINDS]


async def table(bot: PodiumBot, name: str) -> list[dict[str, Any]]:
    async with bot.db.reading() as conn, conn.execute(f"SELECT * FROM {name}") as cursor:
        return [dict(row) for row in await cursor.fetchall()]


async def test_confirm_an_address_then_invitations_follow_the_talk(
    emu: DiscordEmulator, school: School, mail_bot: PodiumBot, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.DEBUG, logger="cogs")
    bot = mail_bot
    alice, bob, carol = (school.students[n] for n in ("alice", "bob", "carol"))
    start = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    await create_talk(school, start, capacity=2)

    # /email set: a code arrives by email
    asked = await school.run(alice, "email set", {"address": "Alice@Uni.Example"})
    assert asked.ephemeral
    assert "I emailed a 6-digit code to `Alice@uni.example`" in asked.all_text()
    assert "/email confirm code:" in asked.all_text()
    [first] = await mailbox.wait_for(1)
    assert first.recipients == ["Alice@uni.example"]
    assert first.sender == SENDER
    code = code_in(first)
    assert first.subject == f"{code} is your Podium confirmation code"
    assert "Faculty of Medicine" in first.message.get_content()
    assert mailbox.logins >= 1

    # asking again at once: refused, no second email
    again = await school.run(alice, "email set", {"address": "alice@uni.example"})
    assert again.ephemeral
    assert re.search(r"you can ask for a new code <t:\d+:R>", again.all_text())
    assert len(mailbox.received) == 1

    # wrong codes are counted; the fifth voids the code, even the right one no longer works
    for attempt in range(1, 5):
        reply = await school.run(alice, "email confirm", {"code": wrong(code)})
        assert reply.ephemeral
        assert f"not right (attempt {attempt} of 5; {5 - attempt} left)" in reply.all_text()
    last = await school.run(alice, "email confirm", {"code": wrong(code)})
    assert "attempt 5 of 5: the code no longer works" in last.all_text()
    assert "/email set address:Alice@uni.example" in last.all_text()
    void = await school.run(alice, "email confirm", {"code": code})
    assert "entered wrongly 5 times" in void.all_text()
    assert await table(bot, "member_emails") == []

    # a minute later a new code can be asked for, and confirms the address
    advance(bot, timedelta(seconds=61))
    confirmed = await confirm_address(school, mailbox, alice, "Alice@uni.example")
    assert "`Alice@uni.example` will get a calendar invitation" in confirmed
    assert "upcoming talk" not in confirmed  # none yet
    [row] = await table(bot, "member_emails")
    assert (row["guild_id"], row["user_id"], row["address"]) == (school.guild_id, alice, "Alice@uni.example")
    assert await table(bot, "email_codes") == []

    # register: the DM invite and an emailed REQUEST with the same UID and SEQUENCE
    registered = await school.run(alice, "register", {"talk": 1})
    assert "You're registered" in registered.all_text()
    dm = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice) or 0) and m["attachments"]
    )
    [dm_event] = ics_of(emu, dm).walk("VEVENT")
    mails = await mailbox.wait_for(3)
    invite = mails[2]
    assert invite.recipients == ["Alice@uni.example"]
    assert invite.subject.startswith("Registered: CRISPR in the clinic (")
    assert re.fullmatch(r"<podium-delivery-\d+\.\d+@school\.example>", str(invite.message["Message-ID"]))
    calendar, parsed = invite_of(invite)
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == str(dm_event["UID"])
    assert event["SEQUENCE"] == dm_event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == start
    assert parsed.vevent.dtstart.value == start
    assert str(event["ORGANIZER"]) == f"mailto:{SENDER}"
    assert event["ORGANIZER"].params["CN"] == "Podium"  # MAIL_FROM_NAME's default, never the server's name
    assert invite.message["From"].addresses[0].display_name == "Podium"
    assert "List-Unsubscribe" not in invite.message  # no web side, nothing to click
    assert str(event["ATTENDEE"]) == "mailto:Alice@uni.example"
    assert dict(event["ATTENDEE"].params) == {
        "CN": "alice",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "FALSE",
    }
    assert parsed.vevent.attendee.params["RSVP"] == ["FALSE"]

    # bob has no address: DMs only. carol confirms hers but is waitlisted: no email yet.
    await school.run(bob, "register", {"talk": 1})
    await confirm_address(school, mailbox, carol, "carol@uni.example")
    waitlisted = await school.run(carol, "register", {"talk": 1})
    assert "#1 on the waitlist" in waitlisted.all_text()
    await bot.courier.drain()
    assert {row.recipient_id for row in await email_rows(bot)} == {alice}
    assert len(mailbox.received) == 4  # alice's 2 codes and invite, carol's code; nothing for bob

    # the talk moves: REQUEST again with a higher SEQUENCE, to confirmed members with an address
    new_start = start + timedelta(days=1, hours=2)
    await school.run(school.organizer, "talk edit", {"talk": 1, "start": local(new_start)})
    updated = (await mailbox.wait_for(5))[4]
    assert updated.recipients == ["Alice@uni.example"]
    assert updated.subject.startswith("Updated: CRISPR in the clinic is now ")
    calendar, parsed = invite_of(updated)
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == str(dm_event["UID"])
    assert event["SEQUENCE"] == 1
    assert event.decoded("DTSTART") == new_start
    assert parsed.vevent.dtstart.value == new_start
    dm_update = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "has changed" in m["content"]
    )
    [dm_updated_event] = ics_of(emu, dm_update).walk("VEVENT")
    assert dm_updated_event["SEQUENCE"] == event["SEQUENCE"]

    # alice unregisters: CANCEL for her; carol is promoted: REQUEST for her
    await school.run(alice, "unregister", {"talk": 1})
    mails = await mailbox.wait_for(7)
    by_recipient = {mail.recipients[0]: mail for mail in mails[5:]}
    withdrawn, promoted = by_recipient["Alice@uni.example"], by_recipient["carol@uni.example"]
    assert withdrawn.subject.startswith("Unregistered: CRISPR in the clinic")
    calendar, parsed = invite_of(withdrawn)
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert parsed.vevent.status.value == "CANCELLED"
    assert (str(event["UID"]), event["SEQUENCE"]) == (str(dm_event["UID"]), 1)
    assert promoted.subject.startswith("A seat opened up, you're confirmed: CRISPR in the clinic")
    calendar, _ = invite_of(promoted)
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "REQUEST"
    assert event["ATTENDEE"].params["CN"] == "carol"
    assert event.decoded("DTSTART") == new_start

    # the organizer cancels: CANCEL to carol (confirmed, with an address) only
    await school.run(school.organizer, "talk cancel", {"talk": 1, "reason": "Speaker ill"})
    cancelled = (await mailbox.wait_for(8))[7]
    assert cancelled.recipients == ["carol@uni.example"]
    assert cancelled.subject.startswith("Cancelled: CRISPR in the clinic")
    assert "Reason: Speaker ill" in cancelled.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    calendar, parsed = invite_of(cancelled)
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "CANCEL"
    assert event["SEQUENCE"] == 2
    assert parsed.vevent.status.value == "CANCELLED"

    # every email delivery went out once; retries and re-runs send nothing more
    await bot.courier.drain()
    advance(bot, timedelta(hours=1))
    assert await bot.courier.retry_due() == 0
    rows = await email_rows(bot)
    assert sorted(row.kind.value for row in rows) == sorted(
        ["email_confirmed", "email_updated", "email_withdrawn", "email_promoted", "email_cancelled"]
    )
    assert {row.status for row in rows} == {DeliveryStatus.SENT}
    assert len(mailbox.received) == 8
    message_ids = [str(mail.message["Message-ID"]) for mail in mailbox.received]
    assert len(set(message_ids)) == len(message_ids)

    # neither the codes nor the SMTP password ever reach the log
    logged = "\n".join(f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records)
    codes = [code_in(mail) for mail in mailbox.received if mail.subject.endswith("confirmation code")]
    assert len(codes) == 3
    assert "Emailed a confirmation code" in logged
    for secret in (*codes, PASSWORD):
        assert secret not in logged


async def test_confirming_later_emails_talks_already_joined_and_remove_stops_emails(
    emu: DiscordEmulator, school: School, mail_bot: PodiumBot, mailbox: Mailbox
) -> None:
    bot = mail_bot
    alice = school.students["alice"]
    start = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)
    await create_talk(school, start, capacity=None)
    await school.run(alice, "register", {"talk": 1})
    confirmed = await confirm_address(school, mailbox, alice, "alice@uni.example")
    assert "I'm emailing the invitations for your 1 upcoming talk(s) now." in confirmed
    invite = (await mailbox.wait_for(2))[1]
    calendar, _ = invite_of(invite)
    assert calendar["METHOD"] == "REQUEST"
    assert invite.subject.startswith("Registered: ")

    # the same rows handed to the courier again (a re-run) send neither a DM nor an email a second time
    await bot.courier.drain()
    dms = len(emu.dm_messages(alice))
    async with bot.db.reading() as conn:
        rows = await store.deliveries_for(conn, 1)
    statuses = await bot.courier.send(rows)
    assert set(statuses.values()) == {DeliveryStatus.SENT}
    await bot.courier.drain()
    assert len(emu.dm_messages(alice)) == dms
    assert len(mailbox.received) == 2

    removed = await school.run(alice, "email remove")
    assert removed.ephemeral
    assert "Removed `alice@uni.example`" in removed.all_text()
    assert "still come by DM" in removed.all_text()
    assert await table(bot, "member_emails") == []
    await school.run(school.organizer, "talk edit", {"talk": 1, "location": "Amphi B"})
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "has changed" in m["content"]
    )
    await bot.courier.drain()
    assert [row.kind for row in await email_rows(bot)] == [DeliveryKind.EMAIL_CONFIRMED]
    assert len(mailbox.received) == 2
    nothing = await school.run(alice, "email remove")
    assert "nothing to remove" in nothing.all_text()


async def test_transient_smtp_failures_are_retried_and_delivered_once(
    emu: DiscordEmulator, school: School, mail_bot: PodiumBot, mailbox: Mailbox
) -> None:
    bot = mail_bot
    alice = school.students["alice"]
    start = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    await create_talk(school, start)
    await confirm_address(school, mailbox, alice, "alice@uni.example")

    # 451 (greylisting, a busy server): postponed with back-off, then delivered once with the same Message-ID
    mailbox.data_replies.append("451 4.7.1 Greylisted, try again later")
    registered = await school.run(alice, "register", {"talk": 1})
    assert "on its way by DM" in registered.all_text()  # the DM does not wait for the mail server
    await bot.courier.drain()
    [row] = await email_rows(bot)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert "451" in (row.last_error or "")
    [refused] = mailbox.attempts
    assert len(mailbox.received) == 1  # only the code
    assert await bot.courier.retry_due() == 0  # not before the back-off
    advance(bot, timedelta(seconds=6))
    assert await bot.courier.retry_due() == 1
    [row] = await email_rows(bot)
    assert row.status is DeliveryStatus.SENT
    delivered = mailbox.received[1]
    assert delivered.message["Message-ID"] == refused.message["Message-ID"]
    assert delivered.subject.startswith("Registered: ")

    # the mail server is down: the update waits, and goes out once when it is back
    await mailbox.stop()
    await school.run(school.organizer, "talk edit", {"talk": 1, "location": "Amphi B"})
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "has changed" in m["content"]
    )
    await bot.courier.drain()
    updated = next(row for row in await email_rows(bot) if row.kind is DeliveryKind.EMAIL_UPDATED)
    assert updated.status is DeliveryStatus.PENDING
    assert "Connect" in (updated.last_error or "")
    await mailbox.start()
    advance(bot, timedelta(seconds=6))
    assert await bot.courier.retry_due() == 1
    [mail] = mailbox.received[2:]
    calendar, _ = invite_of(mail)
    [event] = calendar.walk("VEVENT")
    assert event["SEQUENCE"] == 1
    assert str(event["LOCATION"]) == "Amphi B"
    advance(bot, timedelta(hours=1))
    assert await bot.courier.retry_due() == 0
    assert len(mailbox.received) == 3
    assert {row.status for row in await email_rows(bot)} == {DeliveryStatus.SENT}


async def test_permanent_refusal_fails_without_retry(
    emu: DiscordEmulator, school: School, mail_bot: PodiumBot, mailbox: Mailbox
) -> None:
    bot = mail_bot
    alice, dave = school.students["alice"], school.students["dave"]
    start = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    await create_talk(school, start)
    await confirm_address(school, mailbox, alice, "alice@uni.example")
    mailbox.refuse["alice@uni.example"] = "550 5.1.1 Mailbox does not exist"
    registered = await school.run(alice, "register", {"talk": 1})
    assert "on its way by DM" in registered.all_text()
    await bot.courier.drain()
    [row] = await email_rows(bot)
    assert row.status is DeliveryStatus.FAILED
    assert "550" in (row.last_error or "")
    advance(bot, timedelta(hours=1))
    assert await bot.courier.retry_due() == 0
    assert len(mailbox.received) == 1  # the code only
    [row] = await email_rows(bot)
    assert row.attempts == 1

    # a code to an address the server refuses: said clearly, nothing kept
    mailbox.refuse["dave@nowhere.example"] = "550 5.1.1 No such user"
    refused = await school.run(dave, "email set", {"address": "dave@nowhere.example"})
    assert refused.ephemeral
    assert "refused to deliver to `dave@nowhere.example` (it answered 550)" in refused.all_text()
    assert "/email set address:you@example.com" in refused.all_text()
    # the mail server is down: try again later, nothing kept, no one-minute wait afterwards
    await mailbox.stop()
    down = await school.run(dave, "email set", {"address": "dave@uni.example"})
    assert down.ephemeral
    assert "could not send the email just now" in down.all_text()
    assert "`/email set address:dave@uni.example`" in down.all_text()
    assert [r["user_id"] for r in await table(bot, "email_codes")] == []
    await mailbox.start()
    later = await school.run(dave, "email set", {"address": "dave@uni.example"})
    assert "I emailed a 6-digit code" in later.all_text()


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("not-an-email", "it has no `@`"),
        ("a@b", "must be a full domain name"),
        ("x" * 290 + "@example.com", "302 characters long; an email address has at most 254"),
        ("x@example.com\r\nBcc: evil@x", "without line breaks"),
    ],
)
async def test_bad_addresses_are_refused_and_nothing_is_kept(
    school: School, mail_bot: PodiumBot, mailbox: Mailbox, address: str, says: str
) -> None:
    reply = await school.run(school.students["alice"], "email set", {"address": address})
    assert reply.ephemeral
    assert says in reply.all_text()
    assert "`/email set address:you@example.com`" in reply.all_text()
    assert await table(mail_bot, "email_codes") == []
    assert await table(mail_bot, "member_emails") == []
    assert mailbox.received == []


async def test_without_smtp_email_is_explained_and_nothing_is_recorded(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    alice = school.students["alice"]
    assert bot.mailer is None
    for command, options in (("email set", {"address": "alice@uni.example"}), ("email confirm", {"code": "123456"})):
        reply = await school.run(alice, command, options)
        assert reply.ephemeral
        assert "not available on this server's bot" in reply.all_text()
        assert "still come by DM" in reply.all_text()
    removed = await school.run(alice, "email remove")  # deleting what is kept always works
    assert "nothing to remove" in removed.all_text()
    await create_talk(school, datetime.now(UTC) + timedelta(days=2))
    await school.run(alice, "register", {"talk": 1})
    await bot.courier.drain()
    assert await email_rows(bot) == []
    assert await table(bot, "email_codes") == []
