"""Emails in each member's language, with the real bot against the Discord emulator, a local SMTP server and the
web side: the code, the invitation and its .ics, and the unsubscribe page the email links to."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import vobject
from icalendar import Calendar

from bot.client import PodiumBot
from bot.email_addresses import CODE_TTL
from bot.i18n import long_datetime
from tests.emulator import DiscordEmulator
from tests.harness import School, ics_of, running_bot
from tests.mailbox import Mailbox, Received
from tests.test_e2e_email import PARIS, PASSWORD, SENDER, confirm_address, create_talk, invite_of
from tests.web_helpers import free_port

NBSP = "\u00a0"
TITLE = "CRISPR in the clinic"


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    box = await Mailbox(user="podium", password=PASSWORD).start()
    yield box
    await box.stop()


@pytest.fixture
async def web_mail_bot(
    emu: DiscordEmulator, school: School, mailbox: Mailbox, tmp_path: Path
) -> AsyncIterator[tuple[PodiumBot, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
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
        PUBLIC_URL=base,
        WEB_PORT=str(port),
    ) as running:
        running.scheduler.scheduler.pause_job("retry-deliveries")
        yield running, base


def plain(mail: Received) -> str:
    body = mail.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def html_part(mail: Received) -> str:
    body = mail.message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def attached_ics(mail: Received) -> tuple[Any, Any]:
    """The application/ics attachment (the copy for apps that only open files), read by both parsers."""
    [attachment] = [part for part in mail.message.walk() if part.get_content_type() == "application/ics"]
    data = attachment.get_content()
    assert isinstance(data, bytes)
    [event] = Calendar.from_ical(data).walk("VEVENT")
    return event, vobject.readOne(data.decode("utf-8")).vevent


async def page(http: aiohttp.ClientSession, url: str, **headers: str) -> str:
    async with http.get(url, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        return html.unescape(await response.text())


async def test_a_french_member_gets_french_emails_and_an_english_member_english(
    emu: DiscordEmulator, school: School, web_mail_bot: tuple[PodiumBot, str], mailbox: Mailbox
) -> None:
    bot, base = web_mail_bot
    alice, bob = school.students["alice"], school.students["bob"]
    emu.world.users[alice].locale = "fr"
    emu.world.users[bob].locale = "en-US"
    start = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    await create_talk(school, start, capacity=None)

    # The code, in the language of the member who asked for it.
    asked = await school.run(alice, "email set", {"address": "alice@uni.example"})
    assert "I emailed" not in asked.all_text()
    [code_mail] = await mailbox.wait_for(1)
    found = re.fullmatch(r"(\d{6}) est votre code de confirmation Podium", code_mail.subject)
    assert found, code_mail.subject
    assert code_mail.message["Content-Language"] == "fr"
    code_text = code_mail.message.get_content()
    assert code_text.startswith("Bonjour alice,")
    assert f"le serveur Discord «{NBSP}Faculty of Medicine{NBSP}»" in code_text
    assert f"Le code est valable {int(CODE_TTL.total_seconds() // 60)} minutes." in code_text
    assert "Someone" not in code_text and "ignore this email" not in code_text
    assert f"Dans Discord, lancez{NBSP}: /courriel confirmer code:{found[1]}" in code_text
    confirmed = await school.run(alice, "email confirm", {"code": found[1]})
    assert "`alice@uni.example`" in confirmed.all_text()
    assert "will get a calendar invitation" not in confirmed.all_text()
    await confirm_address(school, mailbox, bob, "bob@uni.example")  # the English code, read by the helper

    # Each registers: an invitation in their own language, the .ics's texts too.
    await school.run(alice, "register", {"talk": 1})
    await school.run(bob, "register", {"talk": 1})
    mails = await mailbox.wait_for(4)
    invites = {mail.recipients[0]: mail for mail in mails[2:]}
    french, english = invites["alice@uni.example"], invites["bob@uni.example"]

    when_fr = long_datetime(start, PARIS, "fr")
    assert french.subject == f"Inscription confirmée{NBSP}: {TITLE} ({when_fr})"
    assert french.message["Content-Language"] == "fr"
    text = plain(french)
    assert text.startswith(f"Vous êtes inscrit·e à «{NBSP}{TITLE}{NBSP}» avec Prof. Doudna.")
    assert f"Date{NBSP}: {when_fr}, jusqu'à " in text
    assert f"Intervenant·e{NBSP}: Prof. Doudna" in text
    assert f"Lieu{NBSP}: Amphi A" in text
    assert "invitation de calendrier" in text
    assert "/courriel supprimer" in text
    assert "Speaker" not in text and "/email remove" not in text
    french_link = re.search(rf"{re.escape(base)}/unsubscribe/[A-Za-z0-9_-]+\?lang=fr", text)
    assert french_link, text
    assert html_part(french).startswith("<!DOCTYPE html><html lang='fr'>")
    assert "Se désabonner</a>" in html_part(french)

    calendar, parsed = invite_of(french)
    [event] = calendar.walk("VEVENT")
    assert str(event["SUMMARY"].params["LANGUAGE"]) == "fr"
    assert str(event["DESCRIPTION"].params["LANGUAGE"]) == "fr"
    assert str(event["DESCRIPTION"]).startswith(f"Intervenant·e{NBSP}: Prof. Doudna")
    [alarm] = event.walk("VALARM")
    assert str(alarm["DESCRIPTION"]) == f"Commence bientôt{NBSP}: {TITLE} — Prof. Doudna"
    assert str(alarm["DESCRIPTION"].params["LANGUAGE"]) == "fr"
    assert parsed.vevent.summary.params["LANGUAGE"] == ["fr"]
    assert parsed.vevent.valarm.description.value == str(alarm["DESCRIPTION"])
    assert parsed.vevent.valarm.description.params["LANGUAGE"] == ["fr"]
    attached, attached_v = attached_ics(french)
    assert str(attached["UID"]) == str(event["UID"])
    assert attached_v.description.params["LANGUAGE"] == ["fr"]
    assert attached_v.valarm.description.value.startswith("Commence bientôt")

    assert english.subject == f"Registered: {TITLE} ({long_datetime(start, PARIS, 'en')})"
    assert english.message["Content-Language"] == "en"
    assert plain(english).startswith(f"You're registered for {TITLE} with Prof. Doudna.")
    assert "Speaker: Prof. Doudna" in plain(english)
    assert html_part(english).startswith("<!DOCTYPE html><html lang='en'>")
    calendar, parsed = invite_of(english)
    [event] = calendar.walk("VEVENT")
    assert str(event["SUMMARY"].params["LANGUAGE"]) == "en"
    assert str(event.walk("VALARM")[0]["DESCRIPTION"]) == f"Starting soon: {TITLE} — Prof. Doudna"
    assert parsed.vevent.valarm.description.params["LANGUAGE"] == ["en"]

    # The DM invite's file speaks French to the French member as well.
    await bot.courier.drain()
    dm = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice) or 0) and bool(m["attachments"])
    )
    [dm_event] = ics_of(emu, dm).walk("VEVENT")
    assert str(dm_event["DESCRIPTION"].params["LANGUAGE"]) == "fr"
    assert str(dm_event["UID"]) == str(attached["UID"])

    # The unsubscribe page: the email's language, else the browser's, else the member's own.
    bare_fr = french.message["List-Unsubscribe"].strip("<>")
    bare_en = english.message["List-Unsubscribe"].strip("<>")
    assert "?" not in bare_fr
    async with aiohttp.ClientSession() as http:
        asked_fr = await page(http, french_link[0], **{"Accept-Language": "en-US,en;q=0.9"})
        assert '<html lang="fr">' in asked_fr
        assert "Ne plus recevoir ces e-mails" in asked_fr
        assert f"le serveur Discord «{NBSP}Faculty of Medicine{NBSP}»" in asked_fr
        assert "Stop" not in asked_fr
        browser_en = await page(http, bare_fr, **{"Accept-Language": "en-US,en;q=0.9"})
        assert '<html lang="en">' in browser_en and "Stop these emails?" in browser_en
        assert '<html lang="fr">' in await page(http, bare_fr)  # no preference: the member's
        assert '<html lang="en">' in await page(http, bare_en)
        async with http.post(french_link[0], data={"List-Unsubscribe": "One-Click"}) as done:
            assert done.status == 200
            done_text = html.unescape(await done.text())
        assert '<html lang="fr">' in done_text
        assert "C'est fait" in done_text
        assert "/courriel definir" in done_text
