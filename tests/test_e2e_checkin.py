"""Issue 10, "Check-in and attendance", with the real bot against the emulator: the Check in button and /checkin,
with and without a code (the button's code window and the command's option), walk-ins, twice, the window, a
cancelled or wrong talk, and /talk attendees with its CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import pytest

from bot.client import PodiumBot
from bot.embeds import static_view
from tests.emulator import DiscordEmulator
from tests.emulator.errors import EmulatorUsageError
from tests.harness import School, running_bot
from tests.web_helpers import create_talk, local, set_up, web_bot

CHECKIN = "podium:checkin:1"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


async def setup_talk(school: School, start: datetime, **options: object) -> dict:
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
    created = await school.run(
        school.organizer,
        "talk create",
        {"title": "Cardiology *today*", "speaker": "Dr Heart", "start": iso(start), "duration": 60, **options},
    )
    assert "Created talk **#1**" in created.all_text(), created.all_text()
    if options.get("checkin_code"):
        assert "Checking in needs a code: `/talk code talk:1` shows it." in created.all_text()
    [announcement] = school.announcements()
    return announcement


@contextmanager
def at(bot: PodiumBot, moment: datetime) -> Iterator[None]:
    real = bot.service.clock
    bot.service.clock = lambda: moment
    try:
        yield
    finally:
        bot.service.clock = real


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


async def test_checkin_without_code_walk_ins_twice_window_and_csv(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    alice, bob, carol, dave = (school.students[n] for n in ("alice", "bob", "carol", "dave"))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    announcement = await setup_talk(school, start, capacity=2)
    buttons = [c["custom_id"] for row in announcement["components"] for c in row["components"]]
    assert CHECKIN in buttons
    assert "You're registered" in (await school.run(alice, "register", {"talk": 1})).all_text()

    # Before the window: when it opens, as a Discord timestamp.
    opens = int((start - timedelta(minutes=15)).timestamp())
    early = await school.click(alice, announcement, CHECKIN)
    assert early.ephemeral
    assert "opens 15 minutes before the start" in early.all_text()
    assert f"<t:{opens}:R>" in early.all_text()
    early_command = await school.run(alice, "checkin", {"talk": 1})
    assert f"<t:{opens}:R>" in early_command.all_text()

    with at(bot, start - timedelta(minutes=10)):
        # Before check-in starts, the summary says when it opens; no no-shows yet.
        clicked = await school.click(alice, announcement, CHECKIN)
        assert clicked.ephemeral
        assert "You're checked in to **Cardiology \\*today\\***" in clicked.all_text()
        twice = await school.click(alice, announcement, CHECKIN)
        assert "You already checked in" in twice.all_text()
        assert "nothing changed" in twice.all_text()
        # Bob did not register: a seat is left, so he walks in and takes it.
        walk_in = await school.run(bob, "checkin", {"talk": 1})
        assert walk_in.ephemeral
        assert "as a walk-in" in walk_in.all_text()
        await emu.wait_for_message(lambda m: m["id"] == announcement["id"] and "Full (2 seats)" in str(m["embeds"]))
        # Carol finds the talk full; Dave registers and is waitlisted, since Bob holds a seat.
        full = await school.click(carol, announcement, CHECKIN)
        assert "is full" in full.all_text()
        assert "#1 on the waitlist" in (await school.run(dave, "register", {"talk": 1})).all_text()
        waitlisted = await school.run(dave, "checkin", {"talk": 1})
        assert "is full" in waitlisted.all_text() and "#1 on the waitlist" in waitlisted.all_text()
        # A wrong talk.
        wrong = await school.run(alice, "checkin", {"talk": 99})
        assert wrong.ephemeral
        assert "There is no talk #99 in this server" in wrong.all_text()

        attendees = await school.run(school.organizer, "talk attendees", {"talk": 1})
        assert "Checked in so far: 2 (1 walk-in). Confirmed but not checked in yet: 0." in attendees.all_text()
        [(_name, data)] = attendees.attachments
        rows = {row["user_id"]: row for row in csv_rows(data)}
        assert set(rows) == {str(alice), str(bob), str(dave)}
        assert rows[str(bob)]["status"] == "walk-in"
        checked = datetime.fromisoformat(rows[str(alice)]["checked_in_at"])
        assert checked == start - timedelta(minutes=10)
        assert rows[str(alice)]["checked_in_at"].endswith("Z")
        assert rows[str(bob)]["checked_in_at"] == rows[str(alice)]["checked_in_at"]
        assert rows[str(dave)]["checked_in_at"] == ""

    # After the end: closed, and the no-shows are the confirmed who never came.
    with at(bot, start + timedelta(minutes=61)):
        late = await school.run(carol, "checkin", {"talk": 1})
        assert "is over, so check-in is closed" in late.all_text()
        over = await school.run(school.organizer, "talk attendees", {"talk": 1})
        assert "Checked in: 2 (1 walk-in). No-shows: 0 confirmed who did not check in." in over.all_text()


async def test_no_shows_and_unlimited_walk_ins(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    alice, bob, carol = (school.students[n] for n in ("alice", "bob", "carol"))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await setup_talk(school, start)
    for user in (alice, bob):
        await school.run(user, "register", {"talk": 1})
    before = await school.run(school.organizer, "talk attendees", {"talk": 1})
    assert "Check-in opens" in before.all_text()
    with at(bot, start + timedelta(minutes=5)):
        assert "as a walk-in (open seating)" in (await school.run(carol, "checkin", {"talk": 1})).all_text()
        assert "You're checked in" in (await school.run(alice, "checkin", {"talk": 1})).all_text()
    with at(bot, start + timedelta(hours=2)):
        over = await school.run(school.organizer, "talk attendees", {"talk": 1})
        assert "No-shows: 1 confirmed who did not check in." in over.all_text()
        [(_name, data)] = over.attachments
        rows = {row["user_id"]: row for row in csv_rows(data)}
        assert rows[str(bob)]["checked_in_at"] == ""
        assert rows[str(carol)]["status"] == "walk-in"


async def test_checkin_with_a_code(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    alice, bob, carol = (school.students[n] for n in ("alice", "bob", "carol"))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    announcement = await setup_talk(school, start)
    # Turned on by edit; /talk code shows it to organizers only.
    edited = await school.run(school.organizer, "talk edit", {"talk": 1, "checkin_code": True})
    assert "Checking in needs a code: `/talk code talk:1` shows it." in edited.all_text()
    shown = await school.run(school.organizer, "talk code", {"talk": 1})
    assert shown.ephemeral
    code = (await bot.service.get_talk(school.guild_id, 1)).checkin_code
    assert code is not None and len(code) == 6
    assert f"**`{code}`**" in shown.all_text()
    with pytest.raises(EmulatorUsageError, match="default_member_permissions"):  # students do not see /talk
        await school.run(alice, "talk code", {"talk": 1})
    assert code not in str(announcement) and code not in str(emu.messages(school.channel_id))

    with at(bot, start - timedelta(minutes=1)):
        # The button asks for the code in a window; a wrong one is refused, the right one accepted.
        clicked = await school.click(alice, announcement, CHECKIN)
        assert clicked.modal is not None
        assert clicked.modal["custom_id"] == "podium:checkin-code:1"
        wrong = await emu.submit_modal(clicked, {"code": "AAAAAA"})
        await wrong.wait_done()
        assert wrong.ephemeral
        assert "That is not the code for" in wrong.all_text()
        retry = await school.click(alice, announcement, CHECKIN)
        right = await emu.submit_modal(retry, {"code": code.lower()})
        await right.wait_done()
        assert "You're checked in" in right.all_text()
        # Checked in already: the button says so without asking again.
        again = await school.click(alice, announcement, CHECKIN)
        assert again.modal is None
        assert "You already checked in" in again.all_text()
        # The command: no code, a wrong code, the right one.
        missing = await school.run(bob, "checkin", {"talk": 1})
        assert "needs the code shown in the room" in missing.all_text()
        bad = await school.run(bob, "checkin", {"talk": 1, "code": "AAAAAA"})
        assert "That is not the code for" in bad.all_text()
        assert "4 tries left" in bad.all_text()  # counted per member: Alice's wrong code is hers
        good = await school.run(bob, "checkin", {"talk": 1, "code": code})
        assert "You're checked in" in good.all_text()
        # Turned off: no code needed any more.
        off = await school.run(school.organizer, "talk edit", {"talk": 1, "checkin_code": False})
        assert "no longer needs a code" in off.all_text()
        assert "You're checked in" in (await school.run(carol, "checkin", {"talk": 1})).all_text()
        no_code = await school.run(school.organizer, "talk code", {"talk": 1})
        assert "needs no code" in no_code.all_text()


async def test_code_throttle_and_french(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    alice = school.students["alice"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await setup_talk(school, start, checkin_code=True)
    with at(bot, start):
        for _ in range(5):
            await school.run(alice, "checkin", {"talk": 1, "code": "AAAAAA"})
        code = (await bot.service.get_talk(school.guild_id, 1)).checkin_code
        throttled = await school.run(alice, "checkin", {"talk": 1, "code": code})
        assert "Too many wrong codes" in throttled.all_text()
        emu.world.users[alice].locale = "fr"
        french = await school.run(alice, "checkin", {"talk": 1, "code": code})
        assert "Trop de codes erronés" in french.all_text()
    with at(bot, start + timedelta(minutes=11)):
        french_ok = await school.run(alice, "checkin", {"talk": 1, "code": code})
        assert "Votre présence à **Cardiology \\*today\\*** est enregistrée, sans inscription" in french_ok.all_text()


async def test_cancelled_talk(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    alice = school.students["alice"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    announcement = await setup_talk(school, start, checkin_code=True)
    await school.run(alice, "register", {"talk": 1})
    await school.run(school.organizer, "talk cancel", {"talk": 1})
    final = await emu.wait_for_message(lambda m: m["id"] == announcement["id"] and "Cancelled:" in str(m["embeds"]))
    [checkin_button] = [c for row in final["components"] for c in row["components"] if c["custom_id"] == CHECKIN]
    assert checkin_button["disabled"]
    with at(bot, start):
        cancelled = await school.run(alice, "checkin", {"talk": 1, "code": "AAAAAA"})
        assert "was cancelled, so there is no check-in" in cancelled.all_text()
        code = await school.run(school.organizer, "talk code", {"talk": 1})
        assert "was cancelled" in code.all_text()
        attendees = await school.run(school.organizer, "talk attendees", {"talk": 1})
        assert "No check-in: the talk was cancelled." in attendees.all_text()


async def test_the_code_window_is_answered_after_a_restart(
    emu: DiscordEmulator, school: School, tmp_path: Path
) -> None:
    alice = school.students["alice"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    database = tmp_path / "restart.sqlite3"
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        announcement = await setup_talk(school, start, checkin_code=True)
        code = (await bot.service.get_talk(school.guild_id, 1)).checkin_code
        assert code is not None
        with at(bot, start):
            clicked = await school.click(alice, announcement, CHECKIN)
            assert clicked.modal is not None
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        with at(bot, start):
            submitted = await emu.submit_modal(clicked, {"code": code})
            await submitted.wait_done()
            assert "You're checked in" in submitted.all_text()


async def test_the_button_in_a_dm_checks_in_with_its_marker(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    """The join-link DM carries the same button, with the courier's marker: the talk names its server."""
    alice = school.students["alice"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await setup_talk(school, start, capacity=1)
    await school.run(alice, "register", {"talk": 1})
    marked = f"{CHECKIN}:m42"
    user = await bot.fetch_user(alice)
    await user.send("Join link", view=static_view(discord.ui.Button(label="Check in", custom_id=marked)))
    [dm] = [m for m in emu.dm_messages(alice) if m["content"] == "Join link"]
    with at(bot, start):
        clicked = await emu.click(None, alice, dm, marked)
        await clicked.wait_done()
        assert "You're checked in to **Cardiology \\*today\\***" in clicked.all_text()
        assert (await bot.office.checkins.summary(await bot.service.get_talk(school.guild_id, 1))).checked_in == 1
        unknown = "podium:checkin:77:m43"
        await user.send("Other", view=static_view(discord.ui.Button(label="Check in", custom_id=unknown)))
        [other] = [m for m in emu.dm_messages(alice) if m["content"] == "Other"]
        missing = await emu.click(None, alice, other, unknown)
        await missing.wait_done()
        assert "There is no talk #77" in missing.all_text()


async def test_a_walk_in_reaches_the_agenda_page_seats(emu: DiscordEmulator, school: School, tmp_path: Path) -> None:
    alice, bob = school.students["alice"], school.students["bob"]
    async with web_bot(emu, school, tmp_path / "web.sqlite3") as web:
        await set_up(school, public_calendar=True)
        start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)
        talk = await create_talk(school, title="Seats talk", speaker="Dr. Count", start=local(start), capacity=3)
        await school.run(alice, "register", {"talk": talk})
        agenda = await web.agenda_path(school.guild_id)
        with at(web.bot, start):
            assert "2 of 3 left" in (await web.get(agenda))[1].decode()
            assert "as a walk-in" in (await school.run(bob, "checkin", {"talk": talk})).all_text()
            assert "1 of 3 left" in (await web.get(agenda))[1].decode()
