"""Issue 11, "Eligibility and priority windows", with the real bot against the emulator: a talk reserved for some
roles refuses everyone else by /register and by the Register button; a priority window lets priority members in
first and everyone else once the bot's clock passes priority_until; the announcement says so; bad option values
change nothing; a French organizer and a French member read it all in French."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School
from tests.web_helpers import PARIS, local

REGISTER = "podium:register:1"
NBSP = "\u00a0"


@dataclass
class Years:
    """The school's year roles, mentionable (so a reply that allowed mentions would ping them)."""

    one: int
    two: int
    six: int


@pytest.fixture
def years(emu: DiscordEmulator, school: School, bot: PodiumBot) -> Years:
    # Created once the bot is connected, as an admin would: the bot learns them from GUILD_ROLE_CREATE.
    found = Years(
        one=emu.add_role(school.guild_id, "Year 1", mentionable=True),
        two=emu.add_role(school.guild_id, "Year 2", mentionable=True),
        six=emu.add_role(school.guild_id, "Year 6", mentionable=True),
    )
    emu.set_member_roles(school.guild_id, school.students["alice"], [found.one])
    emu.set_member_roles(school.guild_id, school.students["carol"], [found.six])
    emu.set_member_roles(school.guild_id, school.students["dave"], [found.two])
    return found  # bob has no year role


@contextmanager
def at(bot: PodiumBot, moment: datetime) -> Iterator[None]:
    real = bot.service.clock
    bot.service.clock = lambda: moment
    try:
        yield
    finally:
        bot.service.clock = real


async def set_up(school: School) -> None:
    await school.run(
        school.admin,
        "setup",
        {"channel": school.channel_id, "organizer_role": school.organizer_role, "timezone": "Europe/Paris"},
    )


async def create(school: School, start: datetime, **options: Any) -> dict[str, Any]:
    created = await school.run(
        school.organizer,
        "talk create",
        {"title": "Neonatal *care*", "speaker": "Dr Small", "start": local(start), "capacity": 10, **options},
    )
    assert "Created talk **#1**" in created.all_text(), created.all_text()
    [announcement] = school.announcements()
    return announcement


def embed_fields(message: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in message["embeds"][0]["fields"]}


def start_in(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(second=0, microsecond=0)


async def test_a_reserved_talk_refuses_others_by_command_and_button(
    emu: DiscordEmulator, school: School, bot: PodiumBot, years: Years
) -> None:
    alice, bob, dave = (school.students[n] for n in ("alice", "bob", "dave"))
    await set_up(school)
    announcement = await create(school, start_in(10), eligible_roles=f"<@&{years.one}> <@&{years.two}>")
    assert embed_fields(announcement)["Reserved for"] == (
        f"Members with one of these roles: {', '.join(f'<@&{r}>' for r in sorted((years.one, years.two)))}"
    )
    assert announcement["mention_roles"] == []
    refusal = (
        f"**Neonatal *care*** is reserved for members with one of these roles: "
        f"{', '.join(f'<@&{r}>' for r in sorted((years.one, years.two)))}. "
        "Ask an organizer if you think you should have one."
    )

    by_command = await school.run(bob, "register", {"talk": 1})
    assert by_command.ephemeral
    assert by_command.all_text() == refusal
    assert by_command.message is not None and by_command.message["mention_roles"] == []
    by_button = await school.click(bob, announcement, REGISTER)
    assert by_button.ephemeral
    assert by_button.all_text() == refusal
    await bot.courier.drain()
    talk = await bot.service.get_talk(school.guild_id, 1)
    assert await bot.service.attendees(talk) == []
    assert emu.dm_messages(bob) == []

    assert "You're registered" in (await school.run(alice, "register", {"talk": 1})).all_text()
    assert "You're registered" in (await school.click(dave, announcement, REGISTER)).all_text()
    await bot.courier.drain()
    assert {r.user_id for r in await bot.service.attendees(talk)} == {alice, dave}
    assert len(emu.dm_messages(alice)) == 1

    # Opened to every member with "-": the announcement drops the reservation, and bob may register.
    opened = await school.run(school.organizer, "talk edit", {"talk": 1, "eligible_roles": "-"})
    assert "Updated talk **#1** (`eligible_roles`)." in opened.all_text()
    await emu.wait_for_message(
        lambda m: m["id"] == announcement["id"] and "Reserved for" not in str(m["embeds"]) and "8 of 10" in str(m)
    )
    assert "You're registered" in (await school.click(bob, announcement, REGISTER)).all_text()


async def test_a_priority_window_opens_for_everyone_at_priority_until(
    emu: DiscordEmulator, school: School, bot: PodiumBot, years: Years
) -> None:
    bob, carol = school.students["bob"], school.students["carol"]
    await set_up(school)
    start = start_in(10)
    until = start - timedelta(days=3)
    unix = int(until.timestamp())
    announcement = await create(school, start, priority_roles=f"<@&{years.six}>", priority_until=local(until))
    assert embed_fields(announcement)["Registration opens"] == (
        f"For members with <@&{years.six}>: at once. For everyone: <t:{unix}:F> (<t:{unix}:R>)."
    )

    accepted = await school.run(carol, "register", {"talk": 1})
    assert "You're registered" in accepted.all_text()
    early = await school.click(bob, announcement, REGISTER)
    assert early.ephemeral
    assert early.all_text() == (
        f"Registration for **Neonatal *care*** opens for everyone <t:{unix}:F> (<t:{unix}:R>); until then only "
        f"members with <@&{years.six}> may register."
    )
    early_command = await school.run(bob, "register", {"talk": 1})
    assert early_command.all_text() == early.all_text()
    talk = await bot.service.get_talk(school.guild_id, 1)
    assert [r.user_id for r in await bot.service.attendees(talk)] == [carol]

    with at(bot, until + timedelta(minutes=1)):
        late = await school.click(bob, announcement, REGISTER)
        assert "You're registered" in late.all_text()
    await bot.courier.drain()
    assert [r.user_id for r in await bot.service.attendees(talk)] == [carol, bob]
    assert len(emu.dm_messages(bob)) == 1  # the invite, and nothing for the refusals before


async def test_bad_option_values_are_answered_and_change_nothing(
    emu: DiscordEmulator, school: School, bot: PodiumBot, years: Years
) -> None:
    await set_up(school)
    start = start_in(10)
    soon = local(start - timedelta(days=2))
    many = [emu.add_role(school.guild_id, f"Group {n}") for n in range(11)]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"eligible_roles": "<@&123456789012345678>"}, "`<@&123456789012345678>` is not a role of this server"),
        ({"eligible_roles": "@everyone"}, "`eligible_roles` cannot include @everyone"),
        ({"eligible_roles": f"<@&{school.guild_id}>"}, "`eligible_roles` cannot include @everyone"),
        ({"eligible_roles": "Year 1"}, "`eligible_roles`: `Year` is not a role."),
        ({"eligible_roles": " ".join(f"<@&{r}>" for r in many)}, "`eligible_roles` names 11 roles; the limit is 10"),
        ({"priority_roles": f"<@&{years.six}>", "priority_until": local(start)}, "must come before the talk starts"),
        ({"priority_roles": f"<@&{years.six}>", "priority_until": local(start + timedelta(hours=1))}, "must come"),
        ({"priority_roles": f"<@&{years.six}>", "priority_until": "2020-01-01 10:00"}, "is in the past"),
        ({"priority_until": soon}, "`priority_until` needs `priority_roles`"),
        ({"priority_roles": f"<@&{years.six}>"}, "`priority_roles` needs `priority_until`"),
        ({"priority_roles": f"<@&{years.six}>", "priority_until": "next week"}, "I could not read `next week`"),
    ]
    for options, fragment in cases:
        reply = await school.run(
            school.organizer, "talk create", {"title": "T", "speaker": "S", "start": local(start), **options}
        )
        assert reply.ephemeral
        assert fragment in reply.all_text(), (options, reply.all_text())
        assert "Created talk" not in reply.all_text()
    assert await bot.service.upcoming(school.guild_id, public_only=False) == []
    assert school.announcements() == []

    await create(school, start, eligible_roles=f"<@&{years.one}>")
    before = await bot.service.get_talk(school.guild_id, 1)
    for options, fragment in cases:
        reply = await school.run(school.organizer, "talk edit", {"talk": 1, **options})
        assert reply.ephemeral
        assert fragment in reply.all_text(), (options, reply.all_text())
    assert await bot.service.get_talk(school.guild_id, 1) == before


