"""Slash commands named in a reply, as the reader's Discord shows them: « `/désinscription` » to a French member.

Discord lists a command under its translated name to members who use that language, so a reply that tells
them what to type must use the same name. The names come from the catalogue's "command name" and "option
name" entries (those bot/command_translator.py gives Discord), so they never drift from the commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import Text, render
from bot.i18n import _p as _named


@dataclass(frozen=True)
class Command(Text):
    """`/email set address:you@example.com`: a command, its options (a value may be left empty), in code span."""

    path: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()

    def render(self, language: str) -> str:
        words = [render(_named("command name", part), language) for part in self.path]
        words += [f"{render(_named('option name', name), language)}:{value}" for name, value in self.options]
        return f"`/{' '.join(words)}`"


def command(path: str, /, **options: object) -> Command:
    """``command("email set", address="you@example.com")``; the English rendering is the command as declared."""
    return Command(msgid=f"/{path}", path=tuple(path.split()), options=tuple((k, str(v)) for k, v in options.items()))


@dataclass(frozen=True)
class Option(Text):
    """`start:2026-03-14 18:30` (`debut:14/03/2026 18h30` to a French reader): an option, with a value or not."""

    name: str = ""
    value: Text | str | None = None

    def render(self, language: str) -> str:
        named = render(_named("option name", self.name), language)
        return f"`{named}`" if self.value is None else f"`{named}:{render(self.value, language)}`"


def option(name: str, value: Text | str | None = None) -> Option:
    """``option("start")`` renders `start` / `debut`; ``option("start", example)`` adds ``:value``."""
    return Option(msgid=name, name=name, value=value)
