"""Interactions the emulator sends to the bot, and the record of what the bot answered."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import EmulatorUsageError
from .state import Channel, Guild, MessageFlag, StoredMessage, member_payload

if TYPE_CHECKING:
    from .emulator import DiscordEmulator


class InteractionType:
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


# Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    InteractionType.APPLICATION_COMMAND: frozenset({4, 5, 9}),
    InteractionType.MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    InteractionType.AUTOCOMPLETE: frozenset({8}),
    InteractionType.MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

OPTION_TYPE_NAMES = {
    1: "SUB_COMMAND",
    2: "SUB_COMMAND_GROUP",
    3: "STRING",
    4: "INTEGER",
    5: "BOOLEAN",
    6: "USER",
    7: "CHANNEL",
    8: "ROLE",
    9: "MENTIONABLE",
    10: "NUMBER",
    11: "ATTACHMENT",
}


def embed_text(embed: Mapping[str, Any]) -> str:
    parts = [embed.get("title"), embed.get("description")]
    for fld in embed.get("fields") or []:
        parts.extend([fld.get("name"), fld.get("value")])
    parts.append((embed.get("footer") or {}).get("text"))
    parts.append((embed.get("author") or {}).get("name"))
    return "\n".join(p for p in parts if p)


def message_text(message: Mapping[str, Any]) -> str:
    parts = [message.get("content") or ""]
    parts.extend(embed_text(e) for e in message.get("embeds") or [])

    def walk(components: list[dict[str, Any]]) -> None:
        for comp in components:
            if comp.get("type") == 10:
                parts.append(comp.get("content") or "")
            walk(comp.get("components") or [])

    walk(message.get("components") or [])
    return "\n".join(p for p in parts if p)


class EmulatedInteraction:
    """An interaction sent to the bot, and everything the bot did with it (callback, edits, follow-ups)."""

    def __init__(
        self,
        emulator: DiscordEmulator,
        *,
        id: int,
        token: str,
        type: int,
        payload: dict[str, Any],
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        source_message_id: int | None = None,
    ) -> None:
        self._emu = emulator
        self.id = id
        self.token = token
        self.type = type
        self.payload = payload
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.source_message_id = source_message_id
        self.created = time.monotonic()
        self.callbacks: list[dict[str, Any]] = []
        self.response_type: int | None = None
        self.response_data: dict[str, Any] | None = None
        self.original_message_id: int | None = None
        self.followup_ids: list[int] = []
        self.updated_after_defer = False
        self.rejected: list[tuple[str, int, int]] = []  # (what, status, code) of requests Discord refused

    def __repr__(self) -> str:
        return f"<EmulatedInteraction id={self.id} type={self.type} response_type={self.response_type}>"

    # -- waiting -------------------------------------------------------------------------------------

    async def wait_response(self, timeout: float = 5.0) -> dict[str, Any]:
        """Waits for the interaction callback and returns its body ({"type": ..., "data": ...})."""
        await self._emu.changed.wait_for(
            lambda: self.response_type is not None, timeout, lambda: f"a response to {self!r}{self._rejections()}"
        )
        return self.callbacks[0]

    async def wait_done(self, timeout: float = 5.0) -> EmulatedInteraction:
        """Waits for a final answer: a message, an update, choices or a modal (a deferral alone is not final)."""
        await self._emu.changed.wait_for(
            lambda: self.done, timeout, lambda: f"a final answer to {self!r}{self._rejections()}"
        )
        return self

    async def wait_followups(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        await self._emu.changed.wait_for(
            lambda: len(self.followup_ids) >= count, timeout, lambda: f"{count} follow-up(s) to {self!r}"
        )
        return self.followups

    def _rejections(self) -> str:
        return f" (Discord refused: {self.rejected})" if self.rejected else ""

    @property
    def done(self) -> bool:
        if self.response_type in (4, 7, 8, 9):
            return True
        if self.response_type in (5, 6):
            return self.updated_after_defer or bool(self.followup_ids)
        return False

    @property
    def expired(self) -> bool:
        return time.monotonic() - self.created > self._emu.interaction_token_ttl

    # -- results -------------------------------------------------------------------------------------

    def _stored(self, message_id: int | None) -> StoredMessage | None:
        if message_id is None:
            return None
        stored = self._emu.world.messages.get(message_id)
        return None if stored is None or stored.deleted else stored

    @property
    def original(self) -> dict[str, Any] | None:
        """The current @original message (None before a message response, or after it was deleted)."""
        stored = self._stored(self.original_message_id)
        return stored.inspect() if stored else None

    @property
    def followups(self) -> list[dict[str, Any]]:
        return [s.inspect() for s in (self._stored(i) for i in self.followup_ids) if s is not None]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """@original (if it is a real message, not a loading placeholder) followed by the follow-ups."""
        result = []
        original = self.original
        if original is not None and not original["flags"] & MessageFlag.LOADING:
            result.append(original)
        # The first follow-up after a deferral is the @original message itself: list it once.
        seen = {m["id"] for m in result}
        return result + [m for m in self.followups if m["id"] not in seen]

    @property
    def message(self) -> dict[str, Any] | None:
        """The bot's answer: @original once it holds a real message, otherwise the latest follow-up."""
        original = self.original
        if (
            original is not None
            and not original["flags"] & MessageFlag.LOADING
            and (self.response_type in (4, 7) or self.updated_after_defer)
        ):
            return original
        followups = self.followups
        return followups[-1] if followups else None

    @property
    def ephemeral(self) -> bool:
        message = self.message
        if message is not None:
            return bool(message["flags"] & MessageFlag.EPHEMERAL)
        return bool((self.response_data or {}).get("flags", 0) & MessageFlag.EPHEMERAL)

    @property
    def content(self) -> str | None:
        message = self.message
        return message["content"] if message else None

    @property
    def embeds(self) -> list[dict[str, Any]]:
        message = self.message
        return message["embeds"] if message else []

    @property
    def components(self) -> list[dict[str, Any]]:
        message = self.message
        return message["components"] if message else []

    @property
    def attachments(self) -> list[tuple[str, bytes]]:
        """(filename, bytes) of every attachment in @original and the follow-ups."""
        return [
            (att["filename"], self._emu.attachment_bytes(att))
            for message in self.messages
            for att in message.get("attachments") or []
        ]

    @property
    def response(self) -> dict[str, Any] | None:
        """The ``data`` of the bot's callback (choices, modal, message fields), or None before it."""
        return self.response_data

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        if self.response_type != CallbackType.AUTOCOMPLETE_RESULT:
            return None
        return list((self.response_data or {}).get("choices") or [])

    @property
    def modal(self) -> dict[str, Any] | None:
        if self.response_type != CallbackType.MODAL:
            return None
        return self.response_data

    def all_text(self) -> str:
        """Contents, embed texts and text displays of every message the bot sent for this interaction."""
        return "\n".join(message_text(m) for m in self.messages)


