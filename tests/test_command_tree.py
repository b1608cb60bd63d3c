"""The synced command tree carries French names and descriptions that Discord accepts.

discord.py does not check translated names, and Discord refuses the whole sync when one breaks its rules.
"""

from __future__ import annotations

import re
from typing import Any

from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School

# Discord's rule for CHAT_INPUT names (lowercase wherever the script has case).
NAME = re.compile(r"^[-_\w]{1,32}$")


def walk(command: dict[str, Any]) -> list[dict[str, Any]]:
    """The command, its subcommands and groups, each with its own options."""
    found = [command]
    for option in command.get("options", []):
        if option["type"] in (1, 2):  # SUB_COMMAND, SUB_COMMAND_GROUP
            found += walk(option)
    return found


async def test_every_command_and_option_has_a_valid_french_name(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    commands = emu.commands_for(school.guild_id)
    assert len(commands) >= 8
    problems: list[str] = []
    for top in commands:
        for command in walk(top):
            fr_name = command.get("name_localizations", {}).get("fr")
            fr_description = command.get("description_localizations", {}).get("fr")
            where = command["name"]
            if fr_name is None or fr_description is None:
                problems.append(f"{where}: no French name or description")
                continue
            if not NAME.match(fr_name) or fr_name != fr_name.lower():
                problems.append(f"{where}: French name {fr_name!r} breaks Discord's rules")
            if not 1 <= len(fr_description) <= 100:
                problems.append(f"{where}: French description is {len(fr_description)} characters")
            names = []
            for option in command.get("options", []):
                option_fr = option.get("name_localizations", {}).get("fr", option["name"])
                names.append(option_fr)
                if not NAME.match(option_fr) or option_fr != option_fr.lower():
                    problems.append(f"{where} {option['name']}: French name {option_fr!r} breaks Discord's rules")
                description = option.get("description_localizations", {}).get("fr")
                if description is None or not 1 <= len(description) <= 100:
                    problems.append(f"{where} {option['name']}: French description missing or too long")
                for choice in option.get("choices", []):
                    choice_fr = choice.get("name_localizations", {}).get("fr", choice["name"])
                    if not 1 <= len(choice_fr) <= 100:
                        problems.append(f"{where} {option['name']} {choice['name']}: French choice missing")
            if len(set(names)) != len(names):
                problems.append(f"{where}: two options share a French name: {names}")
        siblings = [c.get("name_localizations", {}).get("fr") for c in top.get("options", []) if c["type"] in (1, 2)]
        if len(set(siblings)) != len(siblings):
            problems.append(f"{top['name']}: two subcommands share a French name")
    top_names = [c.get("name_localizations", {}).get("fr") for c in commands]
    if len(set(top_names)) != len(top_names):
        problems.append("two commands share a French name")
    assert problems == []
