"""Attendance records, certificates, /verify and the report, with the real bot against the emulator."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf

from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School
from tests.web_helpers import create_talk, local, set_up, web_bot

CODE = re.compile(r"`([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})`")
NAME = "Zoë Ångström Жанна"


def pdf_text(data: bytes) -> str:
    return " ".join("".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages).split())


def certificate_dms(emu: DiscordEmulator, user: int) -> list[tuple[dict, bytes]]:
    return [
        (message, emu.attachment_bytes(attachment))
        for message in emu.dm_messages(user)
        for attachment in message.get("attachments") or []
        if attachment["filename"].endswith(".pdf")
    ]


def advance(bot: PodiumBot, delta: timedelta) -> Callable[[], datetime]:
    real = bot.service.clock
    bot.service.clock = lambda: real() + delta
    return real


async def programme(school: School) -> tuple[int, int]:
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
    first = await create_talk(
        school, title="Cerveaux & <b>machines</b>", speaker="Dr Müller", start=local(soon), duration=90
    )
    second = await create_talk(school, title="Immunologie", speaker="Pr Pasteur", start=local(soon + timedelta(days=1)))
    return first, second


async def test_attendance_certificate_verify_and_report(emu: DiscordEmulator, school: School, tmp_path: Path) -> None:
    alice, bob, carol = school.students["alice"], school.students["bob"], school.students["carol"]
    emu.world.guild(school.guild_id).members[alice].nick = NAME
    emu.set_dms_open(carol, False)
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as web:
        await set_up(school)
        first, second = await programme(school)
        for user, talk in ((alice, first), (alice, second), (bob, first), (carol, second)):
            reply = await school.run(user, "register", {"talk": talk})
            assert "registered" in reply.all_text(), reply.all_text()

        # Before the talks are over there is nothing to show or certify, and nothing is sent.
        nothing = await school.run(alice, "attendance show")
        assert "not attended any talk yet" in nothing.all_text() and nothing.ephemeral
        refused = await school.run(alice, "attendance certificate")
        assert "nothing to certify" in refused.all_text() and refused.ephemeral
        assert certificate_dms(emu, alice) == []

        advance(web.bot, timedelta(days=2))
        shown = await school.run(alice, "attendance show")
        text = shown.all_text()
        assert "2 talks, 2.5 h" in text, text
        assert "Cerveaux & \\<b\\>machines\\</b\\>" in text or "Cerveaux & <b>machines</b>" in text
        assert "Immunologie" in text and "/attendance certificate" in text
        assert re.search(r"<t:\d+:D>", text)
        assert "not attended" in (await school.run(school.students["dave"], "attendance show")).all_text()

        issued = await school.run(alice, "attendance certificate")
        assert "on its way by DM" in issued.all_text(), issued.all_text()
        code_match = CODE.search(issued.all_text())
        assert code_match is not None
        code = code_match.group(1)
        await emu.wait_for_message(
            lambda m: any(a["filename"].endswith(".pdf") for a in m.get("attachments") or []),
            channel_id=emu.dm_channel_id(alice),
        )
        [(message, data)] = certificate_dms(emu, alice)
        assert code in message["content"] and "/verify/" in message["content"]
        body = pdf_text(data)
        expected_words = ("Attendance certificate", "Faculty of Medicine", NAME, "Cerveaux & <b>machines</b>")
        for expected in (*expected_words, "Dr Müller"):
            assert expected in body, (expected, body)
        assert "Immunologie" in body and "Total: 2.5 h, 2 talks" in body and code in body

        # The courier's later passes (and a restart's) send nothing more: the row is done.
        await web.bot.courier.retry_due()
        assert len(certificate_dms(emu, alice)) == 1

        # /verify: the genuine code lists what the certificate says and nothing else; any other code is a 404.
        status, page, headers = await web.get(f"/verify/{code}")
        html = page.decode()
        assert status == 200 and "genuine" in html and "Zoë Ångström" in html
        assert "Cerveaux &amp; &lt;b&gt;machines&lt;/b&gt;" in html and "Pr Pasteur" in html
        assert str(alice) not in html and str(school.guild_id) not in html and "discord.com" not in html
        assert headers["Cache-Control"] == "no-store"
        assert (await web.get(f"/verify/{code.lower().replace('-', '')}"))[0] == 200
        forged = code[:-1] + ("Z" if code[-1] != "Z" else "Y")
        for wrong in (forged, "AAAA-BBBB-CCCC-DDDD", "0000", "x" * 64):
            status, page, _headers = await web.get(f"/verify/{wrong}")
            assert status == 404 and "not genuine" in page.decode() and NAME not in page.decode()
        assert (await web.get("/verify/" + "A" * 200))[0] == 404
        french = (await web.get(f"/verify/{code}", {"Accept-Language": "fr"}))[1].decode()
        assert "authentique" in french and '<html lang="fr">' in french

        # Closed DMs: the PDF comes in the reply instead.
        closed = await school.run(carol, "attendance certificate")
        assert "on its way by DM" in closed.all_text()
        await emu.changed.wait_for(
            lambda: "could not DM you your certificate" in closed.all_text(), 10, "the follow-up with the PDF"
        )
        files = [(name, raw) for name, raw in closed.attachments if name.endswith(".pdf")]
        assert len(files) == 1 and "Immunologie" in pdf_text(files[0][1])

        # The report adds up, one row per member (/talk is for organizers: Discord shows it to no one else).
        today = datetime.now(UTC).date()
        period = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=3))}
        report = await school.run(school.organizer, "talk report", period)
        assert "3 members attended" in report.all_text(), report.all_text()
        [(filename, raw)] = report.attachments
        assert filename.endswith(".csv")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0] == ["display_name", "user_id", "talks_attended", "hours"]
        by_id = {int(row[1]): row for row in rows[1:]}
        assert by_id[alice][0] == NAME and by_id[alice][2:] == ["2", "2.50"]
        assert by_id[bob][2:] == ["1", "1.50"] and by_id[carol][2:] == ["1", "1.00"]
        assert sum(float(row[3]) for row in rows[1:]) == 5.0

        # Bad input changes nothing and says what to do.
        backwards = await school.run(
            school.organizer, "talk report", {"from": str(today), "to": str(today - timedelta(days=1))}
        )
        assert "before it starts" in backwards.all_text() and backwards.ephemeral and not backwards.attachments
        nonsense = await school.run(school.organizer, "talk report", {"from": "yesterday", "to": str(today)})
        assert "could not read `yesterday` as a day" in nonsense.all_text()
        leap = await school.run(school.admin, "setup", {"year_start": "02-29"})
        assert "not a day of the year" in leap.all_text()
        assert (await web.bot.service.settings(school.guild_id)).year_start is None
        moved = await school.run(school.admin, "setup", {"year_start": "10-15"})
        assert "Academic year starts on:** October 15" in moved.all_text(), moved.all_text()


async def test_certificates_are_limited_per_member_per_day(
    emu: DiscordEmulator, school: School, tmp_path: Path
) -> None:
    alice = school.students["alice"]
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as web:
        await set_up(school)
        first, _second = await programme(school)
        await school.run(alice, "register", {"talk": first})
        advance(web.bot, timedelta(hours=3))
        for _ in range(3):
            assert "on its way" in (await school.run(alice, "attendance certificate")).all_text()
        fourth = await school.run(alice, "attendance certificate")
        assert "already asked for 3 certificates today" in fourth.all_text() and fourth.ephemeral
        await web.bot.courier.drain()
        assert len(certificate_dms(emu, alice)) == 3


async def test_french_member_gets_a_french_certificate(emu: DiscordEmulator, school: School, tmp_path: Path) -> None:
    eloise = emu.add_user("eloise", locale="fr")
    emu.add_member(school.guild_id, eloise, nick="Éloïse Ñúñez")
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as web:
        await set_up(school)
        first, _second = await programme(school)
        await school.run(eloise, "register", {"talk": first})
        advance(web.bot, timedelta(hours=3))
        shown = await school.run(eloise, "attendance show")
        assert "1 conférence, 1,5\u00a0h" in shown.all_text(), shown.all_text()
        issued = await school.run(eloise, "attendance certificate")
        assert "arrive par message privé" in issued.all_text(), issued.all_text()
        await emu.wait_for_message(
            lambda m: any(a["filename"].endswith(".pdf") for a in m.get("attachments") or []),
            channel_id=emu.dm_channel_id(eloise),
        )
        [(message, data)] = certificate_dms(emu, eloise)
        assert message["attachments"][0]["filename"].startswith("attestation-presence-")
        body = pdf_text(data)
        assert "Attestation de présence" in body and "Éloïse Ñúñez" in body and "Délivrée le" in body


async def test_a_certificate_owed_when_the_bot_stops_is_sent_once_after_restarts(
    emu: DiscordEmulator, school: School, tmp_path: Path
) -> None:
    alice = school.students["alice"]
    database = tmp_path / "podium.sqlite3"
    async with web_bot(emu, school, database) as web:
        await set_up(school)
        first, _second = await programme(school)
        await school.run(alice, "register", {"talk": first})
        advance(web.bot, timedelta(hours=3))
        web.bot.courier.stop()  # as when the bot is stopping: the row is committed, not sent
        issued = await school.run(alice, "attendance certificate")
        assert "on its way by DM" in issued.all_text()
        assert certificate_dms(emu, alice) == []
    for _start in range(2):
        async with web_bot(emu, school, database) as web:
            advance(web.bot, timedelta(hours=3))  # the row fell due at the moved clock's time
            await web.bot.courier.retry_due()
            await emu.changed.wait_for(lambda: len(certificate_dms(emu, alice)) == 1, 10, "the certificate DM")
            await web.bot.courier.retry_due()
            await web.bot.courier.drain()
    assert len(certificate_dms(emu, alice)) == 1
