"""Guild scheduled events: Discord's checks and gateway events, shared by the REST routes and the test API.

Sources: Discord's documentation (resources/guild-scheduled-event, topics/permissions, the November 2025
change log) and discord.py's own ``scheduled_event.py`` / ``state.py``. Where Discord documents a rule but not
the exact form error it answers with, the code below says so.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ApiError, FormErrors
from .gateway import Intent
from .state import ChannelType, EntityType, EventStatus, Guild, Perm, ScheduledEvent, World, member_payload

if TYPE_CHECKING:
    from .emulator import DiscordEmulator

# "A guild can have a maximum of 100 events with SCHEDULED or ACTIVE status at any time."
MAX_LIVE_EVENTS = 100
NAME_LIMIT = 100
DESCRIPTION_LIMIT = 1000
LOCATION_LIMIT = 100
USERS_PAGE_LIMIT = 100

# What a voice or stage event needs in its channel besides CREATE_EVENTS / MANAGE_EVENTS ("Guild Scheduled
# Event Permissions Requirements"). EXTERNAL events are checked against guild-level permissions only.
CHANNEL_PERMS: dict[int, int] = {
    EntityType.STAGE_INSTANCE: Perm.MANAGE_CHANNELS | Perm.MUTE_MEMBERS | Perm.MOVE_MEMBERS,
    EntityType.VOICE: Perm.VIEW_CHANNEL | Perm.CONNECT,
}
CHANNEL_TYPES: dict[int, int] = {
    EntityType.STAGE_INSTANCE: ChannelType.GUILD_STAGE_VOICE,
    EntityType.VOICE: ChannelType.GUILD_VOICE,
}

GATEWAY_EVENTS = frozenset(
    {
        "GUILD_SCHEDULED_EVENT_CREATE",
        "GUILD_SCHEDULED_EVENT_UPDATE",
        "GUILD_SCHEDULED_EVENT_DELETE",
        "GUILD_SCHEDULED_EVENT_USER_ADD",
        "GUILD_SCHEDULED_EVENT_USER_REMOVE",
    }
)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def parse_time(value: Any, path: list[str | int], errors: FormErrors) -> datetime.datetime | None:
    """An ISO 8601 timestamp (a datetime is accepted too, for the test API); naive ones are taken as UTC."""
    if value is None:
        return None
    parsed: datetime.datetime | None = value if isinstance(value, datetime.datetime) else None
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        errors.add(path, "DATE_TYPE_INVALID", f'Could not interpret "{value}" as date.')
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


def _snowflake(value: Any, path: list[str | int], errors: FormErrors | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if errors is not None:
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
    return None


def validate_event_body(
    world: World,
    guild: Guild,
    body: Mapping[str, Any],
    *,
    existing: ScheduledEvent | None,
    now: datetime.datetime,
) -> dict[str, Any]:
    """Checks a create (``existing`` None) or modify body; returns the ScheduledEvent fields to set.

    Raises 400 50035 with every field error at once. Form-error codes confirmed from Discord's answers:
    BASE_TYPE_REQUIRED (privacy_level, twilight-rs/twilight#1960), GUILD_SCHEDULED_EVENT_SCHEDULE_PAST and its
    message "Cannot schedule event in the past."; the length and type codes are Discord's usual ones. The codes
    for an end before the start, a bad status transition, a channel on an EXTERNAL event and a wrong channel
    type are the emulator's names for rules Discord documents without their error text.
    """
    errors = FormErrors()
    creating = existing is None
    fields: dict[str, Any] = {}

    if creating or "name" in body:
        name = body.get("name")
        if name is None:
            errors.required(["name"])
        else:
            errors.max_length(["name"], name, NAME_LIMIT, minimum=1)
            fields["name"] = name
    if "description" in body:
        description = body["description"]
        errors.max_length(["description"], description, DESCRIPTION_LIMIT)
        fields["description"] = description or None
    if creating or "privacy_level" in body:
        level = body.get("privacy_level")
        if level is None:
            errors.required(["privacy_level"])
        elif isinstance(level, bool) or level != 2:
            errors.add(["privacy_level"], "BASE_TYPE_CHOICES", "Value must be one of {2}.")

    entity_type = existing.entity_type if existing is not None else None
    if creating or body.get("entity_type") is not None:  # on modify, null leaves it as it is
        raw_type = body.get("entity_type")
        if raw_type is None:
            errors.required(["entity_type"])
        elif isinstance(raw_type, bool) or raw_type not in EntityType.ALL:
            errors.add(["entity_type"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3}.")
            entity_type = None
        else:
            entity_type = raw_type

    status = existing.status if existing is not None else EventStatus.SCHEDULED
    if existing is not None and body.get("status") is not None:
        wanted = body["status"]
        if isinstance(wanted, bool) or wanted not in (1, 2, 3, 4):
            errors.add(["status"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
        elif wanted != status:
            if wanted in EventStatus.TRANSITIONS.get(status, frozenset()):
                fields["status"] = wanted
            else:
                errors.add(
                    ["status"],
                    "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
                    f"Cannot change the status of an event from {status} to {wanted}.",
                )

    start = existing.scheduled_start_time if existing is not None else None
    if creating or "scheduled_start_time" in body:
        raw_start = body.get("scheduled_start_time")
        if raw_start is None:
            errors.required(["scheduled_start_time"])
        else:
            parsed = parse_time(raw_start, ["scheduled_start_time"], errors)
            if parsed is not None:
                if status == EventStatus.ACTIVE:
                    # Reported from Discord (a start sent to a running event fails, changed or not); the code's
                    # prefix was not quoted in full.
                    errors.add(
                        ["scheduled_start_time"],
                        "GUILD_SCHEDULED_EVENT_INVALID_START_BY_STATUS",
                        "Cannot change the start time of an event that has started.",
                    )
                elif parsed < now:
                    errors.add(
                        ["scheduled_start_time"],
                        "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
                        "Cannot schedule event in the past.",
                    )
                start = parsed
                fields["scheduled_start_time"] = parsed
    end = existing.scheduled_end_time if existing is not None else None
    if "scheduled_end_time" in body:
        raw_end = body["scheduled_end_time"]
        end = parse_time(raw_end, ["scheduled_end_time"], errors) if raw_end is not None else None
        fields["scheduled_end_time"] = end
    if start is not None and end is not None and end <= start:
        errors.add(
            ["scheduled_end_time"],
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "Cannot schedule event to end before starting.",
        )

    channel_id = existing.channel_id if existing is not None else None
    if "channel_id" in body:
        channel_id = _snowflake(body["channel_id"], ["channel_id"], errors)
    location = existing.location if existing is not None else None
    if "entity_metadata" in body:
        metadata = body["entity_metadata"]
        if metadata is None:
            location = None
        elif not isinstance(metadata, dict):
            errors.add(["entity_metadata"], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        else:
            location = metadata.get("location")
    if entity_type == EntityType.EXTERNAL:
        # Field requirements by entity type: channel_id null, entity_metadata.location and an end time set.
        if location is None:
            errors.required(["entity_metadata", "location"])
        else:
            errors.max_length(["entity_metadata", "location"], location, LOCATION_LIMIT, minimum=1)
        if end is None:
            errors.required(["scheduled_end_time"])
        if channel_id is not None:
            errors.add(
                ["channel_id"],
                "GUILD_SCHEDULED_EVENT_CHANNEL_NOT_ALLOWED",
                "External events cannot have a channel.",
            )
    elif entity_type in CHANNEL_TYPES:
        if channel_id is None:
            errors.required(["channel_id"])
        else:
            channel = world.channels.get(channel_id)
            if channel is None or channel.guild_id != guild.id or channel.type != CHANNEL_TYPES[entity_type]:
                errors.add(
                    ["channel_id"],
                    "GUILD_SCHEDULED_EVENT_INVALID_CHANNEL",
                    "Invalid channel for this event type.",
                )
        # "This endpoint silently discards entity_metadata for non-EXTERNAL events."
        location = None
    fields.update(entity_type=entity_type, channel_id=channel_id, location=location)

    if "image" in body:
        image = body["image"]
        fields["image"] = hashlib.md5(str(image).encode(), usedforsecurity=False).hexdigest() if image else None
    if "recurrence_rule" in body:  # kept as sent; Discord's recurrence limits are not checked
        rule = body["recurrence_rule"]
        fields["recurrence_rule"] = dict(rule) if isinstance(rule, dict) else None
    errors.raise_if_any()
    return fields


class ScheduledEvents:
    """Creates, edits and deletes events as a given user (the bot over REST, a moderator by hand) and sends
    the gateway events, only to sessions identified with GUILD_SCHEDULED_EVENTS (1 << 16)."""

    def __init__(self, emulator: DiscordEmulator) -> None:
        self.emu = emulator

    @property
    def world(self) -> World:
        return self.emu.world

    # -- permissions -------------------------------------------------------------------------------

    def check_permissions(
        self, guild: Guild, user_id: int, entity_type: Any, channel_id: int | None, *, event: ScheduledEvent | None
    ) -> None:
        """403 50013 unless ``user_id`` may create (``event`` None) or modify/delete ``event``.

        Creating needs CREATE_EVENTS: since 23 February 2026 MANAGE_EVENTS alone no longer lets a bot create
        events (Discord change log, 24 November 2025). Modifying or deleting needs MANAGE_EVENTS, or
        CREATE_EVENTS for the user's own events. For voice and stage events these are computed in the event's
        channel (overwrites included) together with the channel permissions of CHANNEL_PERMS.
        """
        if event is None:
            wanted = Perm.CREATE_EVENTS
        elif event.creator_id == user_id:
            wanted = Perm.CREATE_EVENTS | Perm.MANAGE_EVENTS
        else:
            wanted = Perm.MANAGE_EVENTS
        channel = self.world.channels.get(channel_id) if channel_id is not None else None
        if entity_type in CHANNEL_PERMS and channel is not None and channel.guild_id == guild.id:
            have = self.world.channel_permissions(channel, user_id)
            also = CHANNEL_PERMS[entity_type]
        else:
            have = self.world.base_permissions(guild, user_id)
            also = 0
        if not have & wanted or have & also != also:
            raise ApiError(403, 50013)

    def can_see(self, event: ScheduledEvent, user_id: int) -> bool:
        """Voice and stage events need VIEW_CHANNEL on their channel; external ones need nothing."""
        channel = self.world.channels.get(event.channel_id) if event.channel_id is not None else None
        if event.entity_type not in CHANNEL_PERMS or channel is None:
            return True
        return bool(self.world.channel_permissions(channel, user_id) & Perm.VIEW_CHANNEL)

    # -- changes -----------------------------------------------------------------------------------

    def create(self, guild: Guild, user_id: int, body: Mapping[str, Any]) -> ScheduledEvent:
        raw_type = body.get("entity_type")
        self.check_permissions(guild, user_id, raw_type, _snowflake(body.get("channel_id"), []), event=None)
        fields = validate_event_body(self.world, guild, body, existing=None, now=utcnow())
        if sum(1 for e in guild.scheduled_events.values() if e.is_live) >= MAX_LIVE_EVENTS:
            raise ApiError(400, 30038)
        event = ScheduledEvent(id=self.world.snowflake(), guild_id=guild.id, creator_id=user_id, **fields)
        guild.scheduled_events[event.id] = event
        self.dispatch(guild, "GUILD_SCHEDULED_EVENT_CREATE", event.payload(self.world))
        return event

    def edit(self, guild: Guild, event: ScheduledEvent, user_id: int, body: Mapping[str, Any]) -> ScheduledEvent:
        self.check_permissions(guild, user_id, event.entity_type, event.channel_id, event=event)
        if event.status in EventStatus.FINAL:
            # "Once status is set to COMPLETED or CANCELED, the status can no longer be updated"; the JSON
            # error codes list 180000 for it.
            raise ApiError(400, 180000)
        fields = validate_event_body(self.world, guild, body, existing=event, now=utcnow())
        if (fields["entity_type"], fields["channel_id"]) != (event.entity_type, event.channel_id):
            self.check_permissions(guild, user_id, fields["entity_type"], fields["channel_id"], event=event)
        for name, value in fields.items():
            setattr(event, name, value)
        self.dispatch(guild, "GUILD_SCHEDULED_EVENT_UPDATE", event.payload(self.world))
        return event

    def delete(self, guild: Guild, event: ScheduledEvent, user_id: int) -> None:
        self.check_permissions(guild, user_id, event.entity_type, event.channel_id, event=event)
        del guild.scheduled_events[event.id]
        self.dispatch(guild, "GUILD_SCHEDULED_EVENT_DELETE", event.payload(self.world))

    def set_interested(self, guild: Guild, event: ScheduledEvent, user_id: int, interested: bool) -> bool:
        """Returns False when nothing changed (no gateway event then)."""
        if (user_id in event.interested) == interested:
            return False
        if interested:
            event.interested.add(user_id)
        else:
            event.interested.discard(user_id)
        kind = "GUILD_SCHEDULED_EVENT_USER_ADD" if interested else "GUILD_SCHEDULED_EVENT_USER_REMOVE"
        data = {"guild_scheduled_event_id": str(event.id), "user_id": str(user_id), "guild_id": str(guild.id)}
        self.dispatch(guild, kind, data)
        return True

    def dispatch(self, guild: Guild, kind: str, data: dict[str, Any]) -> int:
        self.emu.changed.notify()
        if self.emu.bot_user_id not in guild.members:
            return 0
        return self.emu.gateway.dispatch(kind, data, guild_id=guild.id, intent=Intent.GUILD_SCHEDULED_EVENTS)

    # -- reads -------------------------------------------------------------------------------------

    def users_page(
        self,
        guild: Guild,
        event: ScheduledEvent,
        *,
        limit: int,
        before: int | None,
        after: int | None,
        with_member: bool,
    ) -> list[dict[str, Any]]:
        """GET .../users: "always returned in ascending order by user_id"; with both anchors "only before is
        respected". Which ``limit`` users an anchor selects is not documented: here the ones nearest to it
        (before: the highest ids below it; after: the lowest ids above it; no anchor: the lowest ids)."""
        ids = sorted(event.interested)
        if before is not None:
            page = [i for i in ids if i < before][-limit:]
        elif after is not None:
            page = [i for i in ids if i > after][:limit]
        else:
            page = ids[:limit]
        result = []
        for user_id in page:
            entry: dict[str, Any] = {
                "guild_scheduled_event_id": str(event.id),
                "user": self.world.user(user_id).payload(),
            }
            member = guild.members.get(user_id)
            if with_member and member is not None:
                entry["member"] = member_payload(self.world, member, with_user=False)
            result.append(entry)
        return result
