"""Bad input, permissions, mentions, restarts and load, through the real bot against the emulator."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.client import PodiumBot
from bot.i18n import short_datetime
from bot.talks import TalkInput
from tests.emulator import DiscordEmulator, EmulatorUsageError
from tests.harness import School, build_school, running_bot

PARIS = ZoneInfo("Europe/Paris")


def local(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")


def soon(days: int = 7) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(second=0, microsecond=0)


async def configure(school: School) -> None:
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})


async def create_talk(school: School, **options: object) -> str:
    values: dict[str, object] = {"title": "Talk", "speaker": "Speaker", "start": local(soon())}
    values.update(options)
    reply = await school.run(school.organizer, "talk create", values)
    assert "Created talk" in reply.all_text(), reply.all_text()
    return reply.all_text()


def in_one_year() -> str:
    return local(soon(365))


BAD_CREATES = [
    ({"start": "next tuesday"}, "YYYY-MM-DD HH:MM"),
    ({"start": "2020-01-01 10:00"}, "in the past"),
    ({"start": "2026-13-45 10:00"}, "not a real date"),
    ({"duration": 0}, "from 1 to 1440"),
    ({"duration": 1441}, "24 hours"),
    ({"capacity": 0}, "at least 1"),
    ({"title": "x" * 101}, "limit is 100"),
    ({"description": "d" * 2001}, "limit is 2000"),
    ({"reminders": "1 week"}, "1d,1h,15m"),
    ({"announce_at": in_one_year()}, "must come before the talk starts"),
    ({"announce_at": "2020-01-01 10:00"}, "in the past"),
]


@pytest.mark.parametrize(("options", "fragment"), BAD_CREATES)
async def test_bad_talk_input_is_explained_and_changes_nothing(
    emu: DiscordEmulator, school: School, bot: PodiumBot, options: dict[str, object], fragment: str
) -> None:
    await configure(school)
    values: dict[str, object] = {"title": "Talk", "speaker": "Speaker", "start": local(soon())}
    values.update(options)
    reply = await school.run(school.organizer, "talk create", values)
    assert reply.ephemeral
    assert fragment in reply.all_text()
    how_to_fix = ("example", "leave it empty", "shorten it")
    assert any(hint in reply.all_text().lower() for hint in how_to_fix)
    assert school.announcements() == []
    assert await bot.service.upcoming(school.guild_id, public_only=False) == []


async def test_bad_setup_and_permissions(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    alice = school.students["alice"]
    bad_zone = await school.run(school.admin, "setup", {"channel": school.channel_id, "timezone": "Mars/Base"})
    assert bad_zone.ephemeral
    assert "Europe/Paris" in bad_zone.all_text()
    bad_offsets = await school.run(school.admin, "setup", {"reminders": "yesterday"})
    assert "not a reminder offset" in bad_offsets.all_text()
    assert (await bot.service.settings(school.guild_id)).channel_id is None  # nothing was saved

    # Discord shows /talk only to members with Manage Events (or those an admin allows in Integrations) ...
    with pytest.raises(EmulatorUsageError, match="default_member_permissions"):
        await school.run(alice, "talk create", {"title": "Mine", "speaker": "Me", "start": local(soon())})
    # ... and should an admin allow a student by mistake, the bot still checks organizer rights itself
    emu.set_command_permission(school.guild_id, "talk", alice)
    student = await school.run(alice, "talk create", {"title": "Mine", "speaker": "Me", "start": local(soon())})
    assert student.ephemeral
    assert "Only organizers" in student.all_text()
    await configure(school)
    await create_talk(school)
    for command, options in (
        ("talk edit", {"talk": 1, "title": "Hijacked"}),
        ("talk cancel", {"talk": 1}),
        ("talk attendees", {"talk": 1}),
        ("talk announce", {"talk": 1}),
    ):
        reply = await school.run(alice, command, options)
        assert reply.ephemeral
        assert "Only organizers" in reply.all_text(), command
    assert (await bot.service.get_talk(school.guild_id, 1)).title == "Talk"


async def test_unknown_other_server_cancelled_and_over_talks(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    await configure(school)
    await create_talk(school)
    alice = school.students["alice"]
    unknown = await school.run(alice, "register", {"talk": 999})
    assert unknown.ephemeral
    assert "no open talk #999" in unknown.all_text()
    edit_unknown = await school.run(school.organizer, "talk edit", {"talk": 999, "title": "x"})
    assert "no talk #999" in edit_unknown.all_text()

    # a talk of another server is invisible here
    other = await bot.service.create_talk(424242, 1, TalkInput(title="Elsewhere", speaker="S", start=local(soon())))
    foreign = await school.run(alice, "register", {"talk": other.id})
    assert f"no open talk #{other.id}" in foreign.all_text()
    assert await bot.service.attendees(other) == []

    nothing = await school.run(school.organizer, "talk edit", {"talk": 1})
    assert "Nothing to change" in nothing.all_text()

    await school.run(school.organizer, "talk cancel", {"talk": 1})
    for command, options in (
        ("register", {"talk": 1}),
        ("talk edit", {"talk": 1, "title": "x"}),
        ("talk cancel", {"talk": 1}),
    ):
        user = alice if command == "register" else school.organizer
        reply = await school.run(user, command, options)
        assert reply.ephemeral
        assert "cancelled" in reply.all_text(), command


async def test_no_user_text_can_ping(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    await configure(school)
    sneaky = f"@everyone @here <@&{school.ping_role}> <@{school.students['bob']}>"
    await create_talk(school, title=sneaky[:100], speaker="@everyone", description=sneaky, location="@here")
    [announcement] = school.announcements()
    assert announcement["mention_everyone"] is False
    assert announcement["mention_roles"] == []
    assert announcement["mentions"] == []
    for message in emu.all_messages(include_ephemeral=True):
        assert message["mention_everyone"] is False
        assert message["mention_roles"] == []


async def test_autocomplete_talks_and_calendar_button(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    await configure(school)
    start = soon(5)
    await create_talk(school, title="Immunotherapy today", start=local(start), capacity=30)
    await create_talk(school, title="Held back", announce_at=local(soon(2)), start=local(soon(6)))
    alice = school.students["alice"]

    typed = await emu.autocomplete(school.guild_id, alice, "register", {"talk": "immuno"}, focused="talk")
    await typed.wait_done()
    # In the member's language (English here): Babel's short date, then the server's zone.
    label = f"Immunotherapy today — {short_datetime(start, PARIS, 'en')} {start.astimezone(PARIS):%Z}"
    assert typed.choices == [{"name": label, "value": 1}]
    everything = await emu.autocomplete(school.guild_id, alice, "register", {"talk": ""}, focused="talk")
    await everything.wait_done()
    assert [c["value"] for c in everything.choices or []] == [1]  # the held-back talk is not public yet
    organizer_view = await emu.autocomplete(
        school.guild_id, school.organizer, "talk edit", {"talk": ""}, focused="talk"
    )
    await organizer_view.wait_done()
    assert [c["value"] for c in organizer_view.choices or []] == [1, 2]

    listing = await school.run(alice, "talks")
    assert listing.ephemeral
    assert "Immunotherapy today" in listing.all_text()
    assert "30 of 30 seats left" in listing.all_text()
    assert "Held back" not in listing.all_text()

    [announcement] = school.announcements()
    ics = await school.click(alice, announcement, "podium:ics:1")
    assert ics.ephemeral
    [(name, data)] = ics.attachments
    assert name == "podium-talk-1.ics"
    assert b"METHOD:PUBLISH" in data
    assert await bot.service.attendees(await bot.service.get_talk(school.guild_id, 1)) == []  # no registration


async def test_buttons_and_data_survive_a_restart(emu: DiscordEmulator, tmp_path: Path) -> None:
    school = build_school(emu)
    database = tmp_path / "podium.sqlite3"
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)):
        await configure(school)
        await create_talk(school, capacity=1)
        await school.run(school.students["alice"], "register", {"talk": 1})
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        [announcement] = school.announcements()
        clicked = await school.click(school.students["bob"], announcement, "podium:register:1")
        assert "#1 on the waitlist" in clicked.all_text()
        again = await school.click(school.students["alice"], announcement, "podium:register:1")
        assert "already registered" in again.all_text()
        left = await school.click(school.students["alice"], announcement, "podium:unregister:1")
        assert "no longer registered" in left.all_text()
        talk = await bot.service.get_talk(school.guild_id, 1)
        assert [(r.user_id, r.confirmed) for r in await bot.service.attendees(talk)] == [(school.students["bob"], True)]


async def test_hundreds_press_register_at_once(emu: DiscordEmulator, tmp_path: Path) -> None:
    school = build_school(emu, students=tuple(f"student{i}" for i in range(150)))
    async with running_bot(emu, tmp_path / "podium.sqlite3", DEV_GUILD_ID=str(school.guild_id)) as bot:
        await configure(school)
        await create_talk(school, capacity=25)
        [announcement] = school.announcements()
        clicks = [
            emu.click(school.guild_id, user, announcement, "podium:register:1") for user in school.students.values()
        ]
        interactions = await asyncio.gather(*clicks)
        await asyncio.gather(*(ia.wait_done(30) for ia in interactions))
        texts = [ia.all_text() for ia in interactions]
        assert all(ia.ephemeral for ia in interactions)
        assert not any(ia.rejected for ia in interactions)  # every one answered within Discord's 3 s
        assert sum("You're registered" in t for t in texts) == 25
        assert sum("on the waitlist" in t for t in texts) == 125
        talk = await bot.service.get_talk(school.guild_id, 1)
        seats = await bot.service.seats(talk)
        assert (seats.confirmed, seats.waitlisted) == (25, 125)
        await emu.wait_for_message(
            lambda m: m["id"] == announcement["id"] and "125 on the waitlist" in str(m["embeds"]), timeout=15
        )


async def test_unexpected_error_apologises_and_logs(
    emu: DiscordEmulator,
    school: School,
    bot: PodiumBot,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(bot.service, "member_talks", broken)
    with caplog.at_level(logging.ERROR):
        reply = await school.run(school.students["alice"], "mytalks")
    assert reply.ephemeral
    assert "Sorry, something went wrong" in reply.all_text()
    assert "database on fire" not in reply.all_text()
    assert "Traceback" not in reply.all_text()
    assert any("database on fire" in (r.exc_text or "") or r.exc_info for r in caplog.records)


async def test_gateway_drop_is_survived(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    await configure(school)
    await emu.disconnect_gateway(4000)
    await emu.wait_for_resume()
    await emu.wait_ready()
    await create_talk(school)
    assert len(school.announcements()) == 1


async def test_channel_the_bot_cannot_post_in(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    from tests.emulator import Perm

    updated = asyncio.ensure_future(bot.wait_for("guild_channel_update", timeout=5))
    emu.set_overwrite(school.channel_id, emu.bot_user_id, deny=Perm.SEND_MESSAGES)
    await updated  # the bot's cache now knows it may not post there
    setup = await school.run(
        school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role}
    )
    assert "I cannot post announcements" in setup.all_text()
    assert "Send Messages" in setup.all_text()
    created = await school.run(school.organizer, "talk create", {"title": "T", "speaker": "S", "start": local(soon())})
    assert "Created talk **#1**" in created.all_text()
    assert "Not announced yet: I am not allowed to post in" in created.all_text()
    emu.set_overwrite(school.channel_id, emu.bot_user_id, allow=Perm.SEND_MESSAGES)
    announced = await school.run(school.organizer, "talk announce", {"talk": 1})
    assert "Posted the announcement of talk **#1**" in announced.all_text()
    assert len(school.announcements()) == 1
