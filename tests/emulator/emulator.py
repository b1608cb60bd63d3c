"""DiscordEmulator: a local Discord (REST + gateway on one port) that the real discord.py client talks to."""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from .errors import ApiError, EmulatorUsageError
from .gateway import GatewayServer, Intent, Op
from .interactions import (
    EmulatedInteraction,
    InteractionType,
    OptionBuilder,
    command_path,
)
from .messages import DEFAULT_NONCE_WINDOW, MessageStore
from .ratelimit import RateLimiter, RouteLimit, rate_limited
from .rest import RestApi, json_response, server_error
from .scheduled_events import ScheduledEvents
from .state import (
    Channel,
    ChannelType,
    EntityType,
    EventStatus,
    Guild,
    Member,
    MessageFlag,
    Overwrite,
    Perm,
    ScheduledEvent,
    StoredMessage,
    World,
    iso_now,
    member_payload,
)
from .util import Notifier
from .validation import SELECT_TYPES, walk_components

log = logging.getLogger(__name__)

MessagePredicate = Callable[[dict[str, Any]], bool]


@dataclass
class EmulatorStats:
    requests: int = 0
    rate_limited: int = 0  # every 429 sent, injected ones included
    global_rate_limited: int = 0
    server_errors: int = 0
    injected_faults: int = 0
    gateway_connections: int = 0
    identifies: int = 0
    resumes: int = 0
    invalid_sessions: int = 0
    dispatches: int = 0


@dataclass(frozen=True)
class RequestRecord:
    """One REST call. Iterates as (method, path, status, time) so it can be unpacked like a tuple."""

    method: str
    path: str
    status: int
    time: float  # time.monotonic() when the response was ready
    route: str | None = None  # the route template, e.g. "/channels/{channel_id}/messages"
    response: Any = None
    reason: str | None = None  # the X-Audit-Log-Reason header, decoded (discord.py's ``reason=``)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.path, self.status, self.time))


@dataclass
class FaultRule:
    method: str | None
    pattern: re.Pattern[str]
    status: int
    code: int
    remaining: int
    message: str | None = None
    retry_after: float = 1.0
    is_global: bool = False
    after_processing: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.pattern.fullmatch(path))

    def error(self) -> ApiError:
        if self.status == 429:
            return rate_limited(
                self.retry_after,
                scope="global" if self.is_global else "user",
                is_global=self.is_global,
                headers={
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
                },
            )
        if self.status >= 500 and self.code == 0 and self.message is None:
            return server_error(self.status)
        return ApiError(self.status, self.code, self.message)


