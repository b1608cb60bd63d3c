"""Creating, editing and dispatching messages the way Discord stores them."""

from __future__ import annotations

import copy
import mimetypes
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ApiError, form_error
from .gateway import Intent
from .state import (
    Channel,
    MessageFlag,
    Perm,
    StoredAttachment,
    StoredMessage,
    World,
    iso_now,
    member_payload,
)
from .validation import number_components, validate_message

if TYPE_CHECKING:
    from .emulator import DiscordEmulator

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")
UNSAFE_FILENAME = re.compile(r"[^\w.\-]")

# Flags a sender may set when creating a message; others are ignored as Discord does.
CREATE_FLAGS = MessageFlag.SUPPRESS_EMBEDS | MessageFlag.SUPPRESS_NOTIFICATIONS | MessageFlag.IS_COMPONENTS_V2
# How long Discord remembers an enforced nonce ("a few minutes"); each emulator has its own ``nonce_window``.
DEFAULT_NONCE_WINDOW = 120.0


@dataclass
class UploadedFile:
    field: str
    filename: str
    data: bytes

    @property
    def index(self) -> int | None:
        match = re.fullmatch(r"files\[(\d+)\]", self.field)
        return int(match.group(1)) if match else None


def sanitize_filename(name: str) -> str:
    """Discord replaces spaces and unusual characters in attachment names."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return UNSAFE_FILENAME.sub("_", name) or "unknown"


def guess_content_type(filename: str) -> str | None:
    kind, _ = mimetypes.guess_type(filename)
    if kind is None:
        return None
    if kind.startswith("text/"):
        return f"{kind}; charset=utf-8"
    return kind


class MessageStore:
    """Message creation and edits shared by channel, webhook and interaction routes."""

    def __init__(self, emulator: DiscordEmulator) -> None:
        self.emu = emulator

    @property
    def world(self) -> World:
        return self.emu.world

    # -- attachments ---------------------------------------------------------------------------------

    def new_attachment(
        self, channel_id: int, filename: str, data: bytes, *, description: str | None = None, ephemeral: bool = False
    ) -> dict[str, Any]:
        if len(data) > self.emu.upload_limit:
            raise ApiError(413, 40005)
        att_id = self.world.snowflake()
        filename = sanitize_filename(filename)
        url = f"{self.emu.base_url}/attachments/{channel_id}/{att_id}/{filename}"
        content_type = guess_content_type(filename)
        payload: dict[str, Any] = {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
        }
        if content_type:
            payload["content_type"] = content_type
        if description:
            payload["description"] = description
        if ephemeral:
            payload["ephemeral"] = True
        self.world.attachments[att_id] = StoredAttachment(att_id, filename, data, content_type, payload)
        return payload

    def _attachments(
        self,
        channel_id: int,
        requested: list[dict[str, Any]] | None,
        files: list[UploadedFile],
        existing: list[dict[str, Any]],
        *,
        editing: bool,
        ephemeral: bool,
    ) -> list[dict[str, Any]]:
        by_index: dict[int, UploadedFile] = {}
        for position, upload in enumerate(files):
            index = upload.index
            by_index[index if index is not None else position] = upload
        used: set[int] = set()
        result: list[dict[str, Any]] = []
        if requested is None:
            result.extend(existing if editing else [])
        else:
            existing_by_id = {str(a["id"]): a for a in existing}
            for entry in requested:
                key = str(entry.get("id"))
                if key in existing_by_id:
                    kept = dict(existing_by_id[key])
                    if entry.get("description") is not None:
                        kept["description"] = entry["description"]
                    result.append(kept)
                    continue
                try:
                    index = int(key)
                except ValueError:
                    raise form_error(["attachments"], "ATTACHMENT_NOT_FOUND", f"Unknown attachment {key}") from None
                upload = by_index.get(index)
                if upload is None:
                    raise form_error(["attachments", index], "ATTACHMENT_NOT_FOUND", "Attachment data not found")
                used.add(index)
                result.append(
                    self.new_attachment(
                        channel_id,
                        entry.get("filename") or upload.filename,
                        upload.data,
                        description=entry.get("description"),
                        ephemeral=ephemeral,
                    )
                )
        for index, upload in sorted(by_index.items()):
            if index not in used:
                result.append(self.new_attachment(channel_id, upload.filename, upload.data, ephemeral=ephemeral))
        if len(result) > 10:
            raise form_error(["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        return result

    # -- content -------------------------------------------------------------------------------------

    def _embeds(self, embeds: list[dict[str, Any]], attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_name = {a["filename"]: a for a in attachments}
        result = []
        for embed in copy.deepcopy(embeds):
            embed.setdefault("type", "rich")
            if embed.get("fields") == []:
                embed.pop("fields")
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                if media and str(media.get("url", "")).startswith("attachment://"):
                    target = by_name.get(media["url"][len("attachment://") :])
                    if target is not None:
                        media["url"] = target["url"]
                        media["proxy_url"] = target["proxy_url"]
            result.append(embed)
        return result

    def _mentions(
        self,
        channel: Channel,
        author_id: int,
        content: str,
        allowed: dict[str, Any] | None,
        replied_author: int | None,
    ) -> tuple[list[dict[str, Any]], list[str], bool]:
        """Works out who actually gets pinged, applying allowed_mentions and permissions."""
        world = self.world
        parse = ["users", "roles", "everyone"] if allowed is None else list(allowed.get("parse") or [])
        allowed_users = {str(u) for u in (allowed or {}).get("users") or []}
        allowed_roles = {str(r) for r in (allowed or {}).get("roles") or []}
        perms = world.channel_permissions(channel, author_id) if channel.guild_id else Perm.MENTION_EVERYONE
        can_mention_everyone = bool(perms & Perm.MENTION_EVERYONE)

        user_ids: list[int] = []
        for raw in USER_MENTION.findall(content):
            uid = int(raw)
            if uid in world.users and ("users" in parse or raw in allowed_users) and uid not in user_ids:
                user_ids.append(uid)
        if replied_author is not None:
            replied_allowed = True if allowed is None else bool(allowed.get("replied_user", False))
            if replied_allowed and replied_author not in user_ids:
                user_ids.append(replied_author)

        roles: list[str] = []
        if channel.guild_id is not None:
            guild = world.guild(channel.guild_id)
            for raw in ROLE_MENTION.findall(content):
                role = guild.roles.get(int(raw))
                if role is None or raw in roles:
                    continue
                if ("roles" in parse or raw in allowed_roles) and (role.mentionable or can_mention_everyone):
                    roles.append(raw)
        everyone = bool(EVERYONE_MENTION.search(content)) and "everyone" in parse and can_mention_everyone
        return [world.user(u).payload() for u in user_ids], roles, everyone

    # -- create / edit -------------------------------------------------------------------------------

    def nonce_remembered(self, msg: StoredMessage, now: float) -> bool:
        """Whether Discord still knows this message's nonce: sent within the window and after the last
        ``expire_nonces()``. Only nonce matching reads this; ``created`` itself is never changed."""
        return msg.created > self.emu.nonces_forgotten_before and now - msg.created <= self.emu.nonce_window

    def find_by_nonce(self, channel: Channel, author_id: int, nonce: int | str) -> StoredMessage | None:
        now = time.monotonic()
        # Newest first: once one message is out of the window, every older one is too.
        for message_id in reversed(channel.message_ids):
            msg = self.world.messages[message_id]
            if not self.nonce_remembered(msg, now):
                break
            if str(msg.nonce) == str(nonce) and msg.author_id == author_id and not msg.deleted:
                return msg
        return None

    def create(
        self,
        channel: Channel,
        author_id: int,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        ephemeral: bool = False,
        message_type: int = 0,
        extra: dict[str, Any] | None = None,
        interaction_id: int | None = None,
        error_prefix: tuple[str, ...] = (),
        webhook: bool = False,
    ) -> StoredMessage:
        world = self.world
        validate_message(body, file_count=len(files) + len(body.get("attachments") or []), prefix=error_prefix)
        msg_id = world.snowflake()
        attachments = self._attachments(
            channel.id, body.get("attachments"), files, [], editing=False, ephemeral=ephemeral
        )
        content = body.get("content") or ""
        flags = (body.get("flags") or 0) & CREATE_FLAGS
        if ephemeral:
            flags |= MessageFlag.EPHEMERAL

        reference = body.get("message_reference")
        referenced: StoredMessage | None = None
        if reference:
            ref_channel = int(reference.get("channel_id") or channel.id)
            try:
                referenced = world.message(ref_channel, int(reference["message_id"]))
            except (ApiError, KeyError, ValueError):
                if reference.get("fail_if_not_exists", True):
                    raise form_error(
                        ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                    ) from None
                referenced = None
            if referenced is not None and message_type == 0:
                message_type = 19
        mentions, mention_roles, mention_everyone = self._mentions(
            channel, author_id, content, body.get("allowed_mentions"), referenced.author_id if referenced else None
        )
        components = copy.deepcopy(body.get("components") or [])
        number_components(components)
        payload: dict[str, Any] = {
            "type": message_type,
            "content": content,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "attachments": attachments,
            "embeds": self._embeds(body.get("embeds") or [], attachments),
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "flags": flags,
            "components": components,
            "id": str(msg_id),
            "channel_id": str(channel.id),
            "author": world.user(author_id).payload(),
            "pinned": False,
            "mention_everyone": mention_everyone,
            "tts": bool(body.get("tts")) and not ephemeral,
        }
        if body.get("poll"):
            payload["poll"] = copy.deepcopy(body["poll"])
        if webhook:
            payload["webhook_id"] = str(self.emu.application_id)
        if referenced is not None:
            payload["message_reference"] = {
                "type": 0,
                "channel_id": str(referenced.channel_id),
                "message_id": str(referenced.id),
            }
            if referenced.guild_id is not None:
                payload["message_reference"]["guild_id"] = str(referenced.guild_id)
            payload["referenced_message"] = copy.deepcopy(referenced.payload)
        if extra:
            payload.update(extra)
        stored = StoredMessage(
            payload=payload,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=author_id,
            allowed_mentions=copy.deepcopy(body.get("allowed_mentions")),
            ephemeral=ephemeral,
            nonce=body.get("nonce"),
            interaction_id=interaction_id,
        )
        world.messages[msg_id] = stored
        if not ephemeral:
            channel.message_ids.append(msg_id)
            channel.last_message_id = msg_id
            self.dispatch("MESSAGE_CREATE", stored)
        self.emu.changed.notify()
        return stored

    def edit(
        self,
        stored: StoredMessage,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        error_prefix: tuple[str, ...] = (),
    ) -> StoredMessage:
        validate_message(body, file_count=len(files), prefix=error_prefix, edit=True)
        payload = stored.payload
        if "content" in body:
            payload["content"] = body["content"] or ""
        if "attachments" in body or files:
            payload["attachments"] = self._attachments(
                stored.channel_id,
                body.get("attachments"),
                files,
                payload.get("attachments") or [],
                editing=True,
                ephemeral=stored.ephemeral,
            )
        if "embeds" in body:
            payload["embeds"] = self._embeds(body.get("embeds") or [], payload["attachments"])
        if "components" in body:
            components = copy.deepcopy(body.get("components") or [])
            number_components(components)
            payload["components"] = components
        if "flags" in body and body["flags"] is not None:
            keep = payload["flags"] & ~(MessageFlag.SUPPRESS_EMBEDS | MessageFlag.IS_COMPONENTS_V2)
            payload["flags"] = keep | (body["flags"] & (MessageFlag.SUPPRESS_EMBEDS | MessageFlag.IS_COMPONENTS_V2))
        payload["flags"] &= ~MessageFlag.LOADING
        if "allowed_mentions" in body:
            stored.allowed_mentions = copy.deepcopy(body["allowed_mentions"])
        if (
            not payload["content"]
            and not payload["embeds"]
            and not payload["components"]
            and not payload["attachments"]
        ):
            raise ApiError(400, 50006)
        if "content" in body or "allowed_mentions" in body:
            channel = self.world.channel(stored.channel_id)
            mentions, roles, everyone = self._mentions(
                channel, stored.author_id, payload["content"], stored.allowed_mentions, None
            )
            payload.update(mentions=mentions, mention_roles=roles, mention_everyone=everyone)
        payload["edited_timestamp"] = iso_now()
        if not stored.ephemeral:
            self.dispatch("MESSAGE_UPDATE", stored)
        self.emu.changed.notify()
        return stored

    def delete(self, stored: StoredMessage) -> None:
        stored.deleted = True
        channel = self.world.channels.get(stored.channel_id)
        if channel is not None and stored.id in channel.message_ids:
            channel.message_ids.remove(stored.id)
            if stored.id in channel.pinned_ids:
                channel.pinned_ids.remove(stored.id)
        if not stored.ephemeral:
            data: dict[str, Any] = {"id": str(stored.id), "channel_id": str(stored.channel_id)}
            if stored.guild_id is not None:
                data["guild_id"] = str(stored.guild_id)
            intent = Intent.GUILD_MESSAGES if stored.guild_id else Intent.DIRECT_MESSAGES
            self.emu.gateway.dispatch("MESSAGE_DELETE", data, guild_id=stored.guild_id, intent=intent)
        self.emu.changed.notify()

    # -- reading ------------------------------------------------------------------------------------

    def content_visible(self, stored: StoredMessage, payload: dict[str, Any], intents: int) -> bool:
        """Discord's MESSAGE_CONTENT rule: without the intent the bot still sees its own messages, DMs and
        messages that mention it."""
        if intents & Intent.MESSAGE_CONTENT or stored.guild_id is None or stored.author_id == self.emu.bot_user_id:
            return True
        return any(m["id"] == str(self.emu.bot_user_id) for m in payload["mentions"])

    @staticmethod
    def without_content(payload: dict[str, Any]) -> dict[str, Any]:
        stripped = dict(payload)
        stripped.update(content="", embeds=[], attachments=[], components=[])
        stripped.pop("poll", None)
        return stripped

    def fetched_payload(self, stored: StoredMessage) -> dict[str, Any]:
        """A message as GET routes return it: no nonce (Discord forgets it), and content only if the app is
        approved for MESSAGE_CONTENT (REST follows the app's approval, not the intents of a gateway session)."""
        data = copy.deepcopy(stored.payload)
        if not self.content_visible(stored, data, self.emu.privileged_intents):
            return self.without_content(data)
        return data

    # -- gateway ------------------------------------------------------------------------------------

    def gateway_payload(self, stored: StoredMessage, *, created: bool = False) -> dict[str, Any]:
        data = stored.created_payload() if created else copy.deepcopy(stored.payload)
        if stored.guild_id is not None:
            data["guild_id"] = str(stored.guild_id)
            member = self.world.guilds[stored.guild_id].members.get(stored.author_id)
            if member is not None:
                data["member"] = member_payload(self.world, member, with_user=False)
        return data

    def dispatch(self, event: str, stored: StoredMessage) -> None:
        # MESSAGE_CREATE echoes the nonce (how a sender recognises its own message); updates do not.
        data = self.gateway_payload(stored, created=event == "MESSAGE_CREATE")

        def strip_content(session: Any, payload: dict[str, Any]) -> dict[str, Any]:
            if self.content_visible(stored, payload, session.intents):
                return payload
            return self.without_content(payload)

        intent = Intent.GUILD_MESSAGES if stored.guild_id else Intent.DIRECT_MESSAGES
        self.emu.gateway.dispatch(event, data, guild_id=stored.guild_id, intent=intent, transform=strip_content)
