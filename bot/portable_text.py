"""Texts that cross a process boundary as JSON, checked on the way back in.

The calendar reader (bot.import_worker) runs on an uploaded file in a child process and answers with texts
(a refusal, for one). Unpickling what such a process writes would let it build any object in the bot, so a
text travels as plain JSON: its message id, values, plural, count and context. It is rebuilt only if the
catalogue template has the message among the texts of the files the caller names (see template()), the
values fill exactly the message's placeholders, and each value is one of the few kinds a text holds (a short
string, a finite number, a day, a command, another text, at most DEPTH_MAX texts deep). Anything else raises
MalformedTextError, and the caller shows a generic text instead.

Dates and quantities travel as values (Day, Number), not as English words, so they are written out in the
reader's language when the text is rendered.
"""

from __future__ import annotations

import json
import math
import string
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.command_names import Command
from bot.i18n import DOMAIN, LOCALE_DIR, Text

STRING_MAX = 500  # characters in one value: a title, a parser's detail, a command's example value
DEPTH_MAX = 4  # a text inside a text inside...: the importer's go three deep
NUMBER_MAX = 10**15  # larger numbers mean nothing in a text, and formatting huge integers is costly
DIGITS_MAX = 6
COMMAND_WORDS_MAX = 3  # /talk import, /email set...
OPTIONS_MAX = 25  # Discord's own limit for one command
_TEXT_FIELDS = frozenset({"msgid", "params", "plural", "count", "context"})


class MalformedTextError(ValueError):
    """What came back is not a text this process would have written; the message says why (for the logs)."""


@dataclass(frozen=True, kw_only=True)
class Day(Text):
    """A calendar day, written out in the reader's language: « 1 janvier 1800 », "January 1, 1800"."""

    day: date

    @classmethod
    def of(cls, value: date) -> Day:
        return cls(msgid=value.isoformat(), day=value)

    def render(self, language: str) -> str:
        return format_date(self.day, "long", locale=language)


@dataclass(frozen=True, kw_only=True)
class Number(Text):
    """A quantity with the language's digit grouping and decimal sign: « 50 000 », "1.5" / « 1,5 »."""

    value: int | float
    digits: int | None = None  # a fixed number of decimals ("1.0 MB"); None keeps the value's own

    @classmethod
    def of(cls, value: int | float, digits: int | None = None) -> Number:
        return cls(msgid=str(value), value=value, digits=digits)

    def render(self, language: str) -> str:
        if self.digits is None:
            return format_decimal(self.value, locale=language)
        pattern = "#,##0." + "0" * self.digits if self.digits else "#,##0"
        return format_decimal(self.value, format=pattern, locale=language, decimal_quantization=True)


# --- writing -------------------------------------------------------------------------------------------


def dump(text: Text) -> dict[str, Any]:
    """The JSON form of a text built with _(), _n() or _p(); TypeError for a value no text should hold."""
    if type(text) is not Text:
        raise TypeError(f"not a plain text: {type(text).__name__}")
    return {
        "msgid": text.msgid,
        "params": [[name, _dump_value(value)] for name, value in text.params],
        "plural": text.plural,
        "count": text.count,
        "context": text.context,
    }


def dumps(text: Text) -> str:
    """dump() as a JSON document; ValueError for a number that is not finite."""
    return json.dumps(dump(text), allow_nan=False, ensure_ascii=False)


def _dump_value(value: object) -> object:
    if isinstance(value, bool):
        raise TypeError("a yes/no value has no words of its own in a text")
    if isinstance(value, str | int | float):
        return value
    if type(value) is Text:
        return {"text": dump(value)}
    if isinstance(value, Day):
        return {"day": value.day.isoformat()}
    if isinstance(value, Number):
        return {"number": value.value, "digits": value.digits}
    if isinstance(value, Command):
        return {"command": {"path": list(value.path), "options": [list(option) for option in value.options]}}
    raise TypeError(f"a text cannot carry a {type(value).__name__} across processes")


# --- reading -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """What a text may name: the catalogue's messages (with their plural), command and option names."""

    messages: dict[tuple[str | None, str], str | None]
    commands: frozenset[str]
    options: frozenset[str]


@cache
def template(*sources: str) -> Known:
    """The texts of the catalogue template (bot/locale/podium.pot, which `python -m bot.catalog` keeps in step
    with the code) written in ``sources`` (paths such as "bot/importer.py"; every file when none is given),
    and every command and option name."""
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("rb") as source:
        catalog = read_po(source)
    messages: dict[tuple[str | None, str], str | None] = {}
    commands, options = set(), set()
    for message in catalog:
        if not message.id:
            continue
        singular, plural = (
            (message.id[0], message.id[1]) if isinstance(message.id, tuple | list) else (message.id, None)
        )
        if message.context == "command name":
            commands.add(singular)
        elif message.context == "option name":
            options.add(singular)
        if not sources or any(path in sources for path, _line in message.locations):
            messages[(message.context, singular)] = plural
    return Known(messages, frozenset(commands), frozenset(options))


