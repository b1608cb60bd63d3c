"""French (and any catalogued language's) names and descriptions of the slash commands, from the catalogues.

discord.py hands every command, group, option and choice string to the tree's translator when it syncs; the
catalogue holds them under a gettext context naming what the string is, since a command's name and a word of
a sentence translate differently. Discord's naming rules are checked by tests/test_command_tree.py, because
discord.py does not check translated names.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation, TranslationContextTypes, locale_str

from bot.i18n import DEFAULT_LANGUAGE, language_of, translations

CONTEXTS = {
    TranslationContextLocation.command_name: "command name",
    TranslationContextLocation.command_description: "command description",
    TranslationContextLocation.group_name: "command name",
    TranslationContextLocation.group_description: "command description",
    TranslationContextLocation.parameter_name: "option name",
    TranslationContextLocation.parameter_description: "option description",
    TranslationContextLocation.choice_name: "choice name",
}


class CommandTranslator(app_commands.Translator):
    async def translate(
        self, string: locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        gettext_context = CONTEXTS.get(context.location)
        language = language_of(locale)
        if gettext_context is None or language == DEFAULT_LANGUAGE or not _exact(locale, language):
            return None
        translated = translations(language).pgettext(gettext_context, string.message)
        return translated if translated != string.message else None


def _exact(locale: discord.Locale, language: str) -> bool:
    """Discord asks for every locale it knows; only those of a catalogued language get its strings."""
    return locale.value.split("-")[0] == language
