"""The rules of the conference office: talks, seats, the waitlist and who may do what."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot import eligibility, joinlink, owed, store
from bot.batching import Batcher
from bot.certificates import parse_year_start
from bot.checkin_codes import new_code
from bot.command_names import command, option
from bot.database import Database
from bot.errors import InputError, NotFoundError, PermissionDeniedError, PodiumError, StateError
from bot.i18n import DEFAULT_LANGUAGE, Text, _, _n, languages
from bot.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    GuildSettings,
    Registration,
    RegistrationStatus,
    Seats,
    Talk,
    TalkStatus,
)
from bot.sql import Connection
from bot.timeparse import date_example, discord_timestamp, parse_offsets, parse_timezone, parse_when, typed_date

TITLE_MAX = 100
SPEAKER_MAX = 100
DESCRIPTION_MAX = 2000
BIO_MAX = 1000
LOCATION_MAX = 200
REASON_MAX = 500
DURATION_MAX = 24 * 60
CAPACITY_MAX = 100_000
# Changes to these reach members' calendars, so they raise SEQUENCE and trigger updated invites.
INVITE_FIELDS = frozenset({"title", "speaker", "start_at", "duration_min", "location"})
CLEAR = "-"
UNLIMITED = 0  # /talk edit capacity:0 gives a talk unlimited seats again
NO_SPEAKER_USER = 0  # /talk edit remove_speaker_user:true: nobody receives the questions by DM any more

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ChangeLimit:
    """How often a member may register for or unregister from one talk, and how their messages are paced.

    Each change owes a DM (and its email twin), so without a limit a member toggling the Register button
    could make the bot send them a message per click. At most ``per_window`` changes per talk in any rolling
    ``window``; past that the change is refused with when it will be accepted again. A change that follows
    the member's previous one within ``hold`` has its message wait ``hold``: a further change in that time
    supersedes it, so a burst of toggles sends one message for the state it ends in (the first change of a
    burst is sent at once, as a lone registration is).
    """

    per_window: int = 4
    window: timedelta = timedelta(hours=1)
    hold: timedelta = timedelta(seconds=5)

    def next_allowed(self, changes: Sequence[datetime], now: datetime) -> datetime | None:
        """When the member may change again, or None when they may now (``changes`` oldest first)."""
        recent = [moment for moment in changes if moment > now - self.window]
        if len(recent) < self.per_window:
            return None
        return recent[len(recent) - self.per_window] + self.window

    def held_until(self, changes: Sequence[datetime], now: datetime) -> datetime | None:
        """Until when the message of a change made now waits, or None to send it at once."""
        if changes and now - changes[-1] < self.hold:
            return now + self.hold
        return None

    def forget_before(self, changes: Sequence[datetime], now: datetime) -> datetime | None:
        """The cut-off for pruning the member's changes that no longer count, when there are any."""
        cutoff = now - self.window
        return cutoff if changes and changes[0] < cutoff else None


PICK_HINT = _("Pick one from the list as you type, or see {talks}.", talks=command("talks"))
MINE_HINT = _("See {mytalks} for yours.", mytalks=command("mytalks"))


def no_such_talk(talk_id: int, hint: Text = PICK_HINT) -> NotFoundError:
    """What a member is told about a talk they may not see: the same whether it is held back or does not exist."""
    return NotFoundError(_("There is no talk #{talk_id} in this server. {hint}", talk_id=talk_id, hint=hint))


def _state_text(registration: Registration | None) -> Text:
    if registration is None:
        return _("not registered")
    if registration.confirmed:
        return _("registered, with a confirmed seat")
    return _("#{position} on the waitlist", position=registration.position)


