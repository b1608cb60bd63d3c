"""Plain records of the domain: no Discord objects, so rules can be tested on their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

DEFAULT_REMINDERS = (24 * 60, 60)
JOIN_LINK_BEFORE = 15  # minutes before the start at which confirmed members receive the join link
YEAR_START = "09-01"  # the French academic year runs from 1 September to 31 August


def to_unix(moment: datetime) -> int:
    return int(moment.timestamp())


def from_unix(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class TalkStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    channel_id: int | None = None
    organizer_role_id: int | None = None
    timezone: str | None = None
    reminders: tuple[int, ...] | None = None
    ping_role_id: int | None = None
    public_calendar: bool = False  # the server feed and the public agenda page (/setup public_calendar:)
    public_id: str | None = None  # names the feed and agenda page in URLs; given when the settings are first saved
    language: str | None = None  # /setup language:; None follows the server's preferred locale
    join_link_before: int | None = None  # minutes; /setup join_link_before:, None means JOIN_LINK_BEFORE
    year_start: str | None = None  # "MM-DD", first day of the academic year; None means YEAR_START
    native_events: bool = True  # /setup native_events: mirror the talks into the server's Events tab
    interested_registers: bool = False  # /setup interested_registers: "Interested" on an event registers

    def join_link_lead(self) -> int:
        return JOIN_LINK_BEFORE if self.join_link_before is None else self.join_link_before

    def academic_year_start(self) -> tuple[int, int]:
        """(month, day) on which the academic year begins."""
        month, day = (self.year_start or YEAR_START).split("-")
        return int(month), int(day)

    def zone(self, default: ZoneInfo) -> ZoneInfo:
        return ZoneInfo(self.timezone) if self.timezone else default

    def default_reminders(self) -> tuple[int, ...]:
        return DEFAULT_REMINDERS if self.reminders is None else self.reminders


@dataclass(frozen=True)
class Talk:
    id: int
    guild_id: int
    title: str
    speaker: str
    speaker_bio: str | None
    description: str | None
    location: str | None
    start_at: datetime
    duration_min: int
    capacity: int | None
    reminders: tuple[int, ...]
    announce_at: datetime | None
    status: TalkStatus
    cancel_reason: str | None
    sequence: int
    announcement_channel_id: int | None
    announcement_message_id: int | None
    created_by: int
    created_at: datetime
    updated_at: datetime
    source_uid: str | None = None  # the .ics event (and occurrence) an imported talk came from
    public_id: str | None = None  # names the talk in public URLs (/t/<public_id>.ics): random, not countable
    join_url: str | None = None  # private: confirmed members only, from the release time (migration 0011)
    checkin_code: str | None = None  # None: checking in needs no code
    speaker_user_id: int | None = None  # the speaker's account, when a member: they receive the questions
    series_id: int | None = None  # the seminar series the talk is one date of (bot/series.py, migration 0012)
    series_index: int | None = None  # which date of the series' rule it is, from 0
    # Who may register, and from when (bot/eligibility.py, migration 0012): only members with one of the
    # eligible roles (none: every member); members with a priority role from the announcement on, everyone
    # else from priority_until (both set, or neither).
    eligible_roles: frozenset[int] = frozenset()
    priority_roles: frozenset[int] = frozenset()
    priority_until: datetime | None = None

    @property
    def end_at(self) -> datetime:
        return self.start_at + timedelta(minutes=self.duration_min)

    @property
    def cancelled(self) -> bool:
        return self.status is TalkStatus.CANCELLED

    def is_over(self, now: datetime) -> bool:
        return now >= self.end_at

    def has_started(self, now: datetime) -> bool:
        return now >= self.start_at

    def is_public(self, now: datetime) -> bool:
        """Members see a talk once it is announced, or when it was never held back."""
        return self.announcement_message_id is not None or self.announce_at is None or self.announce_at <= now

    def announcement_url(self) -> str | None:
        if self.announcement_channel_id is None or self.announcement_message_id is None:
            return None
        return (
            f"https://discord.com/channels/{self.guild_id}/"
            f"{self.announcement_channel_id}/{self.announcement_message_id}"
        )


class Repeat(StrEnum):
    """How a seminar series repeats (/series create repeat:)."""

    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"  # the same day of the month (bot/series.py refuses the 29th to the 31st)


@dataclass(frozen=True)
class Series:
    """A seminar series: the rule its dates came from; the dates themselves are talks (Talk.series_id)."""

    id: int
    guild_id: int
    repeat: Repeat
    first_day: date  # the local day of the first date, in ``timezone``
    timezone: str  # the zone the dates were computed in: each keeps the same local time across DST changes
    count: int
    created_by: int
    created_at: datetime

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Seats:
    confirmed: int
    waitlisted: int
    capacity: int | None
    walk_ins: int = 0  # checked in without a confirmed seat (bot/checkin.py): they hold a seat too

    @property
    def taken(self) -> int:
        return self.confirmed + self.walk_ins

    @property
    def left(self) -> int | None:
        return None if self.capacity is None else max(self.capacity - self.taken, 0)


@dataclass(frozen=True)
class Registration:
    id: int
    talk_id: int
    guild_id: int
    user_id: int
    display_name: str
    status: RegistrationStatus
    registered_at: datetime
    dm_failed: bool
    position: int | None = None  # 1-based place on the waitlist; None when confirmed

    @property
    def confirmed(self) -> bool:
        return self.status is RegistrationStatus.CONFIRMED


class DeliveryKind(StrEnum):
    """What a delivery carries; with the key it names one message that must go out exactly once."""

    INVITE_CONFIRMED = "invite_confirmed"  # key: registration id
    INVITE_PROMOTED = "invite_promoted"  # key: registration id
    INVITE_UPDATED = "invite_updated"  # key: talk sequence
    INVITE_CANCELLED = "invite_cancelled"  # key: talk sequence
    INVITE_WITHDRAWN = "invite_withdrawn"  # key: registration id
    REMINDER = "reminder"  # key: offset in minutes
    REMINDER_POST = "reminder_post"  # key: offset in minutes (channel)
    # The emailed twins of the invite kinds (same keys), sent to the member's verified address.
    EMAIL_CONFIRMED = "email_confirmed"  # key: registration id
    EMAIL_PROMOTED = "email_promoted"  # key: registration id
    EMAIL_UPDATED = "email_updated"  # key: talk sequence
    EMAIL_CANCELLED = "email_cancelled"  # key: talk sequence
    EMAIL_WITHDRAWN = "email_withdrawn"  # key: registration id
    # After registration (migration 0011).
    JOIN_LINK = "join_link"  # key: the release offset in minutes
    QUESTIONS = "questions"  # to the speaker; key: offset in minutes before the start (1440, 60)
    FEEDBACK_REQUEST = "feedback_request"  # key: 0
    CERTIFICATE = "certificate"  # key: certificate id; talk_id: the last talk it lists


# Every invite DM also goes by email to members with a verified address: same key, its own row.
EMAIL_TWINS = MappingProxyType(
    {
        DeliveryKind.INVITE_CONFIRMED: DeliveryKind.EMAIL_CONFIRMED,
        DeliveryKind.INVITE_PROMOTED: DeliveryKind.EMAIL_PROMOTED,
        DeliveryKind.INVITE_UPDATED: DeliveryKind.EMAIL_UPDATED,
        DeliveryKind.INVITE_CANCELLED: DeliveryKind.EMAIL_CANCELLED,
        DeliveryKind.INVITE_WITHDRAWN: DeliveryKind.EMAIL_WITHDRAWN,
    }
)
INVITE_KINDS = frozenset(EMAIL_TWINS)
EMAIL_KINDS = frozenset(EMAIL_TWINS.values())
REMINDER_KINDS = frozenset({DeliveryKind.REMINDER, DeliveryKind.REMINDER_POST})


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanent: DMs closed, unknown user, too many attempts
    MISSED = "missed"  # no longer useful (the talk started before it could go out)


@dataclass(frozen=True)
class Delivery:
    id: int
    guild_id: int
    talk_id: int
    recipient_type: str  # "user" or "channel"
    recipient_id: int
    kind: DeliveryKind
    key: int
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    message_id: int | None
    attempted_at: datetime | None = None  # when a send last started: it may have reached Discord
    claimed_until: datetime | None = None  # a process is sending it until then (bot/owed.py claim)

    @property
    def nonce(self) -> str:
        """Derived from the row, so a retry of a send that reached Discord is recognised there (<= 25 chars)."""
        return f"podium-{self.id}"

    @property
    def marker(self) -> str:
        """Carried by the message itself (a button's custom id or the attachment's name), so the bot can
        find it in the channel's history long after Discord has forgotten the nonce."""
        return f"m{self.id}"


@dataclass(frozen=True)
class MemberEmail:
    """A member's verified address in one server."""

    guild_id: int
    user_id: int
    address: str
    display_name: str
    verified_at: datetime


@dataclass(frozen=True)
class EmailCode:
    """The confirmation code in flight for a member: only its salted hash is kept."""

    guild_id: int
    user_id: int
    address: str
    salt: bytes
    digest: bytes
    attempts: int
    sent_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class FeedToken:
    """A member's personal calendar feed link in one server; only the SHA-256 of its secret is kept."""

    guild_id: int
    user_id: int
    token_hash: bytes
    created_at: datetime
    last_used_at: datetime | None
