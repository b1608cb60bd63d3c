"""In-memory Discord world: users, guilds, roles, channels, messages, and their API payloads."""

from __future__ import annotations

import copy
import datetime
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import ApiError

DISCORD_EPOCH_MS = 1420070400000


class Perm:
    """Permission bits, as in Discord's documentation."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51
    BYPASS_SLOWMODE = 1 << 52

    SET_VOICE_CHANNEL_STATUS = 1 << 48

    ALL = (1 << 53) - 1 - (1 << 47)

    # What @everyone gets in a newly created server.
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | STREAM
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | MENTION_EVERYONE
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | USE_VAD
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | REQUEST_TO_SPEAK
        | CREATE_PUBLIC_THREADS
        | CREATE_PRIVATE_THREADS
        | USE_EXTERNAL_STICKERS
        | SEND_MESSAGES_IN_THREADS
        | USE_EMBEDDED_ACTIVITIES
        | USE_SOUNDBOARD
        | USE_EXTERNAL_SOUNDS
        | SEND_VOICE_MESSAGES
        | SEND_POLLS
        | USE_EXTERNAL_APPS
    )

    # What a bot's managed role gets unless the test says otherwise: a typical invite link.
    BOT_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | SEND_MESSAGES_IN_THREADS
        | CREATE_PUBLIC_THREADS
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | ADD_REACTIONS
        | USE_EXTERNAL_EMOJIS
        | MANAGE_ROLES
        | MANAGE_EVENTS
        | CREATE_EVENTS
    )


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GROUP_DM = 3
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    PUBLIC_THREAD = 11
    GUILD_STAGE_VOICE = 13
    GUILD_FORUM = 15

    TEXT_LIKE = frozenset({GUILD_TEXT, DM, GUILD_VOICE, GROUP_DM, GUILD_ANNOUNCEMENT, PUBLIC_THREAD, 13})


class MessageFlag:
    CROSSPOSTED = 1 << 0
    SUPPRESS_EMBEDS = 1 << 2
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_NOTIFICATIONS = 1 << 12
    IS_COMPONENTS_V2 = 1 << 15


def iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def iso_from_snowflake(snowflake: int) -> str:
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat()


class SnowflakeGenerator:
    """Time-ordered, unique Discord snowflakes (worker 1, process 0)."""

    def __init__(self) -> None:
        self._last_ms = 0
        self._increment = 0

    def __call__(self, *, shard: tuple[int, int] | None = None) -> int:
        """The next snowflake; with ``shard`` (shard id, shard count), the next one whose server would be on that
        shard, ``(id >> 22) % count == shard id``: up to count - 1 milliseconds ahead, still in time order."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        if ms <= self._last_ms:
            ms = self._last_ms
            self._increment += 1
            if self._increment >= 4096:
                ms += 1
                self._increment = 0
        else:
            self._increment = 0
        if shard is not None:
            ahead = (shard[0] - ms) % shard[1]
            if ahead:
                ms += ahead
                self._increment = 0
        self._last_ms = ms
        return (ms << 22) | (1 << 17) | self._increment


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    dms_open: bool = True
    locale: str = "en-US"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "collectibles": None,
            "clan": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Member:
    user_id: int
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)
    # When set, replaces the permissions computed from roles (a test shortcut).
    permissions_override: int | None = None


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


@dataclass
class Channel:
    id: int
    type: int
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    nsfw: bool = False
    overwrites: list[Overwrite] = field(default_factory=list)
    recipient_id: int | None = None  # DM channels
    last_message_id: int | None = None
    rate_limit_per_user: int = 0
    message_ids: list[int] = field(default_factory=list)
    pinned_ids: list[int] = field(default_factory=list)

    @property
    def is_dm(self) -> bool:
        return self.type == ChannelType.DM

    def payload(self, world: World) -> dict[str, Any]:
        last = str(self.last_message_id) if self.last_message_id else None
        if self.is_dm:
            assert self.recipient_id is not None
            return {
                "id": str(self.id),
                "type": self.type,
                "last_message_id": last,
                "flags": 0,
                "recipients": [world.user(self.recipient_id).payload()],
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.payload() for o in self.overwrites],
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "nsfw": self.nsfw,
            "flags": 0,
        }
        if self.type in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT, ChannelType.GUILD_FORUM):
            data.update(topic=self.topic, last_message_id=last, rate_limit_per_user=self.rate_limit_per_user)
        elif self.type in (ChannelType.GUILD_VOICE, ChannelType.GUILD_STAGE_VOICE):
            data.update(
                bitrate=64000,
                user_limit=0,
                rtc_region=None,
                last_message_id=last,
                rate_limit_per_user=self.rate_limit_per_user,
            )
        return data


