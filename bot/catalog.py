"""Keeping the catalogues in step with the code: ``python -m bot.catalog``.

Extracts every ``_()``, ``_n()`` and ``_p()`` text of ``bot/`` and ``cogs/`` (and the templates), plus the
slash commands' names, descriptions, options and choices (read from the command tree itself, under the
contexts of bot/command_translator.py), into ``bot/locale/podium.pot``, then updates each language's
``.po``: new texts arrive untranslated, texts no longer in the code are dropped, translations are kept.
A translator then fills the empty ``msgstr`` lines; tests/test_catalogue.py says what is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import discord
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from discord import app_commands
from discord.ext import commands

from bot.command_translator import CONTEXTS
from bot.i18n import DEFAULT_LANGUAGE, DOMAIN, LOCALE_DIR, languages

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "cogs")
KEYWORDS = {"_": None, "_n": (1, 2), "_p": ((1, "c"), 2)}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
LIMIT_TAG = "limit:"  # a translator comment "# limit: 80" states the Discord limit of where the text is used
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"


def _command_strings(tree: app_commands.CommandTree[commands.Bot]) -> Iterator[tuple[str, str]]:
    location = app_commands.TranslationContextLocation
    for command in tree.walk_commands():
        yield CONTEXTS[location.command_name], command.name
        yield CONTEXTS[location.command_description], command.description
        if isinstance(command, app_commands.Command):
            for parameter in command.parameters:
                yield CONTEXTS[location.parameter_name], parameter.display_name  # as renamed, as Discord shows it
                yield CONTEXTS[location.parameter_description], parameter.description
                for choice in parameter.choices:
                    yield CONTEXTS[location.choice_name], choice.name


async def command_strings() -> list[tuple[str, str]]:
    """(context, text) of every slash command string, from the cogs loaded into a bot that never connects."""
    from bot.client import EXTENSIONS

    bot = commands.Bot(command_prefix=commands.when_mentioned, intents=discord.Intents.none())
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    found = list(dict.fromkeys(_command_strings(bot.tree)))
    await bot.close()
    return found


def extract() -> Catalog:
    catalog = Catalog(domain=DOMAIN, project="Podium", charset="utf-8", creation_date=datetime(2026, 1, 1, tzinfo=UTC))
    for source in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / source, METHODS, keywords=KEYWORDS, comment_tags=(LIMIT_TAG,), strip_comment_tags=False
        ):
            catalog.add(
                message,
                None,
                [(f"{source}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
                flags=("python-brace-format",) if _has_fields(message) else (),
            )
    for context, text in asyncio.run(command_strings()):
        catalog.add(text, None, [("commands", 0)], context=context)
    return catalog


def _has_fields(message: str | tuple[str, ...]) -> bool:
    return any("{" in part for part in ((message,) if isinstance(message, str) else message))


def update(template: Catalog) -> list[Path]:
    written = []
    for language in languages():
        if language == DEFAULT_LANGUAGE:
            continue
        path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
        catalog.update(template, update_header_comment=False, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as target:
            write_po(target, catalog, width=116, omit_header=False, sort_output=False, include_previous=False)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the catalogues are not up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("discord").setLevel(logging.ERROR)  # the bot that lists the commands never connects
    template = extract()
    if args.check:
        return 0 if _up_to_date(template) else 1
    with TEMPLATE.open("wb") as target:
        write_po(target, template, width=116, omit_header=False, sort_output=False)
    for path in update(template):
        log.info("updated %s", path.relative_to(ROOT))
    log.info("%d texts in %s", len(template), TEMPLATE.relative_to(ROOT))
    return 0


def _up_to_date(template: Catalog) -> bool:
    wanted = {(message.context, message.id) for message in template if message.id}
    for language in languages()[1:]:
        path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as source:
            have = {(message.context, message.id) for message in read_po(source) if message.id}
        if have != wanted:
            log.error("%s: %d missing, %d unused", path, len(wanted - have), len(have - wanted))
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
