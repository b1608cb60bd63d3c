"""Calendar feeds: personal feed tokens, the talks each feed shows, and the .ics bodies the web side serves.

No Discord and no HTTP here: the web server and the /calendar command translate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vDuration, vText

from bot import store
from bot.calendar import Method, finish, new_calendar, summary, talk_event
from bot.models import GuildSettings, Registration, Seats, Talk
from bot.talks import TalkService

FEED_TTL = timedelta(hours=1)  # REFRESH-INTERVAL and X-PUBLISHED-TTL: how often calendars should look again
# Past talks stay in feeds this long, so they do not vanish from calendars the day after; cancelled talks
# stay this long after the cancellation, as STATUS:CANCELLED, so every subscribed calendar sees it.
KEEP = timedelta(days=30)
FEED_LIMIT = 500  # events per feed; a season is a few dozen talks
AGENDA_LIMIT = 100
TOKEN_BYTES = 32  # 256 random bits, URL-safe: 43 characters
TOUCH_EVERY = timedelta(minutes=10)  # "last fetched" is shown to the member; no write on every poll


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    """SHA-256 suffices: the token has 256 random bits, so there is nothing to guess from a leaked hash."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class FeedLink:
    """The outcome of /calendar: the secret only when it was just made (it is never stored)."""

    token: str | None
    created_at: datetime
    last_used_at: datetime | None
    replaced: bool = False  # a previous link existed and stopped working


@dataclass(frozen=True)
class MemberFeed:
    guild_id: int
    user_id: int
    tz: ZoneInfo
    entries: list[tuple[Talk, Registration]]


@dataclass(frozen=True)
class PublicFeed:
    settings: GuildSettings
    tz: ZoneInfo
    talks: list[Talk]


@dataclass(frozen=True)
class AgendaItem:
    talk: Talk
    seats: Seats


class FeedService:
    """What the feeds and the agenda page show, on top of the talks' database and clock."""

    def __init__(self, talks: TalkService) -> None:
        self.talks = talks

    def now(self) -> datetime:
        return self.talks.clock()

    # --- personal tokens ------------------------------------------------------------------------------

    async def link(self, guild_id: int, user_id: int, *, reset: bool) -> FeedLink:
        """Make the member's link if they have none (or on reset); otherwise say when it was made."""
        now = self.now()
        async with self.talks.db.transaction() as conn:
            existing = await store.get_feed_token(conn, guild_id, user_id)
            if existing is not None and not reset:
                return FeedLink(token=None, created_at=existing.created_at, last_used_at=existing.last_used_at)
            token = new_token()
            await store.save_feed_token(conn, guild_id, user_id, hash_token(token), now)
        return FeedLink(token=token, created_at=now, last_used_at=None, replaced=existing is not None)

    async def member_feed(self, token: str) -> MemberFeed | None:
        """The feed a token opens, or None for an unknown, replaced or malformed token."""
        digest = hash_token(token)
        now = self.now()
        async with self.talks.db.reading() as conn:
            owner = await store.feed_token_by_hash(conn, digest)
            # The row was found by its hash; comparing again in constant time costs nothing and keeps
            # the check independent of how the index compares.
            if owner is None or not hmac.compare_digest(owner.token_hash, digest):
                return None
            settings = await store.get_settings(conn, owner.guild_id)
            entries = await store.member_feed_talks(
                conn,
                owner.guild_id,
                owner.user_id,
                ended_after=now - KEEP,
                cancelled_after=now - KEEP,
                limit=FEED_LIMIT,
            )
        if owner.last_used_at is None or owner.last_used_at < now - TOUCH_EVERY:
            async with self.talks.db.transaction() as conn:
                await store.touch_feed_token(conn, digest, now, now - TOUCH_EVERY)
        return MemberFeed(owner.guild_id, owner.user_id, settings.zone(self.talks.default_tz), entries)

    # --- what a server publishes ------------------------------------------------------------------------

    async def public_feed(self, guild_id: int) -> PublicFeed | None:
        """Announced talks, upcoming and recent, of a server that turned its public calendar on; else None."""
        now = self.now()
        async with self.talks.db.reading() as conn:
            settings = await store.get_settings(conn, guild_id)
            if not settings.public_calendar:
                return None
            talks = await store.feed_talks(
                conn, guild_id, ended_after=now - KEEP, cancelled_after=now - KEEP, limit=FEED_LIMIT
            )
        return PublicFeed(settings, settings.zone(self.talks.default_tz), [t for t in talks if t.is_public(now)])

    async def public_talk(self, talk_id: int) -> tuple[Talk, ZoneInfo] | None:
        """One announced talk, only if its server publishes its calendar."""
        async with self.talks.db.reading() as conn:
            talk = await store.get_talk_by_id(conn, talk_id)
            if talk is None or not talk.is_public(self.now()):
                return None
            settings = await store.get_settings(conn, talk.guild_id)
        if not settings.public_calendar:
            return None
        return talk, settings.zone(self.talks.default_tz)

    async def agenda(self, guild_id: int) -> tuple[PublicFeed, list[AgendaItem]] | None:
        """The talks of the public agenda page: those not over yet (cancelled ones too, marked), with seats."""
        feed = await self.public_feed(guild_id)
        if feed is None:
            return None
        now = self.now()
        upcoming = [talk for talk in feed.talks if not talk.is_over(now)][:AGENDA_LIMIT]
        async with self.talks.db.reading() as conn:
            items = [AgendaItem(talk, await store.seats(conn, talk)) for talk in upcoming]
        return feed, items


