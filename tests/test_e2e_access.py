"""Who sees and does what: held-back talks, organizer rights, register/unregister toggling. Each attack goes
through the real bot and discord.py against the emulator, and so does the legitimate use it must not break."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.client import PodiumBot
from tests.emulator import ChannelType, DiscordEmulator, EmulatedInteraction, EmulatorUsageError, Perm
from tests.harness import School, ics_of
from tests.test_e2e_safety import configure, create_talk, local, soon

SECRET = "Secret keynote: Nobel laureate X"


async def autocomplete(
    school: School, user: int, command: str, typed: str = "", channel_id: int | None = None
) -> list[str]:
    interaction = await school.emu.autocomplete(
        school.guild_id, user, command, {"talk": typed}, focused="talk", channel_id=channel_id or school.channel_id
    )
    await interaction.wait_done()
    return [choice["name"] for choice in interaction.choices or []]


def same_but_for_the_id(
    hidden: EmulatedInteraction, hidden_id: int, unknown: EmulatedInteraction, unknown_id: int
) -> bool:
    return hidden.all_text().replace(f"#{hidden_id}", "#N") == unknown.all_text().replace(f"#{unknown_id}", "#N")


async def test_a_talk_not_yet_announced_shows_nothing_to_members(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    await configure(school)
    await create_talk(school, title="Open lecture")
    announce_at = soon(days=1)
    await create_talk(school, title=SECRET, start=local(soon(days=7)), announce_at=local(announce_at))
    secret, missing = 2, 99
    alice = school.students["alice"]
    # a student whom an admin let use /talk (say, by allowing a Students role for it in Integrations)
    bob = school.students["bob"]
    emu.set_command_permission(school.guild_id, "talk", bob)

    assert all("Secret" not in name for name in await autocomplete(school, alice, "register"))
    assert any("Open lecture" in name for name in await autocomplete(school, alice, "register"))
    assert await autocomplete(school, alice, "unregister") == []
    for command in ("talk edit", "talk cancel", "talk announce", "talk attendees"):
        assert await autocomplete(school, bob, command) == [], command
        assert await autocomplete(school, bob, command, "secret") == [], command
    assert any(SECRET in name for name in await autocomplete(school, school.organizer, "talk edit", "secret"))

    for command in ("register", "unregister"):
        hidden = await school.run(alice, command, {"talk": secret})
        unknown = await school.run(alice, command, {"talk": missing})
        assert hidden.ephemeral
        assert same_but_for_the_id(hidden, secret, unknown, missing), (hidden.all_text(), unknown.all_text())
    for command, options in (("talk edit", {"title": "x"}), ("talk attendees", {}), ("talk cancel", {})):
        refused = await school.run(bob, command, {"talk": secret, **options})
        assert "Only organizers" in refused.all_text()
    listing = await school.run(alice, "talks")
    assert "Open lecture" in listing.all_text()
    await school.run(alice, "mytalks")

    # nothing the bot told either student, in any reply or choice, names the talk
    for interaction in emu.interactions:
        if interaction.user_id in (alice, bob):
            seen = interaction.all_text() + " ".join(c["name"] for c in interaction.choices or [])
            assert "Secret" not in seen and "Nobel" not in seen, seen
    assert (await bot.service.get_talk(school.guild_id, secret)).title == SECRET  # nothing was changed

    # once announced, members see it as usual
    announced = await school.run(school.organizer, "talk announce", {"talk": secret})
    assert "Posted the announcement" in announced.all_text()
    assert any(SECRET in name for name in await autocomplete(school, alice, "register", "secret"))
    joined = await school.run(alice, "register", {"talk": secret})
    assert "You're registered" in joined.all_text() and SECRET in joined.all_text()
    assert any(SECRET in name for name in await autocomplete(school, alice, "unregister"))


async def test_manage_events_on_one_channel_does_not_make_an_organizer(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    setup = await school.run(
        school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role}
    )
    assert "Integrations" in setup.all_text()  # how to let the organizer role see /talk
    stage = emu.add_channel(school.guild_id, "Amphi A (stage)", type=ChannelType.GUILD_STAGE_VOICE)
    mallory = emu.add_user("mallory")
    emu.add_member(school.guild_id, mallory)
    emu.set_overwrite(stage, mallory, allow=Perm.MANAGE_EVENTS)  # to run the stage's own events
    options = {"title": "Mine now", "speaker": "Me", "start": local(soon())}

    # Discord shows her /talk in the stage's chat, and the interaction says she has Manage Events there
    attempt = await emu.slash(school.guild_id, mallory, "talk create", options, channel_id=stage)
    await attempt.wait_done()
    assert int(attempt.payload["member"]["permissions"]) & Perm.MANAGE_EVENTS
    assert attempt.ephemeral
    assert "Manage Events in this channel only" in attempt.all_text()
    assert f"<@&{school.organizer_role}>" in attempt.all_text() and "whole server" in attempt.all_text()
    # ... but nowhere else, and the bot ignores the overwrite for every subcommand and autocomplete
    with pytest.raises(EmulatorUsageError, match="default_member_permissions"):
        await emu.slash(school.guild_id, mallory, "talk create", options, channel_id=school.channel_id)
    await create_talk(school, title="Real talk")
    assert await autocomplete(school, mallory, "talk edit", channel_id=stage) == []
    edit = await emu.slash(school.guild_id, mallory, "talk edit", {"talk": 1, "title": "Hijacked"}, channel_id=stage)
    await edit.wait_done()
    assert "in this channel only" in edit.all_text()
    assert [t.title for t in await bot.service.upcoming(school.guild_id, public_only=False)] == ["Real talk"]

    # legitimate organizers: a server-wide role with Manage Events (here in the stage's chat too) ...
    events_team = emu.add_role(school.guild_id, "Events team", Perm.MANAGE_EVENTS)
    erin = emu.add_user("erin")
    emu.add_member(school.guild_id, erin, roles=[events_team])
    for channel in (stage, school.channel_id):
        made = await emu.slash(school.guild_id, erin, "talk create", options, channel_id=channel)
        await made.wait_done()
        assert "Created talk" in made.all_text(), made.all_text()
    assert any("Real talk" in name for name in await autocomplete(school, erin, "talk edit", channel_id=stage))
    # ... and the configured organizer role (allowed for /talk in Integrations), in either channel
    for channel in (stage, school.channel_id):
        made = await emu.slash(school.guild_id, school.organizer, "talk create", options, channel_id=channel)
        await made.wait_done()
        assert "Created talk" in made.all_text(), made.all_text()
    assert len(await bot.service.upcoming(school.guild_id, public_only=False)) == 5


def dms(emu: DiscordEmulator, user: int) -> list[dict[str, object]]:
    return [m for m in emu.dm_messages(user) if m.get("attachments")]


def retry_time(text: str) -> datetime:
    found = re.search(r"change it again <t:(\d+):R>", text)
    assert found, text
    return datetime.fromtimestamp(int(found.group(1)), UTC)


async def test_a_burst_of_register_toggles_sends_two_messages_and_is_then_refused(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    await configure(school)
    await create_talk(school, capacity=2)
    [announcement] = school.announcements()
    alice, bob, carol = (school.students[n] for n in ("alice", "bob", "carol"))
    await school.run(bob, "register", {"talk": 1})
    started = datetime.now(UTC)
    replies = []
    for toggle in range(20):
        button = "podium:register:1" if toggle % 2 == 0 else "podium:unregister:1"
        replies.append((await school.click(alice, announcement, button)).all_text())
        if toggle == 0:
            await school.run(carol, "register", {"talk": 1})  # waitlisted behind alice's seat
    # four changes are accepted; the waitlist stays in order: carol takes alice's seat, alice joins behind her
    assert "You're registered" in replies[0] and "is on its way by DM" in replies[0]
    assert "no longer registered" in replies[1] and "Your seat went to the next person" in replies[1]
    assert "follows by DM <t:" in replies[1]  # the withdrawal waits: a quick change of mind would replace it
    assert "#1 on the waitlist" in replies[2]
    assert "left the waitlist" in replies[3]
    for toggle, text in enumerate(replies[4:], start=4):
        if toggle % 2 == 0:
            assert "Nothing changed: you are still not registered" in text, text
            assert started + timedelta(minutes=59) < retry_time(text) <= datetime.now(UTC) + timedelta(hours=1)
        else:
            assert "not registered for" in text and "nothing to undo" in text, text

    hold = bot.service.change_limit.hold.total_seconds()
    withdrawal = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "no longer registered" in m["content"],
        timeout=hold + 5,
    )
    await bot.courier.drain()
    await bot.courier.retry_due()
    await bot.courier.drain()
    sent = dms(emu, alice)
    assert len(sent) == 2, [m["content"] for m in sent]  # the invite, then the one message for the final state
    assert ics_of(emu, sent[0])["METHOD"] == "PUBLISH"
    assert sent[1]["id"] == withdrawal["id"] and ics_of(emu, withdrawal)["METHOD"] == "CANCEL"
    [promotion] = dms(emu, carol)
    assert "now **confirmed**" in str(promotion["content"])
    talk = await bot.service.get_talk(school.guild_id, 1)
    assert [(r.user_id, r.confirmed) for r in await bot.service.attendees(talk)] == [(bob, True), (carol, True)]
    mine = await school.run(alice, "mytalks")
    assert "not registered for any upcoming talk" in mine.all_text()


async def test_register_unregister_register_once_still_works(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    await configure(school)
    await create_talk(school, capacity=5)
    alice = school.students["alice"]
    first = await school.run(alice, "register", {"talk": 1})
    assert "is on its way by DM" in first.all_text()
    await emu.wait_for_message(lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)))
    left = await school.run(alice, "unregister", {"talk": 1})
    assert "no longer registered" in left.all_text()
    back = await school.run(alice, "register", {"talk": 1})
    assert "You're registered" in back.all_text() and "follows by DM <t:" in back.all_text()
    hold = bot.service.change_limit.hold.total_seconds()
    await emu.wait_for_message(lambda m: len(dms(emu, alice)) == 2, timeout=hold + 5)
    await bot.courier.drain()
    await bot.courier.retry_due()
    sent = dms(emu, alice)
    # the withdrawal was replaced by the re-registration before it went: her calendar keeps the talk
    assert [ics_of(emu, m)["METHOD"] for m in sent] == ["PUBLISH", "PUBLISH"]
    registration = await bot.service.registration(await bot.service.get_talk(school.guild_id, 1), alice)
    assert registration is not None and registration.confirmed