class EventStatus:
    """Guild scheduled event status, as in Discord's documentation."""

    SCHEDULED = 1
    ACTIVE = 2
    COMPLETED = 3
    CANCELED = 4

    FINAL = frozenset({COMPLETED, CANCELED})
    # The only changes Discord accepts ("Valid Guild Scheduled Event Status Transitions").
    TRANSITIONS: ClassVar[dict[int, frozenset[int]]] = {
        SCHEDULED: frozenset({ACTIVE, CANCELED}),
        ACTIVE: frozenset({COMPLETED}),
    }


class EntityType:
    """Guild scheduled event entity types."""

    STAGE_INSTANCE = 1
    VOICE = 2
    EXTERNAL = 3

    ALL = frozenset({STAGE_INSTANCE, VOICE, EXTERNAL})


@dataclass
class ScheduledEvent:
    """A guild scheduled event as Discord stores it, plus who marked themselves "Interested"."""

    id: int
    guild_id: int
    name: str
    scheduled_start_time: datetime.datetime
    entity_type: int
    creator_id: int | None
    channel_id: int | None = None
    description: str | None = None
    scheduled_end_time: datetime.datetime | None = None
    privacy_level: int = 2
    status: int = EventStatus.SCHEDULED
    entity_id: int | None = None
    location: str | None = None  # entity_metadata.location, EXTERNAL events only
    image: str | None = None
    recurrence_rule: dict[str, Any] | None = None
    interested: set[int] = field(default_factory=set)

    @property
    def user_count(self) -> int:
        return len(self.interested)

    @property
    def entity_metadata(self) -> dict[str, Any] | None:
        return {"location": self.location} if self.entity_type == EntityType.EXTERNAL else None

    @property
    def is_live(self) -> bool:
        """SCHEDULED or ACTIVE: what counts towards the 100 events a guild may have."""
        return self.status not in EventStatus.FINAL

    def payload(self, world: World, *, with_user_count: bool = False) -> dict[str, Any]:
        """The event object. ``user_count`` only comes with ``?with_user_count=true`` on REST reads; gateway
        payloads lack it (discord.py then reads 0, Rapptz/discord.py#9750)."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id) if self.channel_id is not None else None,
            "creator_id": str(self.creator_id) if self.creator_id is not None else None,
            "name": self.name,
            "description": self.description,
            "image": self.image,
            "scheduled_start_time": self.scheduled_start_time.isoformat(),
            "scheduled_end_time": self.scheduled_end_time.isoformat() if self.scheduled_end_time else None,
            "status": self.status,
            "entity_type": self.entity_type,
            "entity_id": str(self.entity_id) if self.entity_id is not None else None,
            "entity_metadata": self.entity_metadata,
            "privacy_level": self.privacy_level,
            "recurrence_rule": copy.deepcopy(self.recurrence_rule),
            "guild_scheduled_event_exceptions": [],
        }
        if self.creator_id is not None and self.creator_id in world.users:
            data["creator"] = world.user(self.creator_id).payload()
        if with_user_count:
            data["user_count"] = self.user_count
        return data


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    preferred_locale: str = "en-US"
    roles: dict[int, Role] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    scheduled_events: dict[int, ScheduledEvent] = field(default_factory=dict)
    bot_role_id: int | None = None
    created_at: str = field(default_factory=iso_now)

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def base_payload(self) -> dict[str, Any]:
        """The guild object returned by REST."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in sorted(self.roles.values(), key=lambda r: r.position)],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "nsfw_level": 0,
            "nsfw": False,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
        }


def member_payload(
    world: World, member: Member, *, with_user: bool = True, permissions: int | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "roles": [str(r) for r in member.roles],
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "joined_at": member.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
    }
    if with_user:
        data["user"] = world.user(member.user_id).payload()
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


@dataclass
class StoredAttachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None
    payload: dict[str, Any]