def read_json(raw: bytes | str) -> Any:
    """A JSON document from another process: no NaN or Infinity, and nesting too deep to parse is refused."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and MalformedTextError are ValueErrors
        raise MalformedTextError(f"not JSON: {str(error)[:200]}") from None


def _no_constant(name: str) -> object:
    raise MalformedTextError(f"{name} is not a number")


def loads(raw: bytes | str, known: Known | None = None) -> Text:
    return load(read_json(raw), known)


def load(payload: object, known: Known | None = None) -> Text:
    """The text a dump() describes, once checked (see the module's docstring); MalformedTextError otherwise."""
    return _load_text(payload, 1, known or template())


def _load_text(payload: object, depth: int, known: Known) -> Text:
    if depth > DEPTH_MAX:
        raise MalformedTextError(f"texts nested more than {DEPTH_MAX} deep")
    if not isinstance(payload, dict) or "msgid" not in payload or not set(payload) <= _TEXT_FIELDS:
        raise MalformedTextError("not a text")
    msgid = payload["msgid"]
    plural = payload.get("plural")
    context = payload.get("context")
    count = payload.get("count")
    if not isinstance(msgid, str) or not all(part is None or isinstance(part, str) for part in (plural, context)):
        raise MalformedTextError("message id, plural and context are strings")
    key = (context, msgid)
    if key not in known.messages or known.messages[key] != plural:
        raise MalformedTextError(f"not in the catalogue: {msgid[:80]!r}")
    if plural is None:
        if count is not None:
            raise MalformedTextError("a count without a plural")
    elif not _is_integer(count):
        raise MalformedTextError("a plural without a whole count")
    params = payload.get("params", [])
    if not isinstance(params, list) or not all(isinstance(p, list) and len(p) == 2 for p in params):
        raise MalformedTextError("params are [name, value] pairs")
    names = [name for name, _value in params]
    if not all(isinstance(name, str) for name in names):
        raise MalformedTextError("placeholder names are strings")
    expected = _fields(msgid) | _fields(plural or "")
    if count is not None:
        expected.discard("count")  # filled from the count, in the language's digits
    if len(set(names)) != len(names) or set(names) != expected:
        raise MalformedTextError(f"placeholders {sorted(map(str, names))} instead of {sorted(expected)}")
    values = tuple((name, _load_value(value, depth, known)) for name, value in params)
    return Text(msgid, values, plural=plural, count=count, context=context)


def _fields(message: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in string.Formatter().parse(message) if name is not None}


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= NUMBER_MAX


def _is_number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= NUMBER_MAX
    return _is_integer(value)


def _short(value: object) -> str:
    if not isinstance(value, str) or len(value) > STRING_MAX:
        raise MalformedTextError(f"not a string of at most {STRING_MAX} characters")
    return value


def _load_value(value: object, depth: int, known: Known) -> object:
    if isinstance(value, str):
        return _short(value)
    if _is_number(value):
        return value
    if not isinstance(value, dict):
        raise MalformedTextError(f"a value of an unknown kind: {type(value).__name__}")
    if set(value) == {"text"}:
        return _load_text(value["text"], depth + 1, known)
    if set(value) == {"day"}:
        try:
            return Day.of(date.fromisoformat(_short(value["day"])))
        except ValueError:
            raise MalformedTextError("not a day") from None
    if set(value) == {"number", "digits"}:
        digits = value["digits"]
        if not _is_number(value["number"]) or not (
            digits is None or (_is_integer(digits) and 0 <= digits <= DIGITS_MAX)
        ):
            raise MalformedTextError("not a finite number")
        return Number.of(value["number"], digits)
    if set(value) == {"command"}:
        return _load_command(value["command"], known)
    raise MalformedTextError(f"a value of an unknown kind: {sorted(map(str, value))}")


def _load_command(value: object, known: Known) -> Command:
    if not isinstance(value, dict) or set(value) != {"path", "options"}:
        raise MalformedTextError("not a command")
    path, options = value["path"], value["options"]
    if not isinstance(path, list) or not 1 <= len(path) <= COMMAND_WORDS_MAX:
        raise MalformedTextError("not a command of this bot")
    if not all(isinstance(word, str) and word in known.commands for word in path):
        raise MalformedTextError("not a command of this bot")
    if not isinstance(options, list) or len(options) > OPTIONS_MAX:
        raise MalformedTextError("a command's options are [name, value] pairs")
    if not all(
        isinstance(o, list) and len(o) == 2 and isinstance(o[0], str) and o[0] in known.options for o in options
    ):
        raise MalformedTextError("not an option of this bot")
    pairs = tuple((name, _short(option)) for name, option in options)
    return Command(msgid="/" + " ".join(path), path=tuple(path), options=pairs)