# --- the .ics bodies ---------------------------------------------------------------------------------------


def _feed_calendar(name: str, description: str, tz: ZoneInfo) -> Calendar:
    calendar = new_calendar(Method.PUBLISH)
    calendar.add("name", vText(name))
    calendar.add("x-wr-calname", vText(name))
    calendar.add("x-wr-caldesc", vText(description))
    calendar.add("x-wr-timezone", tz.key)
    calendar.add("refresh-interval", vDuration(FEED_TTL), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(FEED_TTL))
    return calendar


def _event(talk: Talk, tz: ZoneInfo) -> Event:
    # DTSTAMP is the talk's last change rather than the time of the request, so an unchanged feed gives
    # the same bytes (and ETag) on every fetch; UID and SEQUENCE are the DM invite's.
    return talk_event(talk, tz=tz, now=talk.updated_at)


def _as_tentative(event: Event, talk: Talk, position: int | None) -> None:
    """A waitlisted seat: shown, but tentative, free time, and without an alarm."""
    place = f"waitlist #{position}" if position else "waitlist"
    del event["SUMMARY"], event["STATUS"], event["TRANSP"]
    event.add("summary", f"{summary(talk)} ({place})")
    event.add("status", "TENTATIVE")
    event.add("transp", "TRANSPARENT")
    note = (
        f"You are #{position} on the waitlist. If a seat opens up you are confirmed automatically "
        "and this event becomes confirmed."
    )
    description = str(event.get("DESCRIPTION", ""))
    del event["DESCRIPTION"]
    event.add("description", f"{note}\n\n{description}" if description else note)
    event.subcomponents.clear()


def member_calendar(feed: MemberFeed, server_name: str) -> bytes:
    """Confirmed talks as events; waitlisted ones as TENTATIVE "(waitlist #n)"; cancelled ones as CANCELLED."""
    calendar = _feed_calendar(
        f"My talks — {server_name}",
        f"The talks you registered for in {server_name}, kept up to date by Podium.",
        feed.tz,
    )
    for talk, registration in feed.entries:
        event = _event(talk, feed.tz)
        if not registration.confirmed and not talk.cancelled:
            _as_tentative(event, talk, registration.position)
        calendar.add_component(event)
    return finish(calendar, [talk for talk, _ in feed.entries])


def public_calendar(feed: PublicFeed, server_name: str) -> bytes:
    """Every announced talk of the server; no registrations, so nothing about any member."""
    calendar = _feed_calendar(
        f"Talks — {server_name}", f"The talks of {server_name}, kept up to date by Podium.", feed.tz
    )
    for talk in feed.talks:
        calendar.add_component(_event(talk, feed.tz))
    return finish(calendar, feed.talks)


def talk_calendar(talk: Talk, tz: ZoneInfo) -> bytes:
    """One talk for "Add to calendar": the same event as in the feeds."""
    calendar = new_calendar(Method.PUBLISH)
    calendar.add_component(_event(talk, tz))
    return finish(calendar, [talk])
