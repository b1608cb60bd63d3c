"""Request body validation with Discord's limits, reported as 50035 ``Invalid Form Body`` errors."""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from .errors import ApiError, FormErrors
from .state import MessageFlag

Path = Sequence[str | int]

CONTENT_LIMIT = 2000
EMBED_LIMIT = 10
EMBED_TOTAL_LIMIT = 6000
LEGACY_ROWS_LIMIT = 5
V2_COMPONENTS_LIMIT = 40
V2_TEXT_LIMIT = 4000

BUTTON = 2
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
TEXT_INPUT = 4
V2_TOP_LEVEL = frozenset({1, 9, 10, 12, 13, 14, 17})
CONTAINER_CHILDREN = frozenset({1, 9, 10, 12, 13, 14})


def _is_url(value: Any, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    if parsed.scheme == "attachment" and "attachment" in schemes:
        return bool(parsed.netloc or parsed.path)
    return parsed.scheme in schemes and bool(parsed.netloc)


def _check_url(errors: FormErrors, path: Path, value: Any, schemes: tuple[str, ...] = ("http", "https")) -> None:
    if value is not None and not _is_url(value, schemes):
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")


def _check_int_range(errors: FormErrors, path: Path, value: Any, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
    elif value < low:
        errors.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}.")
    elif value > high:
        errors.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")


# -- embeds ----------------------------------------------------------------------------------------------


def validate_embed(errors: FormErrors, path: Path, embed: Any) -> int:
    """Checks one embed; returns the characters it counts towards the 6000 total."""
    if not isinstance(embed, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return 0
    total = 0
    title = embed.get("title")
    errors.max_length([*path, "title"], title, 256)
    description = embed.get("description")
    errors.max_length([*path, "description"], description, 4096)
    total += len(title or "") + len(description or "")
    _check_url(errors, [*path, "url"], embed.get("url"))
    _check_int_range(errors, [*path, "color"], embed.get("color"), 0, 0xFFFFFF)
    timestamp = embed.get("timestamp")
    if timestamp is not None:
        try:
            datetime.datetime.fromisoformat(str(timestamp))
        except ValueError:
            errors.add([*path, "timestamp"], "DATE_TYPE_INVALID", f'Could not interpret "{timestamp}" as date.')
    footer = embed.get("footer")
    if footer is not None:
        text = footer.get("text") if isinstance(footer, dict) else None
        if not text:
            errors.required([*path, "footer", "text"])
        errors.max_length([*path, "footer", "text"], text, 2048)
        total += len(text or "")
        _check_url(errors, [*path, "footer", "icon_url"], footer.get("icon_url"), ("http", "https", "attachment"))
    author = embed.get("author")
    if author is not None:
        name = author.get("name") if isinstance(author, dict) else None
        if not name:
            errors.required([*path, "author", "name"])
        errors.max_length([*path, "author", "name"], name, 256)
        total += len(name or "")
        _check_url(errors, [*path, "author", "url"], author.get("url"))
        _check_url(errors, [*path, "author", "icon_url"], author.get("icon_url"), ("http", "https", "attachment"))
    for key in ("image", "thumbnail"):
        media = embed.get(key)
        if media is not None:
            url = media.get("url") if isinstance(media, dict) else None
            if url is None:
                errors.required([*path, key, "url"])
            else:
                _check_url(errors, [*path, key, "url"], url, ("http", "https", "attachment"))
    fields = embed.get("fields") or []
    if len(fields) > 25:
        errors.add([*path, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for index, fld in enumerate(fields):
        fpath = [*path, "fields", index]
        name = fld.get("name") if isinstance(fld, dict) else None
        value = fld.get("value") if isinstance(fld, dict) else None
        if name is None or name == "":
            errors.required([*fpath, "name"])
        else:
            errors.max_length([*fpath, "name"], name, 256)
        if value is None or value == "":
            errors.required([*fpath, "value"])
        else:
            errors.max_length([*fpath, "value"], value, 1024)
        total += len(name or "") + len(value or "")
    return total


def validate_embeds(errors: FormErrors, path: Path, embeds: Any) -> None:
    if embeds is None:
        return
    if not isinstance(embeds, list):
        errors.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return
    if len(embeds) > EMBED_LIMIT:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_LIMIT} or fewer in length.")
    total = sum(validate_embed(errors, [*path, i], e) for i, e in enumerate(embeds))
    if total > EMBED_TOTAL_LIMIT:
        errors.add(path, "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}")


# -- components ------------------------------------------------------------------------------------------


class _ComponentCheck:
    def __init__(self, errors: FormErrors) -> None:
        self.errors = errors
        self.custom_ids: set[str] = set()
        self.count = 0
        self.text_length = 0

    def custom_id(self, path: Path, value: Any, *, required: bool = True) -> None:
        if value is None:
            if required:
                self.errors.required([*path, "custom_id"])
            return
        self.errors.max_length([*path, "custom_id"], value, 100, minimum=1)
        if value in self.custom_ids:
            self.errors.add(
                [*path, "custom_id"], "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
            )
        self.custom_ids.add(value)

    def button(self, path: Path, comp: dict[str, Any]) -> None:
        style = comp.get("style")
        if style not in (1, 2, 3, 4, 5, 6):
            self.errors.add([*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}.")
        self.errors.max_length([*path, "label"], comp.get("label"), 80)
        if style == 5:
            if comp.get("url") is None:
                self.errors.required([*path, "url"])
            _check_url(self.errors, [*path, "url"], comp.get("url"), ("http", "https", "discord"))
            if comp.get("custom_id") is not None:
                self.errors.add(
                    [*path, "custom_id"],
                    "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                    "Link buttons cannot have a custom id",
                )
        elif style == 6:
            if comp.get("sku_id") is None:
                self.errors.required([*path, "sku_id"])
        else:
            self.custom_id(path, comp.get("custom_id"))
            if not comp.get("label") and not comp.get("emoji"):
                self.errors.add(path, "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A label or emoji is required")

    def select(self, path: Path, comp: dict[str, Any]) -> None:
        self.custom_id(path, comp.get("custom_id"))
        self.errors.max_length([*path, "placeholder"], comp.get("placeholder"), 150)
        _check_int_range(self.errors, [*path, "min_values"], comp.get("min_values"), 0, 25)
        _check_int_range(self.errors, [*path, "max_values"], comp.get("max_values"), 1, 25)
        if comp.get("type") == 3:
            options = comp.get("options") or []
            if not 1 <= len(options) <= 25:
                self.errors.add([*path, "options"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
            values: set[str] = set()
            for index, option in enumerate(options):
                opath = [*path, "options", index]
                self.errors.max_length([*opath, "label"], option.get("label"), 100, minimum=1)
                self.errors.max_length([*opath, "value"], option.get("value"), 100, minimum=1)
                self.errors.max_length([*opath, "description"], option.get("description"), 100)
                if option.get("value") in values:
                    self.errors.add(
                        [*opath, "value"], "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED", "Option values must be unique"
                    )
                values.add(option.get("value"))

    def interactive(self, path: Path, comp: dict[str, Any]) -> None:
        kind = comp.get("type")
        self.count += 1
        if kind == BUTTON:
            self.button(path, comp)
        elif kind in SELECT_TYPES:
            self.select(path, comp)
        else:
            self.errors.add(
                [*path, "type"],
                "UNION_TYPE_CHOICES",
                f'Value of field "type" must be one of (2, 3, 5, 6, 7, 8), got {kind}.',
            )

    def action_row(self, path: Path, row: dict[str, Any]) -> None:
        self.count += 1
        children = row.get("components") or []
        if not 1 <= len(children) <= 5:
            self.errors.add([*path, "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        if any(c.get("type") in SELECT_TYPES for c in children) and len(children) > 1:
            self.errors.add(
                [*path, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for index, child in enumerate(children):
            self.interactive([*path, "components", index], child)

    def v2(self, path: Path, comp: dict[str, Any], allowed: frozenset[int]) -> None:
        kind = comp.get("type")
        if kind not in allowed:
            self.errors.add([*path, "type"], "UNION_TYPE_CHOICES", f"Component type {kind} is not allowed here.")
            return
        if kind == 1:
            self.action_row(path, comp)
            return
        self.count += 1
        if kind == 10:
            content = comp.get("content")
            if not content:
                self.errors.required([*path, "content"])
            self.text_length += len(content or "")
        elif kind == 9:
            texts = comp.get("components") or []
            if not 1 <= len(texts) <= 3:
                self.errors.add([*path, "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 3 in length.")
            for index, text in enumerate(texts):
                self.v2([*path, "components", index], text, frozenset({10}))
            accessory = comp.get("accessory")
            if accessory is None:
                self.errors.required([*path, "accessory"])
            elif accessory.get("type") == BUTTON:
                self.interactive([*path, "accessory"], accessory)
            else:
                self.count += 1
        elif kind == 17:
            for index, child in enumerate(comp.get("components") or []):
                self.v2([*path, "components", index], child, CONTAINER_CHILDREN)


def validate_components(errors: FormErrors, path: Path, components: Any, *, v2: bool) -> None:
    if components is None:
        return
    if not isinstance(components, list):
        errors.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return
    check = _ComponentCheck(errors)
    if v2:
        for index, comp in enumerate(components):
            check.v2([*path, index], comp, V2_TOP_LEVEL)
        if check.count > V2_COMPONENTS_LIMIT:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {V2_COMPONENTS_LIMIT} or fewer in length.")
        if check.text_length > V2_TEXT_LIMIT:
            errors.add(path, "COMPONENT_TEXT_LENGTH_EXCEEDED", f"Total text length must be {V2_TEXT_LIMIT} or fewer.")
        return
    if len(components) > LEGACY_ROWS_LIMIT:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {LEGACY_ROWS_LIMIT} or fewer in length.")
    for index, row in enumerate(components):
        if not isinstance(row, dict) or row.get("type") != 1:
            kind = row.get("type") if isinstance(row, dict) else None
            errors.add(
                [*path, index, "type"], "UNION_TYPE_CHOICES", f'Value of field "type" must be one of (1,), got {kind}.'
            )
            continue
        check.action_row([*path, index], row)


def walk_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every component, depth first (rows, sections, containers, labels included)."""
    found: list[dict[str, Any]] = []
    for comp in components or []:
        found.append(comp)
        found.extend(walk_components(comp.get("components") or []))
        for key in ("accessory", "component"):
            if isinstance(comp.get(key), dict):
                found.extend(walk_components([comp[key]]))
    return found


def number_components(components: list[dict[str, Any]]) -> None:
    """Discord gives each component a numeric ``id`` (in order) when the sender did not."""
    used = {c["id"] for c in walk_components(components) if isinstance(c.get("id"), int)}
    counter = 0
    for comp in walk_components(components):
        if "id" not in comp:
            counter += 1
            while counter in used:
                counter += 1
            comp["id"] = counter


# -- messages --------------------------------------------------------------------------------------------


def validate_allowed_mentions(errors: FormErrors, path: Path, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    parse = value.get("parse") or []
    for index, item in enumerate(parse):
        if item not in ("users", "roles", "everyone"):
            errors.add(
                [*path, "parse", index], "BASE_TYPE_CHOICES", "Value must be one of {'users', 'roles', 'everyone'}."
            )
    for key in ("users", "roles"):
        ids = value.get(key) or []
        if ids and key in parse:
            errors.add(
                [*path, "parse"],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{key}"] and {key}: [ids] are mutually exclusive.',
            )
        if len(ids) > 100:
            errors.add([*path, key], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")


def validate_message(
    payload: dict[str, Any],
    *,
    file_count: int,
    prefix: Path = (),
    edit: bool = False,
    kept_attachments: int = 0,
) -> None:
    """Validates a create/edit message body (channel message, interaction response data, or webhook message)."""
    errors = FormErrors(prefix)
    flags = payload.get("flags") or 0
    if not isinstance(flags, int):
        errors.add(["flags"], "NUMBER_TYPE_COERCE", f'Value "{flags}" is not int.')
        flags = 0
    v2 = bool(flags & MessageFlag.IS_COMPONENTS_V2)
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        errors.add(["content"], "BASE_TYPE_STRING", "Must be a string.")
    else:
        errors.max_length(["content"], content, CONTENT_LIMIT)
    validate_embeds(errors, ["embeds"], payload.get("embeds"))
    validate_components(errors, ["components"], payload.get("components"), v2=v2)
    validate_allowed_mentions(errors, ["allowed_mentions"], payload.get("allowed_mentions"))
    if v2 and (content or payload.get("embeds") or payload.get("poll")):
        errors.add(
            ["content" if content else "embeds"],
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content', 'embeds', 'stickers' and 'poll' fields cannot be used "
            "when using MessageFlags.IS_COMPONENTS_V2",
        )
    nonce = payload.get("nonce")
    if nonce is not None and not (isinstance(nonce, int) or (isinstance(nonce, str) and len(nonce) <= 25)):
        errors.add(["nonce"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    errors.raise_if_any()
    if not edit:
        has_body = bool(
            content
            or payload.get("embeds")
            or payload.get("components")
            or payload.get("sticker_ids")
            or payload.get("poll")
            or file_count
            or kept_attachments
        )
        if not has_body:
            raise ApiError(400, 50006)


# -- interactions ----------------------------------------------------------------------------------------


def validate_modal(data: Any) -> None:
    errors = FormErrors(["data"])
    if not isinstance(data, dict):
        errors.required([])
        errors.raise_if_any()
        return
    errors.max_length(["custom_id"], data.get("custom_id"), 100, minimum=1)
    if data.get("custom_id") is None:
        errors.required(["custom_id"])
    if data.get("title") is None:
        errors.required(["title"])
    errors.max_length(["title"], data.get("title"), 45, minimum=1)
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        errors.add(["components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    seen: set[str] = set()
    for index, comp in enumerate(components):
        path: list[str | int] = ["components", index]
        kind = comp.get("type")
        if kind == 1:
            children = comp.get("components") or []
            if len(children) != 1 or children[0].get("type") != TEXT_INPUT:
                errors.add(
                    [*path, "components"], "MODAL_ACTION_ROW_INVALID", "Modal action rows must hold one text input."
                )
                continue
            _validate_text_input(errors, [*path, "components", 0], children[0], seen, needs_label=True)
        elif kind == 18:
            errors.max_length([*path, "label"], comp.get("label"), 45, minimum=1)
            errors.max_length([*path, "description"], comp.get("description"), 100)
            inner = comp.get("component") or {}
            if inner.get("type") == TEXT_INPUT:
                _validate_text_input(errors, [*path, "component"], inner, seen, needs_label=False)
            elif inner.get("type") in SELECT_TYPES:
                custom_id = inner.get("custom_id")
                errors.max_length([*path, "component", "custom_id"], custom_id, 100, minimum=1)
                seen.add(custom_id)
            else:
                errors.add([*path, "component", "type"], "UNION_TYPE_CHOICES", "Unsupported component in a label.")
        elif kind != 10:
            errors.add([*path, "type"], "UNION_TYPE_CHOICES", f"Component type {kind} is not allowed in a modal.")
    errors.raise_if_any()


def _validate_text_input(
    errors: FormErrors, path: Path, comp: dict[str, Any], seen: set[str], *, needs_label: bool
) -> None:
    custom_id = comp.get("custom_id")
    if custom_id is None:
        errors.required([*path, "custom_id"])
    errors.max_length([*path, "custom_id"], custom_id, 100, minimum=1)
    if custom_id in seen:
        errors.add([*path, "custom_id"], "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
    seen.add(custom_id)
    if comp.get("style") not in (1, 2):
        errors.add([*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2}.")
    if needs_label and not comp.get("label"):
        errors.required([*path, "label"])
    errors.max_length([*path, "label"], comp.get("label"), 45)
    errors.max_length([*path, "placeholder"], comp.get("placeholder"), 100)
    errors.max_length([*path, "value"], comp.get("value"), 4000)
    _check_int_range(errors, [*path, "min_length"], comp.get("min_length"), 0, 4000)
    _check_int_range(errors, [*path, "max_length"], comp.get("max_length"), 1, 4000)


def validate_autocomplete(data: Any, option_type: int | None = None) -> list[dict[str, Any]]:
    """Checks an autocomplete result; choice values must have the focused option's type (3, 4 or 10)."""
    errors = FormErrors(["data"])
    choices = data.get("choices") if isinstance(data, dict) else None
    if choices is None:
        errors.required(["choices"])
        errors.raise_if_any()
        return []
    if len(choices) > 25:
        errors.add(["choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for index, choice in enumerate(choices):
        errors.max_length(["choices", index, "name"], choice.get("name"), 100, minimum=1)
        value = choice.get("value")
        path = ["choices", index, "value"]
        if option_type == 3 and not isinstance(value, str):
            errors.add(path, "BASE_TYPE_STRING", "Must be a string.")
        elif option_type == 4 and (isinstance(value, bool) or not isinstance(value, int)):
            errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
        elif option_type == 10 and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{value}" is not a valid number.')
        elif isinstance(value, str):
            errors.max_length(path, value, 100)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            errors.add(path, "BASE_TYPE_CHOICES", "Must be a string or a number.")
    errors.raise_if_any()
    return list(choices)


# -- application commands --------------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
AUTOCOMPLETE_TYPES = frozenset({3, 4, 10})
OPTION_TYPES = frozenset(range(1, 12))


def _check_name(errors: FormErrors, path: Path, name: Any, *, lower: bool) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name) or (lower and name != name.lower()):
        errors.add([*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _command_size(obj: dict[str, Any]) -> int:
    size = len(obj.get("name") or "") + len(obj.get("description") or "")
    for choice in obj.get("choices") or []:
        size += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    for option in obj.get("options") or []:
        size += _command_size(option)
    return size


def _validate_options(errors: FormErrors, path: Path, options: Any, depth: int) -> None:
    if options is None:
        return
    if not isinstance(options, list):
        errors.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return
    if len(options) > 25:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    kinds = {o.get("type") for o in options if isinstance(o, dict)}
    if kinds & {SUB_COMMAND, SUB_COMMAND_GROUP} and kinds - {SUB_COMMAND, SUB_COMMAND_GROUP}:
        errors.add(
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other types",
        )
    for index, option in enumerate(options):
        opath = [*path, index]
        if not isinstance(option, dict):
            errors.add(opath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        kind = option.get("type")
        if kind not in OPTION_TYPES:
            errors.add([*opath, "type"], "BASE_TYPE_CHOICES", f"Value must be one of {sorted(OPTION_TYPES)}.")
        _check_name(errors, opath, option.get("name"), lower=True)
        if option.get("name") in names:
            errors.add(
                [*opath, "name"], "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique"
            )
        names.add(option.get("name"))
        errors.max_length([*opath, "description"], option.get("description"), 100, minimum=1)
        if option.get("description") is None:
            errors.required([*opath, "description"])
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if kind == SUB_COMMAND_GROUP and depth > 0:
                errors.add(
                    [*opath, "type"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Sub-command groups cannot be nested"
                )
            if kind == SUB_COMMAND and depth > 1:
                errors.add(
                    [*opath, "type"],
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-commands cannot be nested this deep",
                )
            children = option.get("options") or []
            if kind == SUB_COMMAND_GROUP and any(c.get("type") != SUB_COMMAND for c in children):
                errors.add(
                    [*opath, "options"],
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups may only contain sub-commands",
                )
            _validate_options(errors, [*opath, "options"], children, depth + 1)
            continue
        if option.get("required"):
            if seen_optional:
                errors.add(
                    [*opath, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = option.get("choices")
        if choices:
            if len(choices) > 25:
                errors.add([*opath, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            if option.get("autocomplete"):
                errors.add(
                    [*opath, "autocomplete"],
                    "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                    "Autocomplete cannot be enabled on options with choices",
                )
            for cindex, choice in enumerate(choices):
                errors.max_length([*opath, "choices", cindex, "name"], choice.get("name"), 100, minimum=1)
                if isinstance(choice.get("value"), str):
                    errors.max_length([*opath, "choices", cindex, "value"], choice.get("value"), 100)
        if option.get("autocomplete") and kind not in AUTOCOMPLETE_TYPES:
            errors.add(
                [*opath, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_TYPE",
                "Autocomplete is only allowed on string, integer and number options",
            )
        _check_int_range(errors, [*opath, "min_length"], option.get("min_length"), 0, 6000)
        _check_int_range(errors, [*opath, "max_length"], option.get("max_length"), 1, 6000)


def validate_command(errors: FormErrors, path: Path, command: Any) -> None:
    if not isinstance(command, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    kind = command.get("type", 1)
    if kind not in (1, 2, 3, 4):
        errors.add([*path, "type"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
    if kind == 1:
        _check_name(errors, path, command.get("name"), lower=True)
        if command.get("description") is None:
            errors.required([*path, "description"])
        errors.max_length([*path, "description"], command.get("description"), 100, minimum=1)
        _validate_options(errors, [*path, "options"], command.get("options"), 0)
        if _command_size(command) > 8000:
            errors.add(path, "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (8000)")
    else:
        errors.max_length([*path, "name"], command.get("name"), 32, minimum=1)
        if command.get("description"):
            errors.add(
                [*path, "description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
        if command.get("options"):
            errors.add(
                [*path, "options"],
                "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS",
                "Context menu commands cannot have options",
            )
    perms = command.get("default_member_permissions")
    if perms is not None:
        try:
            int(perms)
        except (TypeError, ValueError):
            errors.add(
                [*path, "default_member_permissions"], "NUMBER_TYPE_COERCE", f'Value "{perms}" is not snowflake.'
            )


def validate_command_list(commands: Any) -> None:
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add([], "BASE_TYPE_ARRAY", "Must be an array.")
        errors.raise_if_any()
        return
    seen: set[tuple[int, str]] = set()
    per_type: dict[int, int] = {}
    for index, command in enumerate(commands):
        validate_command(errors, [index], command)
        if not isinstance(command, dict):
            continue
        key = (command.get("type", 1), command.get("name"))
        if key in seen:
            errors.add(
                [index, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {key[1]}",
            )
        seen.add(key)
        per_type[key[0]] = per_type.get(key[0], 0) + 1
    for kind, limit in ((1, 100), (2, 15), (3, 15)):
        if per_type.get(kind, 0) > limit:
            errors.add(
                [],
                "APPLICATION_COMMANDS_LIMIT",
                f"Maximum number of application commands of type {kind} reached ({limit})",
            )
    errors.raise_if_any()
