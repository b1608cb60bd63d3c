"""Texts in the reader's language: lazy messages, the gettext catalogues, and locale-aware formatting.

A text is written once, in English, as ``_("You are registered for **{title}**.", title=talk.title)``. That
makes a ``Text``: the English message id and its values, rendered only when the reader is known
(``render(text, "fr")``), so the domain can raise and record texts without knowing who will read them. The
French lives in ``bot/locale/fr/LC_MESSAGES/podium.po`` (gettext, edited with Babel: see ``bot/catalog.py``);
a third language is one more ``.po`` file next to it. Placeholders are Python brace fields, the same in every
language. Values that are themselves texts are rendered in the same language.
"""

from __future__ import annotations

import gettext
import io
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "podium"
DEFAULT_LANGUAGE = "en"  # what the message ids are written in


def languages() -> tuple[str, ...]:
    """English, then every language that has a catalogue."""
    found = sorted(path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT_LANGUAGE, *(language for language in found if language != DEFAULT_LANGUAGE))


def language_of(locale: object, fallback: str | None = None) -> str:
    """The language Podium speaks to a Discord locale (``fr``, ``en-US``, a ``discord.Locale``...).

    A locale is matched by its language part (``fr`` covers every French); one Podium has no catalogue for
    falls back to ``fallback``, then to English.
    """
    value = getattr(locale, "value", locale)
    if isinstance(value, str) and value:
        language = value.replace("_", "-").split("-")[0].lower()
        if language in languages():
            return language
    return fallback if fallback in languages() else DEFAULT_LANGUAGE


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of one language, read from its ``.po`` at first use (no build step, no .mo)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT_LANGUAGE or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@dataclass(frozen=True)
class Text:
    """A message to render in the reader's language (see the module's docstring)."""

    msgid: str
    params: tuple[tuple[str, Any], ...] = ()
    plural: str | None = None
    count: int | None = None
    context: str | None = None

    def render(self, language: str) -> str:
        catalogue = translations(language)
        if self.plural is not None:
            assert self.count is not None
            if self.context is not None:
                template = catalogue.npgettext(self.context, self.msgid, self.plural, self.count)
            else:
                template = catalogue.ngettext(self.msgid, self.plural, self.count)
        elif self.context is not None:
            template = catalogue.pgettext(self.context, self.msgid)
        else:
            template = catalogue.gettext(self.msgid)
        values = {name: _value(value, language) for name, value in self.params}
        if self.count is not None:
            values.setdefault("count", format_decimal(self.count, locale=language))
        return template.format(**values) if values else template

    def __str__(self) -> str:
        # Logs and exceptions read English; what members see goes through render().
        return self.render(DEFAULT_LANGUAGE)


def _(msgid: str, /, **params: Any) -> Text:
    """A text to translate; ``params`` fill its ``{placeholders}``."""
    return Text(msgid, tuple(params.items()))


def _n(singular: str, plural: str, count: int, /, **params: Any) -> Text:
    """A text whose form depends on ``count`` (also available as ``{count}``, formatted for the language)."""
    return Text(singular, tuple(params.items()), plural=plural, count=count)


def _p(context: str, msgid: str, /, **params: Any) -> Text:
    """A text with a gettext context, for a word whose translation depends on where it stands."""
    return Text(msgid, tuple(params.items()), context=context)


def render(text: Text | str | None, language: str) -> str:
    """A text in ``language``; a plain string (a name, a title a member typed) is shown as it is."""
    if text is None:
        return ""
    return text.render(language) if isinstance(text, Text) else text


class Joined:
    """``a, b and c`` as a placeholder's value, in the language of the text it fills."""

    def __init__(self, items: list[Text | str]) -> None:
        self.items = tuple(items)

    def render(self, language: str) -> str:
        return joined(list(self.items), language)


def _value(value: Any, language: str) -> Any:
    # Numbers are left as they are (a talk's id must read #1234, not « #1 234 »): quantities that need the
    # language's grouping go through number() or _n().
    return value.render(language) if isinstance(value, Text | Joined) else value


def joined(items: list[Text | str], language: str) -> str:
    """``a, b and c`` in the language's own words."""
    return format_list([render(item, language) for item in items], locale=language)


# --- dates, durations and numbers written out as text ------------------------------------------------------
# Discord timestamps (<t:...>) are localised by each member's client; these are for .ics files, emails, CSV
# exports and the web page, where Podium writes the words itself.

_DATE_TIME = {
    "en": "{date} at {time}",
    "fr": "{date} à {time}",
}


def long_datetime(moment: datetime, tz: ZoneInfo, language: str) -> str:
    """E.g. « jeudi 3 décembre 2026 à 18:00 », "Thursday, December 3, 2026 at 18:00"."""
    local = moment.astimezone(tz)
    date_text = format_date(local.date(), "full", locale=language)
    time_text = format_time(local, "HH:mm", tzinfo=tz, locale=language)
    pattern = _DATE_TIME.get(language, _DATE_TIME[DEFAULT_LANGUAGE])
    return pattern.format(date=date_text, time=time_text)


def short_datetime(moment: datetime, tz: ZoneInfo, language: str) -> str:
    """E.g. « 3 déc. 2026 18:00 », "Dec 3, 2026 18:00": compact, for lists and choice labels.

    Babel's medium date, not its short one: English short dates are month first ("12/3/26"), which a school
    in Europe reads as 12 March.
    """
    local = moment.astimezone(tz)
    return f"{format_date(local.date(), 'medium', locale=language)} {format_time(local, 'HH:mm', locale=language)}"


def duration(minutes: int, language: str) -> str:
    """E.g. « 1 heure 30 minutes », "90 minutes" → "1 hour 30 minutes"."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(format_timedelta(timedelta(hours=hours), threshold=1, locale=language, format="long"))
    if rest or not hours:
        parts.append(
            format_timedelta(timedelta(minutes=rest), threshold=1, granularity="minute", locale=language, format="long")
        )
    return " ".join(parts)


def number(value: float, language: str) -> str:
    return format_decimal(value, locale=language)


def display_name(language: str) -> str:
    """The language's own name, e.g. « Français »."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]  # it heads a choice or a line: « Français », not « français »