async def test_a_french_organizer_and_a_french_member(
    emu: DiscordEmulator, school: School, bot: PodiumBot, years: Years
) -> None:
    bob = school.students["bob"]
    emu.world.users[school.organizer].locale = "fr"
    emu.world.users[bob].locale = "fr"
    await set_up(school)
    start = start_in(10)
    until = start - timedelta(days=3)
    day_first = until.astimezone(PARIS).strftime("%d/%m/%Y %Hh%M")

    missing = await school.run(
        school.organizer,
        "talk create",
        {"title": "T", "speaker": "S", "start": local(start), "priority_until": day_first},
    )
    assert missing.all_text().startswith(f"`priorite_jusqua` va avec `roles_prioritaires`{NBSP}: ")
    unknown = await school.run(
        school.organizer, "talk create", {"title": "T", "speaker": "S", "start": local(start), "eligible_roles": "42"}
    )
    assert unknown.all_text().startswith(f"`roles_autorises`{NBSP}: `42` n'est pas un rôle de ce serveur.")
    assert "`@Année 1 @Année 2`" in unknown.all_text()
    assert await bot.service.upcoming(school.guild_id, public_only=False) == []

    created = await school.run(
        school.organizer,
        "talk create",
        {
            "title": "Néonatalogie",
            "speaker": "Dr Petit",
            "start": local(start),
            "eligible_roles": f"{years.one}, {years.two}",
            "priority_roles": f"<@&{years.two}>",
            "priority_until": day_first,  # typed day first, as announce_at may be
        },
    )
    assert "Conférence **n°" in created.all_text()
    talk = await bot.service.get_talk(school.guild_id, 1)
    assert talk.priority_until == until

    refused = await school.run(bob, "register", {"talk": 1})
    assert refused.all_text().startswith(
        f"La conférence **Néonatalogie** est réservée aux membres qui ont l'un de ces rôles{NBSP}: "
    )
    emu.set_member_roles(school.guild_id, bob, [years.one])
    unix = int(until.timestamp())
    waiting = await school.run(bob, "register", {"talk": 1})
    assert waiting.all_text() == (
        f"Les inscriptions à **Néonatalogie** s'ouvrent à tout le monde <t:{unix}:F> (<t:{unix}:R>){NBSP}; "
        f"d'ici là, elles sont réservées aux membres qui ont <@&{years.two}>."
    )