def _too_many_changes(talk: Talk, limit: ChangeLimit, retry_at: datetime, current: Registration | None) -> StateError:
    hours = int(limit.window.total_seconds() // 3600)
    return StateError(
        _n(
            "You have changed your registration for **{title}** {changes} times in the last hour, the most I "
            "accept, so that quick changes cannot flood your messages. Nothing changed: you are still {state}. "
            "You can change it again {relative} (at {time}).",
            "You have changed your registration for **{title}** {changes} times in the last {count} hours, the "
            "most I accept, so that quick changes cannot flood your messages. Nothing changed: you are still "
            "{state}. You can change it again {relative} (at {time}).",
            hours,
            title=talk.title,
            changes=limit.per_window,
            state=_state_text(current),
            relative=discord_timestamp(retry_at, "R"),
            time=discord_timestamp(retry_at, "t"),
        )
    )


@dataclass(frozen=True)
class TalkInput:
    """What an organizer typed into /talk create or /talk edit; None means "not given"."""

    title: str | None = None
    speaker: str | None = None
    start: str | None = None
    duration: int | None = None
    location: str | None = None
    capacity: int | None = None
    description: str | None = None
    speaker_bio: str | None = None
    reminders: str | None = None
    announce_at: str | None = None
    join_url: str | None = None  # private: confirmed members only, from the release time (bot/joinlink.py)
    checkin_code: bool | None = None  # True: checking in needs a code (a new one unless the talk has one)
    # The speaker's Discord account (they receive the questions); NO_SPEAKER_USER clears it on edit.
    speaker_user: int | None = None
    # Who may register and from when (bot/eligibility.py): roles as typed (mentions or ids), "-" clears.
    eligible_roles: str | None = None
    priority_roles: str | None = None
    priority_until: str | None = None  # a date, typed like announce_at
    # The server's role ids, read from Discord by the cog, so the roles typed above can be checked.
    server_roles: frozenset[int] = field(default=frozenset(), metadata={"edits": False})
    # The organizer's language: which ways of writing a date they may type (not a value of the talk).
    language: str = field(default=DEFAULT_LANGUAGE, metadata={"edits": False})

    def given(self) -> bool:
        """Whether any of the talk's values was given (the organizer's language is not one)."""
        return any(getattr(self, item.name) is not None for item in fields(self) if item.metadata.get("edits", True))


@dataclass(frozen=True)
class _RegisterRequest:
    guild_id: int
    talk_id: int
    user_id: int
    display_name: str
    roles: frozenset[int]  # the member's role ids, as the entry point read them from Discord


@dataclass(frozen=True)
class RegisterOutcome:
    talk: Talk
    registration: Registration
    created: bool
    seats: Seats
    owed: list[Delivery] = field(default_factory=list)  # recorded in the registration's transaction
    held_until: datetime | None = None  # the member's own rows wait until then (see ChangeLimit)

    @property
    def invite(self) -> Delivery | None:
        """The member's own invite DM, when one is owed."""
        return next((row for row in self.owed if row.kind is DeliveryKind.INVITE_CONFIRMED), None)


@dataclass(frozen=True)
class UnregisterOutcome:
    talk: Talk
    removed: Registration
    promoted: list[Registration]
    seats: Seats
    owed: list[Delivery] = field(default_factory=list)
    held_until: datetime | None = None  # the member's own rows wait until then; promotions go at once

    @property
    def withdrawal(self) -> Delivery | None:
        return next((row for row in self.owed if row.kind is DeliveryKind.INVITE_WITHDRAWN), None)


@dataclass(frozen=True)
class EditOutcome:
    talk: Talk
    previous: Talk
    changed: frozenset[str]
    promoted: list[Registration]
    seats: Seats
    confirmed: list[Registration] = field(default_factory=list)
    owed: list[Delivery] = field(default_factory=list)
    updated: int = 0  # confirmed members sent an updated invite

    @property
    def invite_changed(self) -> bool:
        return bool(self.changed & INVITE_FIELDS)

    @property
    def over_capacity(self) -> int:
        if self.talk.capacity is None:
            return 0
        return max(self.seats.confirmed - self.talk.capacity, 0)


@dataclass(frozen=True)
class CancelOutcome:
    talk: Talk
    confirmed: list[Registration]
    waitlisted: list[Registration] = field(default_factory=list)
    owed: list[Delivery] = field(default_factory=list)


@dataclass(frozen=True)
class ImportOutcome:
    created: list[Talk]
    already_imported: set[str]  # source UIDs this server had from an earlier import: left out


def _text(value: str | None, name: str, limit: int, *, required: bool, example: Text | None = None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        if required:
            raise InputError(_("{name} cannot be empty, for example `{example}`.", name=option(name), example=example))
        return None
    if len(cleaned) > limit:
        raise InputError(
            _(
                "{name} is {length} characters long; the limit is {limit}. Shorten it and try again.",
                name=option(name),
                length=len(cleaned),
                limit=limit,
            )
        )
    return cleaned


def ensure_organizer(
    settings: GuildSettings, role_ids: Collection[int], *, server_wide: bool, in_channel_only: bool = False
) -> None:
    """Organizers hold the configured organizer role, or Manage Events (or Manage Server) for the whole server.

    ``server_wide`` is whether the member's roles grant that permission server-wide; ``in_channel_only`` whether
    they have it only through one channel's permission overwrites, which a server admin may grant to run a
    voice or stage channel's events: that does not make anyone an organizer of the whole programme.
    """
    if server_wide:
        return
    if settings.organizer_role_id is not None and settings.organizer_role_id in role_ids:
        return
    mention = f"<@&{settings.organizer_role_id}>"
    role_hint = _("the {role} role", role=mention) if settings.organizer_role_id else _("an organizer role")
    if in_channel_only:
        raise PermissionDeniedError(
            _(
                "Only organizers can do this. You have Manage Events in this channel only, and organizing talks "
                "needs {role} or Manage Events for the whole server (a role's permission, not a channel's). "
                "Ask a server admin.",
                role=role_hint,
            )
        )
    raise PermissionDeniedError(
        _(
            "Only organizers can do this: you need {role} or the Manage Events permission. Ask a server admin to "
            "set one up with {setup}.",
            role=role_hint,
            setup=command("setup", organizer_role=""),
        )
    )


class TalkService:
    """Talks, registrations and server settings, on top of the database."""

    def __init__(
        self,
        db: Database,
        default_tz: ZoneInfo,
        clock: Callable[[], datetime] = utcnow,
        *,
        email: bool = False,
        change_limit: ChangeLimit | None = None,
    ) -> None:
        self.db = db
        self.default_tz = default_tz
        self.clock = clock
        self.email = email  # invites also owe their email twins (SMTP is configured)
        self.change_limit = change_limit or ChangeLimit()
        self._registrations = Batcher(self._register_batch)

    # --- settings ---------------------------------------------------------------------------------

    async def settings(self, guild_id: int) -> GuildSettings:
        async with self.db.reading() as conn:
            return await store.get_settings(conn, guild_id)

    async def zone(self, guild_id: int) -> ZoneInfo:
        return (await self.settings(guild_id)).zone(self.default_tz)

    async def update_settings(
        self,
        guild_id: int,
        *,
        channel_id: int | None = None,
        organizer_role_id: int | None = None,
        timezone: str | None = None,
        reminders: str | None = None,
        ping_role_id: int | None = None,
        public_calendar: bool | None = None,
        language: str | None = None,
        year_start: str | None = None,
        join_link_before: str | None = None,
        native_events: bool | None = None,
        interested_registers: bool | None = None,
    ) -> GuildSettings:
        # Validate everything before writing anything, so a bad value changes nothing.
        if language is not None and language not in languages():
            raise InputError(_("Podium speaks {languages}: pick one of them.", languages=", ".join(languages())))
        zone = parse_timezone(timezone).key if timezone is not None else None
        offsets = parse_offsets(reminders) if reminders is not None else None
        first_day = parse_year_start(year_start) if year_start is not None else None
        lead = joinlink.parse_lead(join_link_before) if join_link_before is not None else None
        async with self.db.transaction() as conn:
            current = await store.get_settings(conn, guild_id)
            updated = replace(
                current,
                channel_id=channel_id if channel_id is not None else current.channel_id,
                organizer_role_id=organizer_role_id if organizer_role_id is not None else current.organizer_role_id,
                timezone=zone if zone is not None else current.timezone,
                reminders=offsets if offsets is not None else current.reminders,
                ping_role_id=ping_role_id if ping_role_id is not None else current.ping_role_id,
                public_calendar=public_calendar if public_calendar is not None else current.public_calendar,
                language=language if language is not None else current.language,
                year_start=first_day if first_day is not None else current.year_start,
                join_link_before=lead if lead is not None else current.join_link_before,
                native_events=native_events if native_events is not None else current.native_events,
                interested_registers=(
                    interested_registers if interested_registers is not None else current.interested_registers
                ),
            )
            return await store.save_settings(conn, updated, self.clock())

    # --- talks ------------------------------------------------------------------------------------

    async def get_talk(self, guild_id: int, talk_id: int) -> Talk:
        async with self.db.reading() as conn:
            talk = await store.get_talk(conn, guild_id, talk_id)
        if talk is None:
            raise no_such_talk(talk_id)
        return talk

    async def member_talk(self, guild_id: int, talk_id: int, user_id: int) -> Talk:
        """The talk as a member may see it: announced (Talk.is_public), or one they are registered for (they
        saw it when they joined). Otherwise the same error as for a talk that does not exist."""
        now = self.clock()
        async with self.db.reading() as conn:
            talk = await store.get_talk(conn, guild_id, talk_id)
            if talk is not None and not talk.is_public(now):
                talk = talk if await store.get_registration(conn, talk.id, user_id) else None
        if talk is None:
            raise no_such_talk(talk_id)
        return talk

    async def guild_of(self, talk_id: int) -> int:
        """The server of a talk named by an Unregister button in a DM (where there is no server); unknown, it is
        refused in the words unregister uses for a talk the member may not see."""
        async with self.db.reading() as conn:
            talk = await store.get_talk_by_id(conn, talk_id)
        if talk is None:
            raise no_such_talk(talk_id, MINE_HINT)
        return talk.guild_id

    async def upcoming(self, guild_id: int, *, limit: int = 25, public_only: bool = True) -> list[Talk]:
        """Talks not yet over, soonest first; with ``public_only`` only those members may see (Talk.is_public)."""
        now = self.clock()
        async with self.db.reading() as conn:
            return await store.list_talks(
                conn, guild_id, ends_after=now, public_at=now if public_only else None, limit=limit
            )

    async def recent(self, guild_id: int, *, limit: int = 25) -> list[Talk]:
        async with self.db.reading() as conn:
            return await store.recent_talks(conn, guild_id, limit=limit)

    async def seats(self, talk: Talk) -> Seats:
        async with self.db.reading() as conn:
            return await store.seats(conn, talk)

    def _validated(self, guild_id: int, data: TalkInput, tz: ZoneInfo, *, creating: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        now = self.clock()
        title = _text(data.title, "title", TITLE_MAX, required=True, example=_("Drug discovery in 2030"))
        if title is not None:
            fields["title"] = title
        speaker = _text(data.speaker, "speaker", SPEAKER_MAX, required=True, example=_("Prof. Ada Lovelace"))
        if speaker is not None:
            fields["speaker"] = speaker
        for name, value, limit in (
            ("location", data.location, LOCATION_MAX),
            ("description", data.description, DESCRIPTION_MAX),
            ("speaker_bio", data.speaker_bio, BIO_MAX),
        ):
            if value is not None:
                # On edit, "-" clears an optional text; on create an empty value is simply absent.
                fields[name] = None if value.strip() == CLEAR else _text(value, name, limit, required=False)
        if data.start is not None:
            start = parse_when(data.start, tz, field="start", language=data.language, now=now)
            if start <= now:
                raise InputError(
                    _(
                        "{start} ({when}) is in the past. Give a future date, for example `{example}`.",
                        start=option("start"),
                        when=typed_date(start, tz),
                        example=date_example(now, tz),
                    )
                )
            fields["start_at"] = start
        if data.duration is not None:
            if not 1 <= data.duration <= DURATION_MAX:
                raise InputError(
                    _(
                        "{duration} is in minutes, from 1 to {limit} (24 hours); you gave {given}. For example `90` "
                        "for an hour and a half.",
                        duration=option("duration"),
                        limit=DURATION_MAX,
                        given=data.duration,
                    )
                )
            fields["duration_min"] = data.duration
        if data.capacity is not None:
            if data.capacity == UNLIMITED and not creating:
                fields["capacity"] = None
            elif not 1 <= data.capacity <= CAPACITY_MAX:
                unlimited = _("leave it empty") if creating else _("give {unlimited}", unlimited=UNLIMITED)
                raise InputError(
                    _(
                        "{capacity} must be at least 1 and at most {limit} (you gave {given}); {unlimited} for "
                        "unlimited seats. For example `120`.",
                        capacity=option("capacity"),
                        limit=CAPACITY_MAX,
                        given=data.capacity,
                        unlimited=unlimited,
                    )
                )
            else:
                fields["capacity"] = data.capacity
        if data.checkin_code is not None:
            fields["checkin_code"] = new_code() if data.checkin_code else None
        if data.speaker_user is not None:
            fields["speaker_user_id"] = None if data.speaker_user == NO_SPEAKER_USER else data.speaker_user
        if data.reminders is not None:
            fields["reminders"] = parse_offsets(data.reminders)
        if data.join_url is not None:
            join_url = joinlink.parse_join_url(data.join_url, creating=creating)
            if join_url is not None or not creating:
                fields["join_url"] = join_url
        if data.announce_at is not None:
            if data.announce_at.strip() == CLEAR and not creating:
                fields["announce_at"] = None
            else:
                announce = parse_when(data.announce_at, tz, field="announce_at", language=data.language, now=now)
                if announce <= now:
                    raise InputError(
                        _(
                            "{announce_at} ({when}) is in the past. Leave it empty to announce at once, or give a "
                            "future date, for example `{example}`.",
                            announce_at=option("announce_at"),
                            when=typed_date(announce, tz),
                            example=date_example(now, tz),
                        )
                    )
                fields["announce_at"] = announce
        fields |= eligibility.role_fields(
            eligible=data.eligible_roles,
            priority=data.priority_roles,
            until=data.priority_until,
            guild_id=guild_id,
            server_roles=data.server_roles,
            tz=tz,
            language=data.language,
            now=now,
        )
        return fields

    async def create_talk(self, guild_id: int, author_id: int, data: TalkInput) -> Talk:
        fields = self.creation_fields(data, await self.settings(guild_id))
        async with self.db.transaction() as conn:
            return await store.insert_talk(conn, guild_id, author_id, self.clock(), fields)

    def creation_fields(self, data: TalkInput, settings: GuildSettings) -> dict[str, Any]:
        """The columns of a new talk, checked by the rules of /talk create (also each date of a series)."""
        if data.title is None or data.speaker is None or data.start is None:
            raise InputError(
                _(
                    "A talk needs a {title}, a {speaker} and a {start}.",
                    title=option("title"),
                    speaker=option("speaker"),
                    start=option("start"),
                )
            )
        tz = settings.zone(self.default_tz)
        fields = self._validated(settings.guild_id, data, tz, creating=True)
        fields.setdefault("duration_min", 60)
        fields.setdefault("reminders", settings.default_reminders())
        _check_announce_before_start(fields.get("announce_at"), fields["start_at"], tz)
        eligibility.check_window(
            fields.get("priority_roles", frozenset()),
            fields.get("priority_until"),
            fields["start_at"],
            tz,
            self.clock(),
        )
        return fields

    async def import_talks(self, guild_id: int, author_id: int, drafts: list[tuple[str, TalkInput]]) -> ImportOutcome:
        """Create the talks of one .ics import, keyed by source UID: all of them in one transaction, or none.

        Each draft passes the rules of /talk create; drafts whose source UID the server already has are left
        out (checked inside the transaction, so two imports of one file at once cannot both create it).
        """
        settings = await self.settings(guild_id)
        tz = settings.zone(self.default_tz)
        rows: list[dict[str, Any]] = []
        for source_uid, data in drafts:
            try:
                fields = self._validated(settings.guild_id, data, tz, creating=True)
            except InputError as error:
                raise InputError(
                    _(
                        "Nothing was imported: the event “{title}” breaks a rule. {problem}",
                        title=data.title,
                        problem=error.text,
                    )
                ) from None
            fields.setdefault("duration_min", 60)
            fields.setdefault("reminders", settings.default_reminders())
            fields["source_uid"] = source_uid
            rows.append(fields)
        async with self.db.transaction() as conn:
            known = await store.imported_source_uids(conn, guild_id, [row["source_uid"] for row in rows])
            now = self.clock()
            created = [
                await store.insert_talk(conn, guild_id, author_id, now, row)
                for row in rows
                if row["source_uid"] not in known
            ]
        return ImportOutcome(created=created, already_imported=known)

    async def edit_talk(self, guild_id: int, talk_id: int, data: TalkInput) -> EditOutcome:
        tz = await self.zone(guild_id)
        fields = self.edit_fields(guild_id, data, tz)
        async with self.db.transaction() as conn:
            return await self.apply_edit(conn, guild_id, talk_id, fields, tz)

    def edit_fields(self, guild_id: int, data: TalkInput, tz: ZoneInfo) -> dict[str, Any]:
        """The changes an organizer typed, checked before any transaction: a bad value changes nothing."""
        if not data.given():
            raise InputError(
                _(
                    "Nothing to change: give at least one field, for example {example}.",
                    example=option("start", date_example(self.clock(), tz)),
                )
            )
        return self._validated(guild_id, data, tz, creating=False)

    async def apply_edit(
        self, conn: Connection, guild_id: int, talk_id: int, changes: dict[str, Any], tz: ZoneInfo
    ) -> EditOutcome:
        """edit_talk's work inside the caller's transaction, so a series can change many dates all at once or not
        at all (bot/series.py); ``changes`` come from edit_fields."""
        fields = dict(changes)  # adjusted below for this talk; the caller may pass the same changes to others
        await store.lock_talks(conn, (talk_id,))  # a new capacity promotes: counted under the talk's lock
        talk = await store.get_talk(conn, guild_id, talk_id)
        talk = self._editable(talk, talk_id)
        if fields.get("checkin_code") and talk.checkin_code:
            fields["checkin_code"] = talk.checkin_code  # keep the code already on the slides
        if "announce_at" in fields and talk.announcement_message_id is not None:
            raise StateError(
                _(
                    "**{title}** is already announced, so {announce_at} no longer applies. Use {announce} to "
                    "post the announcement again.",
                    title=talk.title,
                    announce_at=option("announce_at"),
                    announce=command("talk announce"),
                )
            )
        start = fields.get("start_at", talk.start_at)
        announce_at = fields.get("announce_at", talk.announce_at)
        if talk.announcement_message_id is None:
            _check_announce_before_start(announce_at, start, tz)
        eligibility.check_window(
            fields.get("priority_roles", talk.priority_roles),
            fields.get("priority_until", talk.priority_until),
            start,
            tz,
            self.clock(),
        )
        changed = frozenset(name for name, value in fields.items() if getattr(talk, name) != value)
        if not changed:
            seats = await store.seats(conn, talk)
            return EditOutcome(talk=talk, previous=talk, changed=changed, promoted=[], seats=seats)
        updates = {name: fields[name] for name in changed}
        if changed & INVITE_FIELDS:
            updates["sequence"] = talk.sequence + 1
        updated = await store.update_talk(conn, talk.id, self.clock(), updates)
        if "start_at" in changed:
            await store.forget_reminders(conn, talk.id)
        now = self.clock()
        promoted: list[Registration] = []
        seats = await store.seats(conn, updated)
        if "capacity" in changed and (seats.left is None or seats.left > 0):
            promoted = await store.promote_waitlisted(conn, updated.id, seats.left, now)
            seats = await store.seats(conn, updated)
        confirmed = await store.registrations(conn, updated.id, RegistrationStatus.CONFIRMED)
        owed_rows = await self._owe_promotions(conn, updated, promoted, now)
        owed_rows += await joinlink.owe_after_edit(conn, talk, updated, now)
        updated_members: list[int] = []
        if changed & INVITE_FIELDS:
            # The promoted get the current version in their promotion invite; the others an update.
            promoted_ids = {registration.user_id for registration in promoted}
            updated_members = [r.user_id for r in confirmed if r.user_id not in promoted_ids]
            owed_rows += await owed.invites(
                conn,
                updated,
                DeliveryKind.INVITE_UPDATED,
                [(member, updated.sequence) for member in updated_members],
                now,
                email=self.email,
            )
        return EditOutcome(
            talk=updated,
            previous=talk,
            changed=changed,
            promoted=promoted,
            seats=seats,
            confirmed=confirmed,
            owed=owed_rows,
            updated=len(updated_members),
        )

    async def _owe_promotions(
        self, conn: Connection, talk: Talk, promoted: list[Registration], now: datetime
    ) -> list[Delivery]:
        targets = [(registration.user_id, registration.id) for registration in promoted]
        rows = await owed.invites(conn, talk, DeliveryKind.INVITE_PROMOTED, targets, now, email=self.email)
        # Promoted after the release: the join link follows the invite at once.
        return rows + await joinlink.owe_on_confirm(conn, talk, [r.user_id for r in promoted], now)

    async def cancel_talk(self, guild_id: int, talk_id: int, reason: str | None) -> CancelOutcome:
        reason = cancel_reason(reason)
        async with self.db.transaction() as conn:
            return await self.apply_cancel(conn, guild_id, talk_id, reason)

    async def apply_cancel(self, conn: Connection, guild_id: int, talk_id: int, reason: str | None) -> CancelOutcome:
        """cancel_talk's work inside the caller's transaction (a series cancels many dates at once); ``reason`` is
        already checked (cancel_reason)."""
        talk = self._editable(await store.get_talk(conn, guild_id, talk_id), talk_id)
        updated = await store.update_talk(
            conn,
            talk.id,
            self.clock(),
            {"status": TalkStatus.CANCELLED, "cancel_reason": reason, "sequence": talk.sequence + 1},
        )
        registrations = await store.registrations(conn, talk.id)
        confirmed = [r for r in registrations if r.confirmed]
        # Every registrant is told; only the confirmed had an invitation to withdraw by email.
        owed_rows = await owed.invites(
            conn,
            updated,
            DeliveryKind.INVITE_CANCELLED,
            [(r.user_id, updated.sequence) for r in registrations],
            self.clock(),
            email=self.email,
            email_to={r.user_id for r in confirmed},
        )
        return CancelOutcome(
            talk=updated,
            confirmed=confirmed,
            waitlisted=[r for r in registrations if not r.confirmed],
            owed=owed_rows,
        )

    async def set_announcement(self, talk: Talk, channel_id: int, message_id: int) -> Talk:
        async with self.db.transaction() as conn:
            return await store.update_talk(
                conn,
                talk.id,
                self.clock(),
                {"announcement_channel_id": channel_id, "announcement_message_id": message_id},
            )

    async def talk_by_id(self, talk_id: int) -> Talk:
        """Any server's talk, for timed jobs and deliveries that hold an id from the database."""
        async with self.db.reading() as conn:
            talk = await store.get_talk_by_id(conn, talk_id)
        if talk is None:
            raise NotFoundError(_("There is no talk #{talk_id}.", talk_id=talk_id))
        return talk

    async def owe_reminder(self, talk: Talk, offset: int, due_at: datetime) -> list[Delivery]:
        """Record the reminder a timed job owes (DMs and the channel post); returns the rows still to send."""
        async with self.db.transaction() as conn:
            settings = await store.get_settings(conn, talk.guild_id)
            return await owed.reminder(conn, talk, offset, due_at, settings.channel_id, self.clock())

    async def release_claims(self, owns: Callable[[int], bool]) -> int:
        """At start-up: lift the leases on the rows of this process's servers, left by its predecessor (which
        died mid-send), so they go out now rather than when the lease lapses. Only this process sends them."""
        async with self.db.transaction() as conn:
            ids = [row_id for row_id, guild_id in await store.claimed_deliveries(conn) if owns(guild_id)]
            await store.release_claims(conn, ids)
        if ids:
            log.info("Released %d deliveries an earlier run had claimed", len(ids))
        return len(ids)

    async def claim_delivery(self, delivery_id: int) -> Delivery | DeliveryStatus:
        """The row to send now if it is still owed (see owed.claim), else its final status."""
        async with self.db.transaction() as conn:
            return await owed.claim(conn, delivery_id, self.clock())

    async def talks_to_plan(self, until: datetime) -> list[Talk]:
        async with self.db.reading() as conn:
            return await store.talks_between(conn, self.clock(), until)

    async def changeable_talk(self, guild_id: int, talk_id: int) -> Talk:
        """The talk, if it exists here and is neither cancelled nor over."""
        async with self.db.reading() as conn:
            return self._editable(await store.get_talk(conn, guild_id, talk_id), talk_id)

    def _editable(self, talk: Talk | None, talk_id: int) -> Talk:
        if talk is None:
            raise no_such_talk(talk_id)
        if talk.cancelled:
            raise StateError(_("**{title}** was cancelled, so it cannot be changed any more.", title=talk.title))
        if talk.is_over(self.clock()):
            raise StateError(_("**{title}** is already over, so it cannot be changed any more.", title=talk.title))
        return talk

    # --- registrations ----------------------------------------------------------------------------

    def _open_for_registration(self, talk: Talk | None, talk_id: int) -> Talk:
        now = self.clock()
        if talk is None or not talk.is_public(now):
            raise NotFoundError(
                _(
                    "There is no open talk #{talk_id} in this server. See {talks} for the ones you can join.",
                    talk_id=talk_id,
                    talks=command("talks"),
                )
            )
        if talk.cancelled:
            raise StateError(_("**{title}** was cancelled, so registration is closed.", title=talk.title))
        if talk.is_over(now):
            raise StateError(
                _(
                    "**{title}** is over, so registration is closed. See {talks} for what's next.",
                    title=talk.title,
                    talks=command("talks"),
                )
            )
        return talk

    async def register(
        self, guild_id: int, talk_id: int, user_id: int, display_name: str, *, roles: frozenset[int] = frozenset()
    ) -> RegisterOutcome:
        """Confirm while seats are left, else waitlist; the count and the insert are one transaction.

        ``roles`` are the member's role ids, which decide whether a talk reserved for some roles, or still in
        its priority window, lets them in (bot/eligibility.py); without them a member has no role, so such a
        talk refuses them. Registrations that arrive together share one transaction (see bot/batching.py), in
        arrival order.
        """
        return await self._registrations.submit(_RegisterRequest(guild_id, talk_id, user_id, display_name, roles))

    async def _register_batch(self, requests: Sequence[_RegisterRequest]) -> list[RegisterOutcome | Exception]:
        results: list[RegisterOutcome | Exception] = []
        async with self.db.transaction() as conn:
            await store.lock_talks(conn, (request.talk_id for request in requests))
            now = self.clock()
            talks: dict[tuple[int, int], Talk | None] = {}
            seats: dict[int, Seats] = {}  # counted once per talk, then kept exact by this transaction
            for request in requests:
                key = (request.guild_id, request.talk_id)
                if key not in talks:
                    talks[key] = await store.get_talk(conn, *key)
                try:
                    talk = self._open_for_registration(talks[key], request.talk_id)
                except PodiumError as error:
                    results.append(error)
                    continue
                if talk.id not in seats:
                    seats[talk.id] = await store.seats(conn, talk)
                results.append(await self._register_one(conn, talk, request, seats, now))
        return results

    async def _register_one(
        self, conn: Connection, talk: Talk, request: _RegisterRequest, seats: dict[int, Seats], now: datetime
    ) -> RegisterOutcome | PodiumError:
        count = seats[talk.id]
        refused = eligibility.refusal(talk, request.roles, now)
        if refused is not None:
            # Checked before anything is written: a refused member leaves no row and no change counted. One who
            # registered before the organizer changed the roles keeps their place, as at promotion.
            existing = await store.get_registration(conn, talk.id, request.user_id)
            if existing is not None:
                return RegisterOutcome(talk, existing, created=False, seats=count)
            return refused
        changes = await store.registration_changes(conn, talk.id, request.user_id)
        retry_at = self.change_limit.next_allowed(changes, now)
        if retry_at is not None:
            existing = await store.get_registration(conn, talk.id, request.user_id)
            if existing is not None:  # pressing Register again changes nothing, so the limit does not apply
                return RegisterOutcome(talk, existing, created=False, seats=count)
            return _too_many_changes(talk, self.change_limit, retry_at, None)
        confirmed = count.left is None or count.left > 0
        status = RegistrationStatus.CONFIRMED if confirmed else RegistrationStatus.WAITLISTED
        registration = await store.insert_registration(
            conn,
            talk,
            request.user_id,
            request.display_name[:100],
            status,
            now,
            position=None if confirmed else count.waitlisted + 1,
        )
        if registration is None:
            existing = await store.get_registration(conn, talk.id, request.user_id)
            assert existing is not None
            return RegisterOutcome(talk, existing, created=False, seats=count)
        held_until = await self._record_change(conn, talk, request.user_id, changes, now)
        owed_rows: list[Delivery] = []
        if confirmed:
            owed_rows = await owed.invites(
                conn,
                talk,
                DeliveryKind.INVITE_CONFIRMED,
                [(request.user_id, registration.id)],
                now,
                email=self.email,
                due_at=held_until,
            )
            owed_rows += await joinlink.owe_on_confirm(conn, talk, [request.user_id], now)
        count = replace(count, confirmed=count.confirmed + confirmed, waitlisted=count.waitlisted + (not confirmed))
        seats[talk.id] = count
        return RegisterOutcome(
            talk, registration, created=True, seats=count, owed=owed_rows, held_until=held_until if owed_rows else None
        )

    async def _record_change(
        self, conn: Connection, talk: Talk, user_id: int, changes: Sequence[datetime], now: datetime
    ) -> datetime | None:
        """Count the member's change (see ChangeLimit); returns until when its message waits, if it does."""
        limit = self.change_limit
        await store.record_registration_change(
            conn, talk.id, user_id, now, forget_before=limit.forget_before(changes, now)
        )
        return limit.held_until(changes, now)

    async def unregister(self, guild_id: int, talk_id: int, user_id: int) -> UnregisterOutcome:
        """Free the member's seat and promote the first of the waitlist into it, atomically."""
        async with self.db.transaction() as conn:
            await store.lock_talks(conn, (talk_id,))
            now = self.clock()
            talk = await store.get_talk(conn, guild_id, talk_id)
            existing = None if talk is None else await store.get_registration(conn, talk.id, user_id)
            # A held-back talk is named only to those registered for it (they saw it when they joined).
            if talk is None or (existing is None and not talk.is_public(now)):
                raise no_such_talk(talk_id, MINE_HINT)
            if talk.is_over(now):
                raise StateError(
                    _("**{title}** is already over; there is nothing to unregister from.", title=talk.title)
                )
            if existing is None:
                raise StateError(
                    _(
                        "You are not registered for **{title}**, so there is nothing to undo. See {mytalks} for your "
                        "registrations.",
                        title=talk.title,
                        mytalks=command("mytalks"),
                    )
                )
            changes = await store.registration_changes(conn, talk.id, user_id)
            retry_at = self.change_limit.next_allowed(changes, now)
            if retry_at is not None:
                raise _too_many_changes(talk, self.change_limit, retry_at, existing)
            await store.delete_registration(conn, talk.id, user_id)
            held_until = await self._record_change(conn, talk, user_id, changes, now)
            promoted: list[Registration] = []
            owed_rows: list[Delivery] = []
            if existing.confirmed and not talk.cancelled:
                seats = await store.seats(conn, talk)
                if seats.left:
                    promoted = await store.promote_waitlisted(conn, talk.id, seats.left, now)
                # A file that takes the talk out of the member's calendar (a cancelled talk already sent one).
                owed_rows = await owed.invites(
                    conn,
                    talk,
                    DeliveryKind.INVITE_WITHDRAWN,
                    [(user_id, existing.id)],
                    now,
                    email=self.email,
                    due_at=held_until,
                )
                owed_rows += await self._owe_promotions(conn, talk, promoted, now)
            seats = await store.seats(conn, talk)
        return UnregisterOutcome(
            talk=talk,
            removed=existing,
            promoted=promoted,
            seats=seats,
            owed=owed_rows,
            held_until=held_until if owed_rows else None,
        )

    async def registration(self, talk: Talk, user_id: int) -> Registration | None:
        async with self.db.reading() as conn:
            return await store.get_registration(conn, talk.id, user_id)

    async def attendees(self, talk: Talk) -> list[Registration]:
        async with self.db.reading() as conn:
            return await store.registrations(conn, talk.id)

    async def confirmed(self, talk: Talk) -> list[Registration]:
        async with self.db.reading() as conn:
            return await store.registrations(conn, talk.id, RegistrationStatus.CONFIRMED)

    async def member_talks(self, guild_id: int, user_id: int) -> list[tuple[Talk, Registration]]:
        """The member's upcoming registrations: only talks they joined, so nothing held back shows here."""
        async with self.db.reading() as conn:
            return await store.member_registrations(conn, guild_id, user_id, self.clock())

    async def mark_dm_failed(self, talk_id: int, user_ids: Collection[int], failed: bool) -> None:
        if not user_ids:
            return
        async with self.db.transaction() as conn:
            await store.set_dm_failed(conn, talk_id, user_ids, failed)

    async def set_notifications(self, guild_id: int, user_id: int, enabled: bool) -> None:
        async with self.db.transaction() as conn:
            await store.set_notifications(conn, guild_id, user_id, enabled)

    async def notifications_enabled(self, guild_id: int, user_id: int) -> bool:
        async with self.db.reading() as conn:
            return await store.notifications_enabled(conn, guild_id, user_id)


def cancel_reason(reason: str | None) -> str | None:
    """The reason of a cancellation as it is kept and shown, or None; raises InputError when too long."""
    return _text(reason, "reason", REASON_MAX, required=False)


def _check_announce_before_start(announce_at: datetime | None, start: datetime, tz: ZoneInfo) -> None:
    if announce_at is not None and announce_at >= start:
        raise InputError(
            _(
                "{announce_at} ({announce}) must come before the talk starts ({start}). Pick an earlier time, or "
                "leave it empty to announce at once.",
                announce_at=option("announce_at"),
                announce=typed_date(announce_at, tz),
                start=typed_date(start, tz),
            )
        )
