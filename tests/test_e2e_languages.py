"""Each member in their own language, in one server: replies, errors, the invite DM and the reminder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.client import PodiumBot
from bot.jobplan import JobAction, PlannedJob
from bot.talks import TalkInput
from tests.emulator import DiscordEmulator
from tests.harness import School


def dm_texts(emu: DiscordEmulator, user: int) -> list[str]:
    return [m["content"] for m in emu.dm_messages(user)]


async def test_a_french_and_an_english_member_each_read_their_own_language(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    alice, bob = school.students["alice"], school.students["bob"]
    emu.world.users[alice].locale = "fr"
    emu.world.users[bob].locale = "en-US"
    await bot.service.update_settings(school.guild_id, channel_id=school.channel_id)
    start = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    talk = await bot.service.create_talk(
        school.guild_id,
        school.organizer,
        TalkInput(title="Cardiologie", speaker="Dr Martin", start=start.isoformat(timespec="minutes"), reminders="1d"),
    )

    french = await school.run(alice, "register", {"talk": talk.id})
    english = await school.run(bob, "register", {"talk": talk.id})
    assert french.ephemeral and english.ephemeral
    assert "Votre inscription à **Cardiologie**" in french.all_text()
    assert "You're registered for **Cardiologie**" in english.all_text()
    assert "You're registered" not in french.all_text()

    await bot.courier.drain()
    [alice_invite] = dm_texts(emu, alice)
    [bob_invite] = dm_texts(emu, bob)
    assert alice_invite.startswith("Vous êtes inscrit·e à **Cardiologie**")
    assert bob_invite.startswith("You're registered for **Cardiologie** with Dr Martin")

    # An answer that changes nothing (no address to remove), in each member's language.
    await school.run(alice, "unregister", {"talk": talk.id})
    await school.run(bob, "unregister", {"talk": talk.id})
    nothing_fr = await school.run(alice, "email remove")
    nothing_en = await school.run(bob, "email remove")
    assert nothing_fr.ephemeral and nothing_en.ephemeral
    assert "You have no email address in this server" in nothing_en.all_text()
    assert "You have no email address" not in nothing_fr.all_text()

    # The reminder, sent outside any interaction, follows each member's last language.
    await school.run(alice, "register", {"talk": talk.id})
    await school.run(bob, "register", {"talk": talk.id})
    await bot.courier.drain()
    before_alice, before_bob = len(dm_texts(emu, alice)), len(dm_texts(emu, bob))
    await bot.scheduler.run(PlannedJob(JobAction.REMINDER, talk.id, bot.service.clock(), 24 * 60))
    await bot.courier.drain()
    alice_reminder = dm_texts(emu, alice)[before_alice:]
    bob_reminder = dm_texts(emu, bob)[before_bob:]
    assert any(text.startswith("⏰ Rappel") for text in alice_reminder)
    assert any(text.startswith("⏰ Reminder") for text in bob_reminder)