@dataclass
class StoredMessage:
    """A message as Discord stores it, plus what the emulator keeps for tests."""

    payload: dict[str, Any]
    channel_id: int
    guild_id: int | None
    author_id: int
    allowed_mentions: dict[str, Any] | None
    ephemeral: bool = False
    # Kept beside the payload, not in it: Discord echoes the nonce in the create response and MESSAGE_CREATE
    # only, never when the message is fetched later.
    nonce: int | str | None = None
    created: float = field(default_factory=time.monotonic)
    interaction_id: int | None = None
    deleted: bool = False

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    def created_payload(self) -> dict[str, Any]:
        """The message as the create response and MESSAGE_CREATE carry it: with the sender's nonce."""
        data = copy.deepcopy(self.payload)
        if self.nonce is not None:
            data["nonce"] = self.nonce
        return data

    def inspect(self) -> dict[str, Any]:
        """A copy for tests: the create payload plus the ``allowed_mentions`` the sender asked for."""
        data = self.created_payload()
        data["allowed_mentions"] = copy.deepcopy(self.allowed_mentions)
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return data


class World:
    """All Discord-side state. Methods raise ApiError with Discord's codes for unknown objects."""

    def __init__(self) -> None:
        self.snowflake = SnowflakeGenerator()
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.attachments: dict[int, StoredAttachment] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._name_counter = itertools.count(1)

    # -- lookups -----------------------------------------------------------------------------------

    def user(self, user_id: int) -> User:
        try:
            return self.users[int(user_id)]
        except (KeyError, ValueError):
            raise ApiError(404, 10013) from None

    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[int(guild_id)]
        except (KeyError, ValueError):
            raise ApiError(404, 10004) from None

    def channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[int(channel_id)]
        except (KeyError, ValueError):
            raise ApiError(404, 10003) from None

    def message(self, channel_id: int, message_id: int) -> StoredMessage:
        msg = self.messages.get(int(message_id))
        if msg is None or msg.deleted or msg.channel_id != int(channel_id):
            raise ApiError(404, 10008)
        return msg

    def member(self, guild_id: int, user_id: int) -> Member:
        guild = self.guild(guild_id)
        try:
            return guild.members[int(user_id)]
        except (KeyError, ValueError):
            raise ApiError(404, 10007) from None

    def role(self, guild_id: int, role_id: int) -> Role:
        guild = self.guild(guild_id)
        try:
            return guild.roles[int(role_id)]
        except (KeyError, ValueError):
            raise ApiError(404, 10011) from None

    def scheduled_event(self, guild_id: int, event_id: int) -> ScheduledEvent:
        guild = self.guild(guild_id)
        try:
            return guild.scheduled_events[int(event_id)]
        except (KeyError, ValueError):
            raise ApiError(404, 10070) from None

    def guild_channels(self, guild: Guild) -> list[Channel]:
        return [self.channels[cid] for cid in guild.channel_ids]

    # -- creation ----------------------------------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False, dms_open: bool = True, locale: str = "en-US") -> User:
        user = User(id=self.snowflake(), username=username, bot=bot, dms_open=dms_open, locale=locale)
        self.users[user.id] = user
        return user

    def add_guild(
        self, name: str, owner_id: int, *, locale: str = "en-US", shard: tuple[int, int] | None = None
    ) -> Guild:
        gid = self.snowflake(shard=shard)
        guild = Guild(id=gid, name=name, owner_id=owner_id, preferred_locale=locale)
        guild.roles[gid] = Role(id=gid, guild_id=gid, name="@everyone", permissions=Perm.EVERYONE_DEFAULT, position=0)
        self.guilds[gid] = guild
        return guild

    def add_role(
        self,
        guild: Guild,
        name: str,
        permissions: int,
        *,
        position: int | None = None,
        mentionable: bool = False,
        hoist: bool = False,
        color: int = 0,
        managed_bot_id: int | None = None,
    ) -> Role:
        """Creates a role. Without a position it goes just below the bot's own role."""
        if position is None:
            bot_role = guild.roles.get(guild.bot_role_id) if guild.bot_role_id else None
            position = bot_role.position if bot_role else len(guild.roles)
        for other in guild.roles.values():
            if other.id != guild.id and other.position >= position:
                other.position += 1
        role = Role(
            id=self.snowflake(),
            guild_id=guild.id,
            name=name,
            permissions=permissions,
            position=max(1, position),
            mentionable=mentionable,
            hoist=hoist,
            color=color,
            managed=managed_bot_id is not None,
            bot_id=managed_bot_id,
        )
        guild.roles[role.id] = role
        return role

    def add_channel(
        self,
        guild: Guild,
        name: str,
        *,
        type: int = ChannelType.GUILD_TEXT,
        topic: str | None = None,
        parent_id: int | None = None,
        overwrites: list[Overwrite] | None = None,
    ) -> Channel:
        channel = Channel(
            id=self.snowflake(),
            type=type,
            name=name,
            guild_id=guild.id,
            position=len(guild.channel_ids),
            topic=topic,
            parent_id=parent_id,
            overwrites=list(overwrites or []),
        )
        self.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        return channel

    def dm_channel_for(self, user_id: int, *, create: bool) -> Channel | None:
        channel_id = self.dm_channels.get(user_id)
        if channel_id is not None:
            return self.channels[channel_id]
        if not create:
            return None
        channel = Channel(id=self.snowflake(), type=ChannelType.DM, recipient_id=user_id)
        self.channels[channel.id] = channel
        self.dm_channels[user_id] = channel.id
        return channel

    # -- permissions -------------------------------------------------------------------------------

    def base_permissions(self, guild: Guild, user_id: int) -> int:
        if user_id == guild.owner_id:
            return Perm.ALL
        member = guild.members.get(user_id)
        if member is None:
            return 0
        if member.permissions_override is not None:
            perms = member.permissions_override
        else:
            perms = guild.everyone.permissions
            for role_id in member.roles:
                role = guild.roles.get(role_id)
                if role is not None:
                    perms |= role.permissions
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        return perms

    def channel_permissions(self, channel: Channel, user_id: int) -> int:
        """Permissions of a user in a channel, overwrites included (Discord's algorithm)."""
        if channel.guild_id is None:
            # A DM: only its recipient and the bot can use it.
            return (
                Perm.VIEW_CHANNEL
                | Perm.SEND_MESSAGES
                | Perm.EMBED_LINKS
                | Perm.ATTACH_FILES
                | Perm.READ_MESSAGE_HISTORY
                | Perm.ADD_REACTIONS
                | Perm.USE_EXTERNAL_EMOJIS
                | Perm.MENTION_EVERYONE
            )
        guild = self.guild(channel.guild_id)
        perms = self.base_permissions(guild, user_id)
        if perms == Perm.ALL:
            return perms
        member = guild.members.get(user_id)
        overwrites = {o.id: o for o in channel.overwrites}
        everyone = overwrites.get(guild.id)
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in member.roles if member else []:
            ow = overwrites.get(role_id)
            if ow is not None and ow.type == 0:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        own = overwrites.get(user_id)
        if own is not None and own.type == 1:
            perms = (perms & ~own.deny) | own.allow
        if not perms & Perm.VIEW_CHANNEL:
            return 0
        if not perms & Perm.SEND_MESSAGES:
            perms &= ~(Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES)
        return perms

    def highest_role_position(self, guild: Guild, user_id: int) -> int:
        if user_id == guild.owner_id:
            return 1 << 30
        member = guild.members.get(user_id)
        if member is None:
            return -1
        return max([guild.roles[r].position for r in member.roles if r in guild.roles] or [0])

    def share_guild(self, user_a: int, user_b: int) -> bool:
        return any(user_a in g.members and user_b in g.members for g in self.guilds.values())

    # -- payloads ----------------------------------------------------------------------------------

    def gateway_guild_payload(self, guild: Guild, *, all_members: bool, bot_id: int) -> dict[str, Any]:
        """A GUILD_CREATE payload. Without presences only the bot's own member is included, as on Discord."""
        data = guild.base_payload()
        members = guild.members.values() if all_members else [m for m in guild.members.values() if m.user_id == bot_id]
        bot_member = guild.members.get(bot_id)
        data.update(
            joined_at=bot_member.joined_at if bot_member else guild.created_at,
            large=len(guild.members) > 250,
            unavailable=False,
            lazy=True,
            member_count=len(guild.members),
            voice_states=[],
            members=[member_payload(self, m) for m in members],
            channels=[self._gateway_channel(c) for c in self.guild_channels(guild)],
            threads=[],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[e.payload(self) for e in guild.scheduled_events.values()],
            soundboard_sounds=[],
            embedded_activities=[],
        )
        return data

    def _gateway_channel(self, channel: Channel) -> dict[str, Any]:
        data = channel.payload(self)
        data.pop("guild_id", None)
        return data

    def interaction_channel_payload(self, channel: Channel, user_id: int) -> dict[str, Any]:
        data = channel.payload(self)
        data["permissions"] = str(self.channel_permissions(channel, user_id))
        return data
