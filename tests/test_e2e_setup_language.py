"""/setup in the admin's language, and /setup language: choosing the server's."""

from __future__ import annotations

from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School


async def test_setup_answers_each_admin_in_their_language_and_stores_the_servers(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    emu.world.users[school.admin].locale = "fr"
    saved = await school.run(school.admin, "setup", {"channel": school.channel_id, "language": "fr"})
    text = saved.all_text()
    assert saved.ephemeral
    assert "Réglages enregistrés." in text
    assert "**Langue des annonces et des rappels\u00a0:** Français" in text
    assert "Settings saved" not in text
    assert (await bot.service.settings(school.guild_id)).language == "fr"
    assert await bot.languages.server(school.guild_id) == "fr"

    emu.world.users[school.admin].locale = "en-GB"
    shown = await school.run(school.admin, "setup")
    assert "Podium settings for this server:" in shown.all_text()
    assert "**Language of announcements and reminders:** Français" in shown.all_text()
    # The admin's language was recorded from their interactions, for what reaches them outside one.
    assert await bot.languages.member(school.guild_id, school.admin) == "en"

    await school.run(school.admin, "setup", {"language": "en"})
    assert await bot.languages.server(school.guild_id) == "en"