# -- building interaction payloads -----------------------------------------------------------------------


def find_option(options: list[dict[str, Any]], name: str, where: str) -> dict[str, Any]:
    for option in options:
        if option.get("name") == name:
            return option
    names = [o.get("name") for o in options]
    raise EmulatorUsageError(f"{where} has no option or subcommand {name!r}; it has {names}")


def command_path(command: dict[str, Any], parts: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Walks "group sub" below a command; returns (the option chain, the leaf's option definitions)."""
    chain: list[dict[str, Any]] = []
    options: list[dict[str, Any]] = command.get("options") or []
    where = f"command {command['name']!r}"
    for part in parts:
        option = find_option(options, part, where)
        if option.get("type") not in (1, 2):
            raise EmulatorUsageError(f"{part!r} in {where} is an option, not a subcommand")
        chain.append(option)
        options = option.get("options") or []
        where = f"subcommand {part!r}"
    if any(o.get("type") in (1, 2) for o in options):
        subs = [o["name"] for o in options]
        raise EmulatorUsageError(f"{where} needs a subcommand, one of {subs}")
    return chain, options


class OptionBuilder:
    """Turns test values into interaction option payloads, typed by the stored command definition."""

    def __init__(self, emulator: DiscordEmulator, guild: Guild | None, channel: Channel, user_id: int) -> None:
        self.emu = emulator
        self.world = emulator.world
        self.guild = guild
        self.channel = channel
        self.user_id = user_id
        self.resolved: dict[str, dict[str, Any]] = {}

    def _resolve(self, kind: str, key: int, value: dict[str, Any]) -> None:
        self.resolved.setdefault(kind, {})[str(key)] = value

    @staticmethod
    def _snowflake(value: Any, name: str) -> int:
        raw = getattr(value, "id", value)
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise EmulatorUsageError(f"option {name!r} needs an id, got {value!r}") from None

    def _user(self, name: str, value: Any) -> str:
        uid = self._snowflake(value, name)
        user = self.world.users.get(uid)
        if user is None:
            raise EmulatorUsageError(f"option {name!r}: unknown user {uid}")
        self._resolve("users", uid, user.payload())
        if self.guild is not None and uid in self.guild.members:
            member = self.guild.members[uid]
            perms = self.world.channel_permissions(self.channel, uid)
            self._resolve("members", uid, member_payload(self.world, member, with_user=False, permissions=perms))
        return str(uid)

    def _role(self, name: str, value: Any) -> str:
        rid = self._snowflake(value, name)
        if self.guild is None or rid not in self.guild.roles:
            raise EmulatorUsageError(f"option {name!r}: role {rid} is not in this guild")
        self._resolve("roles", rid, self.guild.roles[rid].payload())
        return str(rid)

    def _channel(self, name: str, value: Any, option: dict[str, Any]) -> str:
        cid = self._snowflake(value, name)
        channel = self.world.channels.get(cid)
        if channel is None or channel.guild_id != (self.guild.id if self.guild else None):
            raise EmulatorUsageError(f"option {name!r}: channel {cid} is not in this guild")
        allowed = option.get("channel_types")
        if allowed and channel.type not in allowed:
            raise EmulatorUsageError(f"option {name!r}: channel type {channel.type} not in {allowed}")
        self._resolve("channels", cid, self.world.interaction_channel_payload(channel, self.user_id))
        return str(cid)

    def _attachment(self, name: str, value: Any) -> str:
        if isinstance(value, tuple) and len(value) == 2:
            filename, data = value
        elif isinstance(value, Mapping):
            filename, data = value["filename"], value["data"]
        else:
            raise EmulatorUsageError(f"option {name!r}: give an attachment as (filename, bytes)")
        payload = self.emu.messages_store.new_attachment(self.channel.id, str(filename), bytes(data), ephemeral=True)
        self._resolve("attachments", int(payload["id"]), payload)
        return payload["id"]

    def value(self, option: dict[str, Any], value: Any, *, focused: bool) -> Any:
        name = option["name"]
        kind = option.get("type")
        label = OPTION_TYPE_NAMES.get(kind, str(kind))
        if focused:
            if not option.get("autocomplete"):
                raise EmulatorUsageError(f"option {name!r} does not have autocomplete enabled")
            return str(value)
        if kind == 3:
            if not isinstance(value, str):
                raise EmulatorUsageError(f"option {name!r} is {label}, got {value!r}")
            low, high = option.get("min_length"), option.get("max_length")
            if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                raise EmulatorUsageError(f"option {name!r}: length {len(value)} outside [{low}, {high}]")
        elif kind in (4, 10):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (kind == 4 and isinstance(value, float))
            ):
                raise EmulatorUsageError(f"option {name!r} is {label}, got {value!r}")
            low, high = option.get("min_value"), option.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise EmulatorUsageError(f"option {name!r}: {value} outside [{low}, {high}]")
        elif kind == 5:
            if not isinstance(value, bool):
                raise EmulatorUsageError(f"option {name!r} is {label}, got {value!r}")
        elif kind == 6:
            return self._user(name, value)
        elif kind == 7:
            return self._channel(name, value, option)
        elif kind == 8:
            return self._role(name, value)
        elif kind == 9:
            sid = self._snowflake(value, name)
            if self.guild is not None and sid in self.guild.roles:
                return self._role(name, sid)
            return self._user(name, sid)
        elif kind == 11:
            return self._attachment(name, value)
        else:
            raise EmulatorUsageError(f"option {name!r} has unsupported type {kind}")
        choices = option.get("choices")
        if choices and value not in [c.get("value") for c in choices]:
            raise EmulatorUsageError(f"option {name!r}: {value!r} is not one of the choices {choices}")
        return value

    def build(
        self, definitions: list[dict[str, Any]], values: Mapping[str, Any], *, focused: str | None, where: str
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for name, value in values.items():
            option = find_option(definitions, name, where)
            if option.get("type") in (1, 2):
                raise EmulatorUsageError(f"{name!r} is a subcommand: put it in the command name")
            if value is None:
                continue
            entry: dict[str, Any] = {
                "name": name,
                "type": option["type"],
                "value": self.value(option, value, focused=name == focused),
            }
            if name == focused:
                entry["focused"] = True
            result.append(entry)
        if focused is None:
            missing = [o["name"] for o in definitions if o.get("required") and values.get(o["name"]) is None]
            if missing:
                raise EmulatorUsageError(f"{where}: required option(s) {missing} not given")
        elif focused not in values:
            raise EmulatorUsageError(f"focused option {focused!r} has no value")
        # Discord sends options in the order they were declared.
        order = {o["name"]: i for i, o in enumerate(definitions)}
        result.sort(key=lambda e: order[e["name"]])
        return result
