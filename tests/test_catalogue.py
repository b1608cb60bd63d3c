"""The catalogues: complete, in step with the code, same placeholders, within Discord's limits, French typography."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot import catalog as catalogue_tool
from bot.i18n import DOMAIN, LOCALE_DIR, _, _n, languages, render

MESSAGE_MAX = 2000  # a Discord message; texts with a smaller limit say so with a "limit: N" comment
FOREIGN = [language for language in languages() if language != "en"]


def load(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        return read_po(source, locale=language)


def entries(language: str) -> Iterator[Message]:
    yield from (message for message in load(language) if message.id)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple | list) else [message.string]


def ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple | list) else [message.id]


def test_french_is_catalogued() -> None:
    assert "fr" in FOREIGN


def test_the_catalogues_hold_exactly_the_texts_of_the_code() -> None:
    """Nothing missing, nothing unused: run `python -m bot.catalog` after changing a text."""
    template = catalogue_tool.extract()
    wanted = {(message.context, message.id) for message in template if message.id}
    assert len(wanted) > 50
    for language in FOREIGN:
        have = {(message.context, message.id) for message in entries(language)}
        assert sorted(map(str, wanted - have)) == [], f"{language}: texts missing from the catalogue"
        assert sorted(map(str, have - wanted)) == [], f"{language}: translations no longer used"


@pytest.mark.parametrize("language", FOREIGN)
def test_every_text_is_translated(language: str) -> None:
    untranslated = [ids(m)[0] for m in entries(language) if not all(forms(m)) or m.fuzzy]
    assert untranslated == []


@pytest.mark.parametrize("language", FOREIGN)
def test_placeholders_are_the_same_in_every_language(language: str) -> None:
    wrong = []
    for message in entries(language):
        singular, *plural = ids(message)
        for form in filter(None, forms(message)):
            if plural:  # a plural form may leave out {count} (« une place », "one seat")
                expected = fields(singular) | fields(plural[0])
                ok = expected - {"count"} <= fields(form) <= expected
            else:
                ok = fields(form) == fields(singular)
            if not ok:
                wrong.append((singular, form))
    assert wrong == []


@pytest.mark.parametrize("language", FOREIGN)
def test_texts_fit_discord_where_they_are_used(language: str) -> None:
    too_long = []
    for message in entries(language):
        limit = MESSAGE_MAX
        for comment in message.auto_comments:
            found = re.match(r"limit:\s*(\d+)", comment)
            if found:
                limit = int(found[1])
        if message.context in {"command description", "option description", "choice name"}:
            limit = 100
        too_long += [(ids(message)[0], len(form), limit) for form in forms(message) if len(form) > limit]
    assert too_long == []


def test_french_typography() -> None:
    """A (narrow) no-break space before « : ; ! ? » and inside guillemets, never a plain one."""
    wrong = []
    for message in entries("fr"):
        for form in forms(message):
            prose = re.sub(r"`[^`]*`|<[^>]*>|https?://\S+", "", form)  # code, mentions, links are not prose
            if re.search(r" [:;!?»]|« ", prose):
                wrong.append(form)
    assert wrong == []


def test_rendering_follows_the_language() -> None:
    text = _("This command only works inside a server, not in direct messages.")
    assert render(text, "en") == "This command only works inside a server, not in direct messages."
    assert render(text, "fr") != render(text, "en")
    assert render(text, "de") == render(text, "en")  # no catalogue: English
    assert render(_n("{count} seat left", "{count} seats left", 1), "en") == "1 seat left"
    assert render("typed by a member", "fr") == "typed by a member"