@dataclass
class FaultInjector:
    rules: list[FaultRule] = field(default_factory=list)
    stats: EmulatorStats | None = None

    def take(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.remaining > 0 and rule.matches(method, path):
                rule.remaining -= 1
                rule.hits += 1
                if self.stats is not None:
                    self.stats.injected_faults += 1
                log.info("emulator: injecting %s into %s %s", rule.status, method, path)
                return rule
        return None


class DiscordEmulator:
    """A local Discord for tests.

    REST lives under ``api_base``; the gateway websocket at ``gateway_url``. Build the world with
    ``add_guild``/``add_text_channel``/``add_role``/``add_user``/``add_member``, act as users with ``slash``,
    ``autocomplete``, ``click``, ``submit_modal`` and ``post_user_message``, and inspect what the bot did with
    ``messages``, ``dm_messages``, ``requests`` and the returned interaction records. Guild scheduled events:
    members act with ``create_scheduled_event_by_hand``, ``edit_scheduled_event_by_hand``,
    ``delete_scheduled_event_by_hand``, ``mark_interested`` and ``unmark_interested``; read them with
    ``scheduled_events``, ``scheduled_event`` and ``interested_user_ids``; change what the bot may do with
    ``set_bot_permission`` (e.g. ``Perm.CREATE_EVENTS``, ``Perm.MANAGE_EVENTS``) or ``set_role_permissions``.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        global_rate_limit: int | None = 50,
        route_rate_limit: RouteLimit = (50, 1.0),
        route_limits: Mapping[str, RouteLimit] | None = None,
        heartbeat_interval: int = 41250,
        interaction_ack_timeout: float = 3.0,
        interaction_token_ttl: float = 15 * 60.0,
        upload_limit: int = 10 * 1024 * 1024,
        nonce_window: float = DEFAULT_NONCE_WINDOW,
        privileged_intents: int = Intent.PRIVILEGED,
        require_mutual_guild_for_dm: bool = True,
        bot_name: str = "Podium",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.latency = latency
        self.heartbeat_interval = heartbeat_interval
        self.interaction_ack_timeout = interaction_ack_timeout
        self.interaction_token_ttl = interaction_token_ttl
        self.upload_limit = upload_limit
        # Seconds an enforced nonce is remembered per author and channel; tests may change it at any time.
        self.nonce_window = nonce_window
        # Messages created at or before this monotonic instant count as outside the window (expire_nonces).
        self.nonces_forgotten_before = float("-inf")
        self.privileged_intents = privileged_intents
        self.require_mutual_guild_for_dm = require_mutual_guild_for_dm
        self.host = host
        self.port = port

        self.world = World()
        self.stats = EmulatorStats()
        self.changed = Notifier()
        self.requests: list[RequestRecord] = []
        self.faults = FaultInjector(stats=self.stats)
        self.ratelimiter = RateLimiter(
            global_limit=global_rate_limit, default_limit=route_rate_limit, route_limits=route_limits
        )
        self.commands: dict[int | None, dict[tuple[int, str], dict[str, Any]]] = {None: {}}
        # What a server admin set in Server Settings > Integrations: (guild, command name) -> {role or user: allow}.
        self.command_overrides: dict[tuple[int, str], dict[int, bool]] = {}
        self.interactions: list[EmulatedInteraction] = []
        self._interactions_by_id: dict[int, EmulatedInteraction] = {}
        self._interactions_by_token: dict[str, EmulatedInteraction] = {}
        self.presence: dict[str, Any] | None = None

        bot = self.world.add_user(bot_name, bot=True)
        self.bot_user_id = bot.id
        self.application_id = bot.id
        self.app_owner_id = self.world.add_user(f"{bot_name.lower()}-developer").id
        token_id = base64.b64encode(str(bot.id).encode()).decode().rstrip("=")
        self.token = f"{token_id}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"

        self.messages_store = MessageStore(self)
        self.scheduled = ScheduledEvents(self)
        self.gateway = GatewayServer(self)
        self.rest = RestApi(self)
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> DiscordEmulator:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/resume", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("Discord emulator listening on %s", self.base_url)
        return self

    async def close(self) -> None:
        if self._runner is None:
            return
        await self.gateway.close_all()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/resume"

    @property
    def application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & Intent.GUILD_PRESENCES:
            flags |= 1 << 13
        if self.privileged_intents & Intent.GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & Intent.MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        log.warning("emulator: request outside /api/v10: %s %s", request.method, request.path)
        self.record_request(request.method, request.path, 404, None, None)
        return json_response(404, {"message": "404: Not Found", "code": 0})

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        stored = self.world.attachments.get(int(request.match_info["attachment_id"]))
        if stored is None or stored.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            body=stored.data, content_type=(stored.content_type or "application/octet-stream").split(";")[0]
        )

    # -- payloads used by REST and gateway -----------------------------------------------------------

    def bot_user_payload(self) -> dict[str, Any]:
        data = self.world.user(self.bot_user_id).payload()
        data.update(verified=True, mfa_enabled=False, email=None, locale="en-US", premium_type=0, bio="")
        return data

    def application_payload(self) -> dict[str, Any]:
        bot = self.world.user(self.bot_user_id)
        return {
            "id": str(self.application_id),
            "name": bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "owner": self.world.user(self.app_owner_id).payload(),
            "team": None,
            "flags": self.application_flags,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": sum(1 for g in self.world.guilds.values() if self.bot_user_id in g.members),
            "integration_types_config": {"0": {}},
            "bot": self.world.user(self.bot_user_id).payload(),
        }

    def record_request(
        self, method: str, path: str, status: int, route: str | None, response: Any, *, reason: str | None = None
    ) -> None:
        self.stats.requests += 1
        self.requests.append(RequestRecord(method, path, status, time.monotonic(), route, response, reason))
        self.changed.notify()

    def command_table(self, guild_id: int | None) -> dict[tuple[int, str], dict[str, Any]]:
        return self.commands.setdefault(guild_id, {})

    def interaction_by_id(self, interaction_id: int) -> EmulatedInteraction | None:
        return self._interactions_by_id.get(interaction_id)

    def interaction_for_token(self, token: str) -> EmulatedInteraction | None:
        return self._interactions_by_token.get(token)

    def create_loading_message(self, ia: EmulatedInteraction, channel: Channel, ephemeral: bool) -> StoredMessage:
        """The "<bot> is thinking..." message a deferred response shows."""
        msg_id = self.world.snowflake()
        flags = MessageFlag.LOADING | (MessageFlag.EPHEMERAL if ephemeral else 0)
        payload: dict[str, Any] = {
            "type": 20 if ia.type == InteractionType.APPLICATION_COMMAND else 0,
            "content": "",
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "flags": flags,
            "components": [],
            "id": str(msg_id),
            "channel_id": str(channel.id),
            "author": self.world.user(self.bot_user_id).payload(),
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
        }
        stored = StoredMessage(
            payload=payload,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=self.bot_user_id,
            allowed_mentions=None,
            ephemeral=ephemeral,
            interaction_id=ia.id,
        )
        self.world.messages[msg_id] = stored
        if not ephemeral:
            channel.message_ids.append(msg_id)
            channel.last_message_id = msg_id
        return stored

    # -- gateway helpers -----------------------------------------------------------------------------

    def _bot_in(self, guild: Guild) -> bool:
        return self.bot_user_id in guild.members

    def dispatch_channel_create(self, channel: Channel) -> None:
        guild = self.world.guilds.get(channel.guild_id or 0)
        if guild is not None and self._bot_in(guild):
            self.gateway.dispatch(
                "CHANNEL_CREATE", channel.payload(self.world), guild_id=guild.id, intent=Intent.GUILDS
            )

    def dispatch_channel_update(self, channel: Channel) -> None:
        guild = self.world.guilds.get(channel.guild_id or 0)
        if guild is not None and self._bot_in(guild):
            self.gateway.dispatch(
                "CHANNEL_UPDATE", channel.payload(self.world), guild_id=guild.id, intent=Intent.GUILDS
            )

    def dispatch_member_update(self, guild: Guild, member: Member) -> None:
        if self._bot_in(guild):
            data = member_payload(self.world, member)
            data["guild_id"] = str(guild.id)
            self.gateway.dispatch("GUILD_MEMBER_UPDATE", data, guild_id=guild.id, intent=Intent.GUILD_MEMBERS)
        self.changed.notify()

    # -- building the world --------------------------------------------------------------------------

    def add_user(self, name: str, *, dms_open: bool = True, bot: bool = False, locale: str = "en-US") -> int:
        """Creates a user; with ``dms_open=False`` the bot's DMs to them fail with 403 50007."""
        return self.world.add_user(name, dms_open=dms_open, bot=bot, locale=locale).id

    def set_dms_open(self, user_id: int, open: bool) -> None:
        self.world.user(user_id).dms_open = open

    def add_guild(
        self,
        name: str,
        *,
        owner_id: int | None = None,
        bot_permissions: int = Perm.BOT_DEFAULT,
        everyone_permissions: int = Perm.EVERYONE_DEFAULT,
        locale: str = "en-US",
        with_bot: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """Creates a guild with an owner and (by default) the bot as a member with its managed role.

        With ``shard`` (shard id, shard count) its id puts it on that shard, ``(id >> 22) % count == shard id``.
        """
        if owner_id is None:
            owner_id = self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        guild = self.world.add_guild(name, owner_id, locale=locale, shard=shard)
        guild.everyone.permissions = everyone_permissions
        guild.members[owner_id] = Member(user_id=owner_id, guild_id=guild.id)
        if with_bot:
            self.add_bot_to_guild(guild.id, permissions=bot_permissions)
        return guild

    def add_bot_to_guild(self, guild_id: int, *, permissions: int = Perm.BOT_DEFAULT) -> None:
        """The bot joins: a managed role is created for it and GUILD_CREATE goes to a connected bot."""
        guild = self.world.guild(guild_id)
        if self._bot_in(guild):
            return
        bot = self.world.user(self.bot_user_id)
        role = self.world.add_role(
            guild, bot.username, permissions, position=len(guild.roles), managed_bot_id=self.bot_user_id
        )
        guild.bot_role_id = role.id
        guild.members[self.bot_user_id] = Member(user_id=self.bot_user_id, guild_id=guild.id, roles=[role.id])
        for session in self.gateway.sessions_for_guild(guild.id):
            payload = self.world.gateway_guild_payload(
                guild, all_members=bool(session.intents & Intent.GUILD_PRESENCES), bot_id=self.bot_user_id
            )
            self.gateway.dispatch_to_session(session, "GUILD_CREATE", payload)
        self.changed.notify()

    def guild(self, guild_id: int) -> Guild:
        return self.world.guild(guild_id)

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = ChannelType.GUILD_TEXT,
        topic: str | None = None,
        category_id: int | None = None,
        overwrites: Sequence[Overwrite] | None = None,
    ) -> int:
        guild = self.world.guild(guild_id)
        channel = self.world.add_channel(
            guild, name, type=type, topic=topic, parent_id=category_id, overwrites=list(overwrites or [])
        )
        self.dispatch_channel_create(channel)
        return channel.id

    def add_text_channel(
        self,
        guild_id: int,
        name: str,
        *,
        topic: str | None = None,
        category_id: int | None = None,
        overwrites: Sequence[Overwrite] | None = None,
    ) -> int:
        return self.add_channel(guild_id, name, topic=topic, category_id=category_id, overwrites=overwrites)

    def set_overwrite(self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0) -> None:
        """Sets a permission overwrite for a role or member (the type is worked out from the id)."""
        channel = self.world.channel(channel_id)
        guild = self.world.guild(channel.guild_id or 0)
        kind = 0 if target_id in guild.roles else 1
        channel.overwrites = [o for o in channel.overwrites if o.id != target_id]
        channel.overwrites.append(Overwrite(id=target_id, type=kind, allow=allow, deny=deny))
        self.dispatch_channel_update(channel)

    def add_role(
        self,
        guild_id: int,
        name: str,
        permissions: int = 0,
        *,
        mentionable: bool = False,
        hoist: bool = False,
        color: int = 0,
        position: int | None = None,
    ) -> int:
        """Creates a role; without ``position`` it sits just below the bot's role (so the bot can assign it)."""
        guild = self.world.guild(guild_id)
        role = self.world.add_role(
            guild, name, permissions, position=position, mentionable=mentionable, hoist=hoist, color=color
        )
        if self._bot_in(guild):
            self.gateway.dispatch(
                "GUILD_ROLE_CREATE",
                {"guild_id": str(guild.id), "role": role.payload()},
                guild_id=guild.id,
                intent=Intent.GUILDS,
            )
        return role.id

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        roles: Sequence[int] | None = None,
        permissions: int | None = None,
        *,
        nick: str | None = None,
    ) -> Member:
        """Adds a user to a guild. ``permissions`` replaces the role-computed permissions when given: a shortcut
        seen only in what the emulator computes (the ``permissions`` of interactions, REST checks), not by a bot
        that works out server-wide permissions from the member's roles; give such a member a role instead."""
        guild = self.world.guild(guild_id)
        self.world.user(user_id)
        for role_id in roles or []:
            if role_id not in guild.roles:
                raise EmulatorUsageError(f"role {role_id} is not in guild {guild_id}")
        member = Member(
            user_id=user_id,
            guild_id=guild.id,
            roles=[r for r in roles or [] if r != guild.id],
            nick=nick,
            permissions_override=permissions,
        )
        guild.members[user_id] = member
        if self._bot_in(guild):
            data = member_payload(self.world, member)
            data["guild_id"] = str(guild.id)
            self.gateway.dispatch("GUILD_MEMBER_ADD", data, guild_id=guild.id, intent=Intent.GUILD_MEMBERS)
        self.changed.notify()
        return member

    def set_member_roles(self, guild_id: int, user_id: int, roles: Sequence[int]) -> None:
        guild = self.world.guild(guild_id)
        member = self.world.member(guild_id, user_id)
        member.roles = [r for r in roles if r != guild.id]
        self.dispatch_member_update(guild, member)

    def remove_member(self, guild_id: int, user_id: int) -> None:
        guild = self.world.guild(guild_id)
        guild.members.pop(user_id, None)
        if self._bot_in(guild):
            self.gateway.dispatch(
                "GUILD_MEMBER_REMOVE",
                {"guild_id": str(guild.id), "user": self.world.user(user_id).payload()},
                guild_id=guild.id,
                intent=Intent.GUILD_MEMBERS,
            )
        self.changed.notify()

    def set_role_permissions(self, guild_id: int, role_id: int, permissions: int) -> None:
        """An admin edits a role's permissions in Server Settings > Roles (GUILD_ROLE_UPDATE goes to the bot)."""
        guild = self.world.guild(guild_id)
        role = guild.roles.get(role_id)
        if role is None:
            raise EmulatorUsageError(f"role {role_id} is not in guild {guild_id}")
        role.permissions = permissions
        if self._bot_in(guild):
            self.gateway.dispatch(
                "GUILD_ROLE_UPDATE",
                {"guild_id": str(guild.id), "role": role.payload()},
                guild_id=guild.id,
                intent=Intent.GUILDS,
            )
        self.changed.notify()

    def set_bot_permission(self, guild_id: int, permission: int, enabled: bool = True) -> None:
        """Grants or takes ``permission`` (e.g. ``Perm.CREATE_EVENTS``) on the bot's own managed role.

        The bot's other roles and @everyone still count, as on Discord; if they keep the bot from ending up
        with (or without) every bit of ``permission``, this raises rather than leave the test believing it.
        """
        guild = self.world.guild(guild_id)
        role = guild.roles.get(guild.bot_role_id or 0)
        if role is None:
            raise EmulatorUsageError(f"the bot has no role in guild {guild_id}")
        new = role.permissions | permission if enabled else role.permissions & ~permission
        self.set_role_permissions(guild_id, role.id, new)
        have = self.world.base_permissions(guild, self.bot_user_id) & permission
        if have != (permission if enabled else 0):
            raise EmulatorUsageError(
                f"after editing the bot's role its permissions are {have:#x} of {permission:#x}: "
                "another role, @everyone or Administrator decides"
            )

    # -- scheduled events ----------------------------------------------------------------------------
    # What server members do in Discord's own app. Each change goes through the same checks as the REST
    # routes, as the user ``by`` (the guild owner unless given): something Discord's app would refuse raises
    # EmulatorUsageError. The bot gets the gateway event only with the GUILD_SCHEDULED_EVENTS intent.

    def _event_in(self, guild_id: int, event_id: int) -> tuple[Guild, ScheduledEvent]:
        guild = self.world.guilds.get(guild_id)
        if guild is None:
            raise EmulatorUsageError(f"unknown guild {guild_id}")
        event = guild.scheduled_events.get(event_id)
        if event is None:
            raise EmulatorUsageError(f"no scheduled event {event_id} in guild {guild.name!r}")
        return guild, event

    @staticmethod
    def _member_of(guild: Guild, user_id: int) -> int:
        if user_id not in guild.members:
            raise EmulatorUsageError(f"user {user_id} is not a member of {guild.name!r}")
        return user_id

    @staticmethod
    @contextlib.contextmanager
    def _in_discords_app(what: str) -> Iterator[None]:
        try:
            yield
        except ApiError as exc:
            details = f" {exc.body['errors']}" if "errors" in exc.body else ""
            raise EmulatorUsageError(f"Discord would not let them {what}: {exc}{details}") from exc

    def create_scheduled_event_by_hand(
        self,
        guild_id: int,
        name: str,
        start: datetime.datetime,
        *,
        end: datetime.datetime | None = None,
        location: str | None = None,
        channel_id: int | None = None,
        description: str | None = None,
        by: int | None = None,
    ) -> dict[str, Any]:
        """A member creates an event: EXTERNAL at ``location``, or in the voice/stage channel ``channel_id``.

        Returns the event as ``scheduled_event`` does; GUILD_SCHEDULED_EVENT_CREATE goes to the bot.
        """
        guild = self.world.guild(guild_id)
        user_id = self._member_of(guild, guild.owner_id if by is None else by)
        body: dict[str, Any] = {
            "name": name,
            "privacy_level": 2,
            "scheduled_start_time": start,
            "scheduled_end_time": end,
        }
        if description is not None:
            body["description"] = description
        if channel_id is None:
            body.update(entity_type=EntityType.EXTERNAL, entity_metadata={"location": location})
        else:
            kind = self.world.channel(channel_id).type
            body.update(channel_id=channel_id, entity_type=1 if kind == ChannelType.GUILD_STAGE_VOICE else 2)
        with self._in_discords_app(f"create the event {name!r}"):
            event = self.scheduled.create(guild, user_id, body)
        return event.payload(self.world, with_user_count=True)

    def edit_scheduled_event_by_hand(
        self, guild_id: int, event_id: int, *, by: int | None = None, **changes: Any
    ) -> dict[str, Any]:
        """A moderator edits an event; ``changes`` use the API's field names (times may be datetimes), plus
        ``location=`` for ``entity_metadata``. ``status=EventStatus.ACTIVE`` starts it, as Discord itself
        does for an EXTERNAL event at its start time; ``COMPLETED`` ends it, ``CANCELED`` cancels it."""
        guild, event = self._event_in(guild_id, event_id)
        user_id = self._member_of(guild, guild.owner_id if by is None else by)
        if "location" in changes:
            changes["entity_metadata"] = {"location": changes.pop("location")}
        with self._in_discords_app(f"edit the event {event.name!r} with {changes}"):
            self.scheduled.edit(guild, event, user_id, changes)
        return event.payload(self.world, with_user_count=True)

    def delete_scheduled_event_by_hand(self, guild_id: int, event_id: int, *, by: int | None = None) -> dict[str, Any]:
        """A moderator deletes an event in Discord (GUILD_SCHEDULED_EVENT_DELETE); returns what it was."""
        guild, event = self._event_in(guild_id, event_id)
        user_id = self._member_of(guild, guild.owner_id if by is None else by)
        gone = event.payload(self.world, with_user_count=True)
        with self._in_discords_app(f"delete the event {event.name!r}"):
            self.scheduled.delete(guild, event, user_id)
        return gone

    def mark_interested(self, guild_id: int, event_id: int, user_id: int) -> bool:
        """A member clicks "Interested" (GUILD_SCHEDULED_EVENT_USER_ADD). False if they already were.

        discord.py fires ``on_scheduled_event_user_add`` only for users in its cache (members intent); the
        raw event reaches the bot either way."""
        guild, event = self._event_in(guild_id, event_id)
        self._member_of(guild, user_id)
        if event.status in EventStatus.FINAL:
            raise EmulatorUsageError(f'the event {event.name!r} is over: Discord no longer offers "Interested"')
        return self.scheduled.set_interested(guild, event, user_id, True)

    def unmark_interested(self, guild_id: int, event_id: int, user_id: int) -> bool:
        """The member clicks "Interested" again (GUILD_SCHEDULED_EVENT_USER_REMOVE). False if they were not."""
        guild, event = self._event_in(guild_id, event_id)
        return self.scheduled.set_interested(guild, event, user_id, False)

    def add_event_subscriber(self, guild_id: int, event_id: int, user_id: int) -> None:
        """Older name of ``mark_interested``."""
        self.mark_interested(guild_id, event_id, user_id)

    # -- users acting --------------------------------------------------------------------------------

    def _context(self, guild_id: int | None, user_id: int, channel_id: int | None) -> tuple[Guild | None, Channel]:
        user = self.world.users.get(user_id)
        if user is None:
            raise EmulatorUsageError(f"unknown user {user_id}")
        if guild_id is None:
            channel = self.world.dm_channel_for(user_id, create=True)
            assert channel is not None
            if channel_id is not None and channel_id != channel.id:
                raise EmulatorUsageError("without a guild the interaction happens in the user's DM with the bot")
            return None, channel
        guild = self.world.guilds.get(guild_id)
        if guild is None:
            raise EmulatorUsageError(f"unknown guild {guild_id}")
        if not self._bot_in(guild):
            raise EmulatorUsageError(f"the bot is not in guild {guild.name!r}")
        if user_id not in guild.members:
            raise EmulatorUsageError(f"user {user.username!r} is not a member of {guild.name!r}")
        if channel_id is None:
            for candidate in self.world.guild_channels(guild):
                perms = self.world.channel_permissions(candidate, user_id)
                if candidate.type == ChannelType.GUILD_TEXT and perms & Perm.VIEW_CHANNEL:
                    return guild, candidate
            raise EmulatorUsageError(f"guild {guild.name!r} has no text channel {user.username!r} can see")
        channel = self.world.channels.get(channel_id)
        if channel is None or channel.guild_id != guild.id:
            raise EmulatorUsageError(f"channel {channel_id} is not in guild {guild.name!r}")
        if not self.world.channel_permissions(channel, user_id) & Perm.VIEW_CHANNEL:
            raise EmulatorUsageError(f"user {user.username!r} cannot see channel {channel.name!r}")
        return guild, channel

    def _find_command(self, name: str, guild_id: int | None, kind: int = 1) -> dict[str, Any]:
        tables = [self.command_table(guild_id)] if guild_id is not None else []
        tables.append(self.command_table(None))
        for table in tables:
            command = table.get((kind, name))
            if command is not None:
                return command
        known = sorted({n for t in tables for (k, n) in t if k == kind})
        raise EmulatorUsageError(f"no command {name!r} synced for this guild; synced: {known}")

    def set_command_permission(self, guild_id: int, command: str, target_id: int, *, allow: bool = True) -> None:
        """A server admin allows (or denies) a role or member a command in Server Settings > Integrations.

        Bots cannot set these (Discord wants a user's Bearer token); they only read them. Per command and server:
        a member's own override decides; else any allowing override of one of their roles allows and any denying
        one denies; else ``default_member_permissions`` applies. Administrators may always use every command.
        """
        guild = self.world.guild(guild_id)
        if target_id not in guild.roles and target_id not in guild.members:
            raise EmulatorUsageError(f"{target_id} is neither a role nor a member of guild {guild_id}")
        self.command_overrides.setdefault((guild_id, command), {})[target_id] = allow

    def _override(self, command: dict[str, Any], guild: Guild, user_id: int) -> bool | None:
        overrides = self.command_overrides.get((guild.id, command["name"]), {})
        if user_id in overrides:
            return overrides[user_id]
        member = guild.members.get(user_id)
        decisions = [overrides[role] for role in (member.roles if member else []) if role in overrides]
        return any(decisions) if decisions else None

    def _check_command_allowed(
        self, command: dict[str, Any], guild: Guild | None, user_id: int, channel: Channel | None = None
    ) -> None:
        contexts = command.get("contexts")
        if guild is None:
            if (
                command.get("guild_id")
                or command.get("dm_permission") is False
                or (contexts is not None and 1 not in contexts)
            ):
                raise EmulatorUsageError(f"command {command['name']!r} cannot be used in DMs")
            return
        if contexts is not None and 0 not in contexts and not command.get("guild_id"):
            raise EmulatorUsageError(f"command {command['name']!r} cannot be used in guilds")
        if self.world.base_permissions(guild, user_id) & Perm.ADMINISTRATOR:
            return
        override = self._override(command, guild, user_id)
        if override is not None:
            if override:
                return
            raise EmulatorUsageError(
                f"user {user_id} is denied {command['name']!r} in Integrations; Discord would not show it to them"
            )
        required = command.get("default_member_permissions")
        if required is None:
            return
        # Discord checks default_member_permissions against the member's permissions where the command is used,
        # channel overwrites included: a member granted Manage Events on one channel sees a command that
        # requires it there, which is why a bot must still check rights itself.
        perms = (
            self.world.channel_permissions(channel, user_id)
            if channel is not None
            else self.world.base_permissions(guild, user_id)
        )
        required_bits = int(required)
        allowed = perms & Perm.ADMINISTRATOR if required_bits == 0 else perms & required_bits == required_bits
        if not allowed:
            raise EmulatorUsageError(
                f"user {user_id} lacks default_member_permissions {required} for {command['name']!r}; "
                "Discord would not show them the command"
            )

    def _interaction_payload(
        self, kind: int, data: dict[str, Any], guild: Guild | None, channel: Channel, user_id: int
    ) -> tuple[int, str, dict[str, Any]]:
        world = self.world
        user = world.user(user_id)
        interaction_id = world.snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(120)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "locale": user.locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.upload_limit,
            "app_permissions": str(world.channel_permissions(channel, self.bot_user_id)),
            "channel": world.interaction_channel_payload(channel, user_id),
            "channel_id": str(channel.id),
        }
        if guild is not None:
            member = guild.members[user_id]
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=member_payload(world, member, permissions=world.channel_permissions(channel, user_id)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(user=user.payload(), authorizing_integration_owners={"0": "0"}, context=1)
        return interaction_id, token, payload

    def _send_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        guild: Guild | None,
        channel: Channel,
        user_id: int,
        *,
        message: StoredMessage | None = None,
        shard_id: int | None = None,
    ) -> EmulatedInteraction:
        interaction_id, token, payload = self._interaction_payload(kind, data, guild, channel, user_id)
        if message is not None:
            payload["message"] = copy.deepcopy(message.payload)
        ia = EmulatedInteraction(
            self,
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            guild_id=guild.id if guild else None,
            channel_id=channel.id,
            user_id=user_id,
            source_message_id=message.id if message else None,
        )
        self.interactions.append(ia)
        self._interactions_by_id[interaction_id] = ia
        self._interactions_by_token[token] = ia
        delivered = self.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=ia.guild_id, shard_id=shard_id)
        if not delivered:
            if shard_id is not None:
                raise EmulatorUsageError(f"the bot has no gateway session on shard {shard_id}")
            raise EmulatorUsageError("the bot has no gateway session; start it and await emu.wait_ready() first")
        return ia

    @staticmethod
    def _nest(chain: list[dict[str, Any]], leaf: list[dict[str, Any]]) -> list[dict[str, Any]]:
        options = leaf
        for option in reversed(chain):
            options = [{"type": option["type"], "name": option["name"], "options": options}]
        return options

    async def slash(
        self,
        guild_id: int | None,
        user_id: int,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int | None = None,
        shard_id: int | None = None,
    ) -> EmulatedInteraction:
        """A user runs ``/command`` ("group sub" for subcommands) with option values typed by the synced definition.

        Test-only, ``shard_id``: Discord sends a server's interactions over its own shard's connection only; this
        sends the interaction over shard ``shard_id``'s instead, so the process running that shard answers it
        (through the REST callback, as it would any interaction), for one server's rush split over processes.
        """
        parts = command.split()
        if not parts:
            raise EmulatorUsageError("empty command name")
        guild, channel = self._context(guild_id, user_id, channel_id)
        definition = self._find_command(parts[0], guild.id if guild else None)
        self._check_command_allowed(definition, guild, user_id, channel)
        chain, leaf_defs = command_path(definition, parts[1:])
        builder = OptionBuilder(self, guild, channel, user_id)
        leaf = builder.build(leaf_defs, options or {}, focused=None, where=f"/{command}")
        data: dict[str, Any] = {"id": definition["id"], "name": definition["name"], "type": 1}
        nested = self._nest(chain, leaf)
        if nested:
            data["options"] = nested
        if builder.resolved:
            data["resolved"] = builder.resolved
        if definition.get("guild_id"):
            data["guild_id"] = definition["guild_id"]
        return self._send_interaction(
            InteractionType.APPLICATION_COMMAND, data, guild, channel, user_id, shard_id=shard_id
        )

    async def autocomplete(
        self,
        guild_id: int | None,
        user_id: int,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        channel_id: int | None = None,
    ) -> EmulatedInteraction:
        """A user types into option ``focused``; the bot's choices end up in ``ia.choices``."""
        parts = command.split()
        guild, channel = self._context(guild_id, user_id, channel_id)
        definition = self._find_command(parts[0], guild.id if guild else None)
        self._check_command_allowed(definition, guild, user_id, channel)
        chain, leaf_defs = command_path(definition, parts[1:])
        builder = OptionBuilder(self, guild, channel, user_id)
        leaf = builder.build(leaf_defs, options, focused=focused, where=f"/{command}")
        data: dict[str, Any] = {
            "id": definition["id"],
            "name": definition["name"],
            "type": 1,
            "options": self._nest(chain, leaf),
        }
        if builder.resolved:
            data["resolved"] = builder.resolved
        if definition.get("guild_id"):
            data["guild_id"] = definition["guild_id"]
        return self._send_interaction(InteractionType.AUTOCOMPLETE, data, guild, channel, user_id)

    def _stored_message(self, message: Mapping[str, Any] | int | StoredMessage) -> StoredMessage:
        if isinstance(message, StoredMessage):
            return message
        message_id = int(message["id"]) if isinstance(message, Mapping) else int(message)
        stored = self.world.messages.get(message_id)
        if stored is None or stored.deleted:
            raise EmulatorUsageError(f"no message {message_id}")
        return stored

    async def click(
        self,
        guild_id: int | None,
        user_id: int,
        message: Mapping[str, Any] | int,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
        shard_id: int | None = None,
    ) -> EmulatedInteraction:
        """A user clicks a button (or picks ``values`` in a select menu) on a stored message (``shard_id``: over
        that shard's connection instead of the server's, as for ``slash``)."""
        stored = self._stored_message(message)
        if stored.guild_id != guild_id:
            raise EmulatorUsageError(f"message {stored.id} is in guild {stored.guild_id}, not {guild_id}")
        if stored.ephemeral:
            owner = self._interactions_by_id.get(stored.interaction_id or 0)
            if owner is not None and owner.user_id != user_id:
                raise EmulatorUsageError("only the user who got an ephemeral message can use its components")
        components = walk_components(stored.payload.get("components") or [])
        component = next((c for c in components if c.get("custom_id") == custom_id), None)
        if component is None:
            available = [c.get("custom_id") for c in components if c.get("custom_id")]
            raise EmulatorUsageError(f"message {stored.id} has no component {custom_id!r}; it has {available}")
        if component.get("disabled"):
            raise EmulatorUsageError(f"component {custom_id!r} is disabled")
        if not stored.ephemeral and stored.channel_id:
            channel_obj = self.world.channel(stored.channel_id)
            if channel_obj.guild_id is None and channel_obj.recipient_id != user_id:
                raise EmulatorUsageError("that DM belongs to another user")
        guild, channel = self._context(guild_id, user_id, stored.channel_id if guild_id else None)
        kind = component["type"]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": kind}
        if kind in SELECT_TYPES:
            if values is None:
                raise EmulatorUsageError(f"select menu {custom_id!r} needs values")
            low, high = component.get("min_values", 1), component.get("max_values", 1)
            if not low <= len(values) <= high:
                raise EmulatorUsageError(f"select menu {custom_id!r} takes {low}..{high} values, got {len(values)}")
            if kind == 3:
                options = [o["value"] for o in component.get("options") or []]
                unknown = [v for v in values if v not in options]
                if unknown:
                    raise EmulatorUsageError(f"select menu {custom_id!r} has no option(s) {unknown}; it has {options}")
            data["values"] = [str(v) for v in values]
            if kind != 3:
                builder = OptionBuilder(self, guild, channel, user_id)
                for value in values:
                    spec = {5: 6, 6: 8, 7: 9, 8: 7}[kind]
                    builder.value({"name": custom_id, "type": spec}, int(value), focused=False)
                data["resolved"] = builder.resolved
        elif values is not None:
            raise EmulatorUsageError(f"{custom_id!r} is a button; values are for select menus")
        elif component.get("style") in (5, 6):
            raise EmulatorUsageError(f"{custom_id!r} is a link/premium button: clicking it sends no interaction")
        return self._send_interaction(
            InteractionType.MESSAGE_COMPONENT, data, guild, channel, user_id, message=stored, shard_id=shard_id
        )

    async def submit_modal(
        self,
        source: EmulatedInteraction,
        values: Mapping[str, str | Sequence[str]],
        *,
        user_id: int | None = None,
    ) -> EmulatedInteraction:
        """The user fills in and submits the modal the bot answered ``source`` with."""
        modal = source.modal
        if modal is None:
            raise EmulatorUsageError(f"{source!r} was not answered with a modal")
        user_id = source.user_id if user_id is None else user_id
        remaining = dict(values)
        components: list[dict[str, Any]] = []

        def field_value(comp: dict[str, Any]) -> dict[str, Any]:
            custom_id = comp["custom_id"]
            if comp["type"] == 4:
                text = str(remaining.pop(custom_id, comp.get("value") or ""))
                if comp.get("required", True) and not text:
                    raise EmulatorUsageError(f"modal field {custom_id!r} is required")
                low, high = comp.get("min_length"), comp.get("max_length")
                if text and ((low is not None and len(text) < low) or (high is not None and len(text) > high)):
                    raise EmulatorUsageError(f"modal field {custom_id!r}: length {len(text)} outside [{low}, {high}]")
                return {"type": 4, "id": comp.get("id"), "custom_id": custom_id, "value": text}
            picked = remaining.pop(custom_id, [])
            return {
                "type": comp["type"],
                "id": comp.get("id"),
                "custom_id": custom_id,
                "values": [picked] if isinstance(picked, str) else list(picked),
            }

        for comp in modal.get("components") or []:
            if comp.get("type") == 1:
                components.append(
                    {"type": 1, "id": comp.get("id"), "components": [field_value(c) for c in comp["components"]]}
                )
            elif comp.get("type") == 18:
                components.append({"type": 18, "id": comp.get("id"), "component": field_value(comp["component"])})
            elif comp.get("type") == 10:
                components.append({"type": 10, "id": comp.get("id")})
        if remaining:
            raise EmulatorUsageError(f"modal {modal.get('custom_id')!r} has no field(s) {sorted(remaining)}")
        guild, channel = self._context(source.guild_id, user_id, source.channel_id if source.guild_id else None)
        data = {"custom_id": modal["custom_id"], "components": components}
        message = self.world.messages.get(source.source_message_id or 0)
        return self._send_interaction(InteractionType.MODAL_SUBMIT, data, guild, channel, user_id, message=message)

    def post_user_message(self, channel_id: int, user_id: int, content: str) -> dict[str, Any]:
        """A user posts a message (MESSAGE_CREATE goes to the bot, content stripped without the intent)."""
        channel = self.world.channel(channel_id)
        if channel.guild_id is not None:
            _, channel = self._context(channel.guild_id, user_id, channel_id)
        stored = self.messages_store.create(channel, user_id, {"content": content}, [])
        return stored.inspect()

    # -- faults --------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str | None = "POST",
        path_pattern: str = r"/channels/\d+/messages",
        status: int = 500,
        code: int = 0,
        times: int = 1,
        *,
        message: str | None = None,
        retry_after: float = 1.0,
        is_global: bool = False,
        after_processing: bool = False,
    ) -> FaultRule:
        """Makes the next ``times`` requests whose path (below /api/v10) fully matches ``path_pattern`` fail.

        ``after_processing=True`` applies the request first and then fails (a response lost on the way back).
        """
        rule = FaultRule(
            method=method.upper() if method else None,
            pattern=re.compile(path_pattern),
            status=status,
            code=code,
            remaining=times,
            message=message,
            retry_after=retry_after,
            is_global=is_global,
            after_processing=after_processing,
        )
        self.faults.rules.append(rule)
        return rule

    def expire_nonces(self) -> None:
        """Makes Discord forget the nonce of every message sent so far, as if the bot had been down longer
        than the window: the same nonce then creates a new message. Timestamps and ``created`` are untouched."""
        self.nonces_forgotten_before = time.monotonic()

    def set_global_rate_limit(self, per_second: int | None) -> None:
        """Changes the global limit (requests per second across routes) and starts a fresh window."""
        self.ratelimiter.global_limit = per_second
        self.ratelimiter.reset()

    # -- gateway control -----------------------------------------------------------------------------

    @property
    def gateway_connections(self) -> int:
        """How many gateway websocket connections were opened so far."""
        return self.gateway.connection_count

    @property
    def open_gateway_connections(self) -> int:
        return sum(1 for c in self.gateway.connections if not c.closed)

    @property
    def identify_payloads(self) -> list[dict[str, Any]]:
        return self.gateway.identify_payloads

    @property
    def intents(self) -> int | None:
        """The intents of the latest IDENTIFY."""
        return self.identify_payloads[-1].get("intents") if self.identify_payloads else None

    async def disconnect_gateway(self, code: int = 4000, *, invalidate: bool | None = None) -> int:
        """Closes the bot's socket(s). Codes Discord treats as final (4004, 4007, 4009...) also end the session."""
        return await self.gateway.disconnect(code, invalidate=invalidate)

    def request_reconnect(self) -> None:
        """Sends op 7 RECONNECT: the client should reconnect and resume."""
        self.gateway.send_op(Op.RECONNECT)

    def invalidate_session(self, resumable: bool = False) -> None:
        """Sends op 9 INVALID_SESSION."""
        if not resumable:
            for session in self.gateway.live_sessions():
                session.invalidated = True
        self.gateway.send_op(Op.INVALID_SESSION, resumable)

    def request_heartbeat(self) -> None:
        self.gateway.send_op(Op.HEARTBEAT)

    async def wait_for_identify(self, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        """Waits until ``count`` IDENTIFYs happened; returns the latest payload."""
        await self.changed.wait_for(
            lambda: len(self.identify_payloads) >= count,
            timeout,
            f"{count} IDENTIFY(s) (got {len(self.identify_payloads)})",
        )
        return self.identify_payloads[-1]

    async def wait_for_resume(self, count: int = 1, timeout: float = 5.0) -> None:
        await self.changed.wait_for(lambda: self.stats.resumes >= count, timeout, f"{count} RESUME(s)")

    async def wait_ready(self, timeout: float = 5.0) -> None:
        """Waits until the bot's session got READY and every GUILD_CREATE (or RESUMED) on a live socket."""
        await self.changed.wait_for(self.gateway.is_ready, timeout, "the bot's gateway session to be ready")

    # -- inspection ----------------------------------------------------------------------------------

    def messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first (ephemeral interaction responses are not channel messages)."""
        channel = self.world.channel(channel_id)
        return [self.world.messages[i].inspect() for i in channel.message_ids]

    def dm_channel_id(self, user_id: int) -> int | None:
        channel = self.world.dm_channel_for(user_id, create=False)
        return channel.id if channel else None

    def dm_messages(self, user_id: int) -> list[dict[str, Any]]:
        channel_id = self.dm_channel_id(user_id)
        return self.messages(channel_id) if channel_id is not None else []

    def message(self, message_id: int) -> dict[str, Any]:
        return self._stored_message(message_id).inspect()

    def all_messages(self, *, include_ephemeral: bool = False) -> list[dict[str, Any]]:
        return [
            m.inspect()
            for m in self.world.messages.values()
            if not m.deleted and (include_ephemeral or not m.ephemeral)
        ]

    def attachment_bytes(self, attachment: Mapping[str, Any] | int) -> bytes:
        att_id = int(attachment["id"]) if isinstance(attachment, Mapping) else int(attachment)
        stored = self.world.attachments.get(att_id)
        if stored is None:
            raise EmulatorUsageError(f"no attachment {att_id}")
        return stored.data

    def commands_for(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Commands the bot synced globally (``None``) or to a guild."""
        return [copy.deepcopy(c) for c in self.command_table(guild_id).values()]

    def command_syncs(self, guild_id: int | None = None) -> int:
        """How many times the whole command list was PUT (a sync) globally (``None``) or to a guild, answered or not."""
        if guild_id is None:
            route, scope = "/applications/{application_id}/commands", "/commands"
        else:
            route, scope = "/applications/{application_id}/guilds/{guild_id}/commands", f"/guilds/{guild_id}/commands"
        return sum(1 for r in self.requests if r.method == "PUT" and r.route == route and r.path.endswith(scope))

    def scheduled_events(self, guild_id: int) -> list[dict[str, Any]]:
        """A guild's scheduled events, oldest first, as REST returns them with ``with_user_count``."""
        guild = self.world.guild(guild_id)
        return [e.payload(self.world, with_user_count=True) for e in guild.scheduled_events.values()]

    def scheduled_event(self, event_id: int) -> dict[str, Any]:
        """One scheduled event (any guild), with ``user_count``."""
        return self._find_event(event_id).payload(self.world, with_user_count=True)

    def interested_user_ids(self, event_id: int) -> list[int]:
        """Who marked an event "Interested", by id (the order Discord lists them in)."""
        return sorted(self._find_event(event_id).interested)

    def _find_event(self, event_id: int) -> ScheduledEvent:
        for guild in self.world.guilds.values():
            if event_id in guild.scheduled_events:
                return guild.scheduled_events[event_id]
        raise EmulatorUsageError(f"no scheduled event {event_id}")

    async def wait_for_message(
        self,
        predicate: MessagePredicate = lambda m: True,
        timeout: float = 5.0,
        *,
        channel_id: int | None = None,
        include_ephemeral: bool = False,
    ) -> dict[str, Any]:
        """Returns the first stored message (existing ones included) matching ``predicate``."""

        def find() -> dict[str, Any] | None:
            for stored in self.world.messages.values():
                if stored.deleted or (stored.ephemeral and not include_ephemeral):
                    continue
                if channel_id is not None and stored.channel_id != channel_id:
                    continue
                data = stored.inspect()
                if predicate(data):
                    return data
            return None

        def describe() -> str:
            recent = [(m["channel_id"], m["content"][:60]) for m in self.all_messages()[-5:]]
            return f"a matching message (latest messages: {recent})"

        return await self.changed.wait_for(find, timeout, describe)

    async def wait_for_request(
        self,
        predicate: Callable[[RequestRecord], bool],
        timeout: float = 5.0,
    ) -> RequestRecord:
        def find() -> RequestRecord | None:
            return next((r for r in self.requests if predicate(r)), None)

        def describe() -> str:
            recent = [(r.method, r.path, r.status) for r in self.requests[-5:]]
            return f"a matching request (latest: {recent})"

        return await self.changed.wait_for(find, timeout, describe)
