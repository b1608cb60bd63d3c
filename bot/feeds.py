"""Calendar feeds: personal feed tokens, the talks each feed shows, and the .ics bodies the web side serves.

No Discord and no HTTP here: the web server and the /calendar command translate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vDuration, vText

from bot import series_rows, store
from bot.calendar import Method, SeriesDate, add_text, finish, new_calendar, series_events, summary, talk_event
from bot.i18n import Text, _, render
from bot.joinlink import release_at, released
from bot.models import GuildSettings, Registration, Seats, Series, Talk
from bot.series import RRULE, slot_days
from bot.sql import Connection
from bot.talks import TalkService
from bot.versions import ChangeCounters

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


Version = tuple[int, int]  # a server's change counters (bot/versions.py), read with the rows they describe


@dataclass(frozen=True)
class SeriesFeed:
    """A series a feed shows as one recurring event: every date of it, and the reader's registrations."""

    series: Series
    talks: list[Talk]  # in the order of the rule
    registrations: Mapping[int, Registration] = field(default_factory=dict)  # by talk id; personal feeds only


@dataclass(frozen=True)
class MemberFeed:
    guild_id: int
    user_id: int
    tz: ZoneInfo
    entries: list[tuple[Talk, Registration]]
    version: Version = (0, 0)
    changes_at: datetime | None = None  # when time alone changes what the feed shows (see changes_at)
    last_used_at: datetime | None = None  # the token's "last fetched" stamp, after this fetch
    # The private join links this member may have now (confirmed, released), by talk id: only in this feed.
    join_links: Mapping[int, str] = field(default_factory=dict)
    series: Mapping[int, SeriesFeed] = field(default_factory=dict)  # by id: the series of the member's talks


@dataclass(frozen=True)
class PublicFeed:
    settings: GuildSettings
    tz: ZoneInfo
    talks: list[Talk]
    version: Version = (0, 0)
    changes_at: datetime | None = None
    series: Mapping[int, SeriesFeed] = field(default_factory=dict)  # by id: the series of the talks shown


@dataclass(frozen=True)
class AgendaItem:
    talk: Talk
    seats: Seats


@dataclass(frozen=True)
class PublicTalk:
    talk: Talk
    tz: ZoneInfo
    version: Version = (0, 0)
    chosen_language: str | None = None  # the server's /setup language:, if it chose one


def changes_at(talks: Iterable[Talk], now: datetime, *, until_over: bool = False) -> datetime | None:
    """The next moment at which the clock alone changes which of ``talks`` a feed shows, or None.

    A held-back talk appears at its announce_at; a talk leaves the window KEEP after it ended (cancelled
    ones: after it was cancelled); with ``until_over`` (the agenda page) a talk also leaves when it ends.
    """
    moments: list[datetime] = []
    for talk in talks:
        if not talk.is_public(now) and talk.announce_at is not None:
            moments.append(talk.announce_at)
        moments.append((talk.updated_at if talk.cancelled else talk.end_at) + KEEP)
        if until_over and not talk.is_over(now):
            moments.append(talk.end_at)
    later = [moment for moment in moments if moment > now]
    return min(later) if later else None


class FeedService:
    """What the feeds and the agenda page show, on top of the talks' database and clock.

    Every read also returns the server's change counters, taken under the same lock as the rows, so a
    cached rendering can tell later whether it is still what the database holds.
    """

    def __init__(self, talks: TalkService, changes: ChangeCounters | None = None) -> None:
        self.talks = talks
        self.changes = changes or ChangeCounters()

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
        return await self.member_feed_by_hash(hash_token(token))

    async def member_feed_by_hash(self, digest: bytes) -> MemberFeed | None:
        now = self.now()
        async with self.talks.db.reading() as conn:
            owner = await store.feed_token_by_hash(conn, digest)
            # The row was found by its hash; comparing again in constant time costs nothing and keeps
            # the check independent of how the index compares.
            if owner is None or not hmac.compare_digest(owner.token_hash, digest):
                return None
            version = self.changes.version(owner.guild_id)
            settings = await store.get_settings(conn, owner.guild_id)
            entries = await store.member_feed_talks(
                conn,
                owner.guild_id,
                owner.user_id,
                ended_after=now - KEEP,
                cancelled_after=now - KEEP,
                limit=FEED_LIMIT,
            )
            series = await _series_of(conn, [talk for talk, _registration in entries if talk.is_public(now)], now)
            mine = await store.member_registrations_in(
                conn, owner.user_id, [talk.id for dates in series.values() for talk in dates.talks]
            )
        series = {
            series_id: replace(dates, registrations={t.id: mine[t.id] for t in dates.talks if t.id in mine})
            for series_id, dates in series.items()
        }
        last_used = owner.last_used_at
        if last_used is None or last_used < now - TOUCH_EVERY:
            await self.touch(digest)
            last_used = now
        # A talk held back until its announcement stays out, even for a member registered before it was.
        shown = [(talk, registration) for talk, registration in entries if talk.is_public(now)]
        lead = settings.join_link_lead()
        confirmed = [talk for talk, registration in shown if registration.confirmed and talk.join_url]
        links = {talk.id: talk.join_url for talk in confirmed if talk.join_url and released(talk, lead, now)}
        # The feed changes by itself when a confirmed talk's join link is released.
        moments = [release_at(talk, lead) for talk in confirmed if talk.id not in links and not talk.cancelled]
        moments = [moment for moment in moments if moment > now]
        moment = changes_at([talk for talk, _registration in entries], now)
        return MemberFeed(
            owner.guild_id,
            owner.user_id,
            settings.zone(self.talks.default_tz),
            shown,
            version=version,
            changes_at=min([*moments, moment]) if moment is not None else min(moments, default=None),
            last_used_at=last_used,
            join_links=links,
            series=series,
        )

    async def touch(self, digest: bytes) -> None:
        """Note that a calendar fetched the feed (at most once per TOUCH_EVERY, not on every poll)."""
        now = self.now()
        async with self.talks.db.transaction() as conn:
            await store.touch_feed_token(conn, digest, now, now - TOUCH_EVERY)

    # --- what a server publishes ------------------------------------------------------------------------

    async def published_guild(self, public_id: str) -> int | None:
        """The server a public id names, if it publishes its calendar; one statement whatever the answer."""
        async with self.talks.db.reading() as conn:
            settings = await store.settings_by_public_id(conn, public_id)
        return settings.guild_id if settings is not None and settings.public_calendar else None

    async def public_feed(self, guild_id: int) -> PublicFeed | None:
        """Announced talks, upcoming and recent, of a server that turned its public calendar on; else None."""
        now = self.now()
        async with self.talks.db.reading() as conn:
            version = self.changes.version(guild_id)
            published = await _published(conn, guild_id, now)
            if published is None:
                return None
            settings, talks = published
            shown = [t for t in talks if t.is_public(now)]
            series = await _series_of(conn, shown, now)
        return PublicFeed(
            settings,
            settings.zone(self.talks.default_tz),
            shown,
            version=version,
            changes_at=changes_at(talks, now),
            series=series,
        )

    async def public_talk(self, public_id: str) -> PublicTalk | None:
        """One announced talk, only if its server publishes its calendar.

        The talk and its server's settings are both read whether or not the talk exists, so an unknown id, a
        held-back talk and a server that does not publish all cost the same two statements.
        """
        now = self.now()
        async with self.talks.db.reading() as conn:
            talk = await store.talk_by_public_id(conn, public_id)
            guild_id = talk.guild_id if talk is not None else 0
            version = self.changes.version(guild_id)
            settings = await store.get_settings(conn, guild_id)
        if talk is None or not talk.is_public(now) or not settings.public_calendar:
            return None
        return PublicTalk(talk, settings.zone(self.talks.default_tz), version, settings.language)

    async def agenda(self, guild_id: int) -> tuple[PublicFeed, list[AgendaItem]] | None:
        """The talks of the public agenda page: those not over yet (cancelled ones too, marked), with seats."""
        now = self.now()
        async with self.talks.db.reading() as conn:
            version = self.changes.version(guild_id)
            published = await _published(conn, guild_id, now)
            if published is None:
                return None
            settings, talks = published
            upcoming = [talk for talk in talks if talk.is_public(now) and not talk.is_over(now)][:AGENDA_LIMIT]
            seats = await store.seats_of(conn, upcoming)
        feed = PublicFeed(
            settings,
            settings.zone(self.talks.default_tz),
            [t for t in talks if t.is_public(now)],
            version=version,
            changes_at=changes_at(talks, now, until_over=True),
        )
        return feed, [AgendaItem(talk, seats[talk.id]) for talk in upcoming]


async def _published(conn: Connection, guild_id: int, now: datetime) -> tuple[GuildSettings, list[Talk]] | None:
    """A publishing server's settings and the talks its feed and page draw from (held-back ones included:
    callers filter them, and their announcement times tell when the page changes); None if it does not publish."""
    settings = await store.get_settings(conn, guild_id)
    if not settings.public_calendar:
        return None
    talks = await store.feed_talks(conn, guild_id, ended_after=now - KEEP, cancelled_after=now - KEEP, limit=FEED_LIMIT)
    return settings, talks


async def _series_of(conn: Connection, talks: Iterable[Talk], now: datetime) -> dict[int, SeriesFeed]:
    """Every date of the series these talks belong to: a feed writes each series whole, as one event. A date held
    back from members (its own announce_at changed by /talk edit) stays out, as any held-back talk does."""
    wanted = list(dict.fromkeys(talk.series_id for talk in talks if talk.series_id is not None))
    if not wanted:
        return {}
    found = await series_rows.series_by_ids(conn, wanted)
    dates = await series_rows.dates_of(conn, wanted)
    public = {series_id: [talk for talk in dates[series_id] if talk.is_public(now)] for series_id in wanted}
    return {
        series_id: SeriesFeed(found[series_id], public[series_id])
        for series_id in wanted
        if series_id in found and public[series_id]
    }


# --- the .ics bodies ---------------------------------------------------------------------------------------


def _feed_calendar(name: Text, description: Text, tz: ZoneInfo, language: str) -> Calendar:
    calendar = new_calendar(Method.PUBLISH)
    name_text = render(name, language)
    description_text = render(description, language)
    # NAME is RFC 7986's and takes LANGUAGE; the X-WR- names older apps read stay plain.
    calendar.add("name", vText(name_text), parameters={"LANGUAGE": language})
    calendar.add("x-wr-calname", vText(name_text))
    calendar.add("x-wr-caldesc", vText(description_text))
    calendar.add("x-wr-timezone", tz.key)
    calendar.add("refresh-interval", vDuration(FEED_TTL), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(FEED_TTL))
    return calendar


def _event(talk: Talk, tz: ZoneInfo, language: str) -> Event:
    # DTSTAMP is the talk's last change rather than the time of the request, so an unchanged feed gives
    # the same bytes (and ETag) on every fetch; UID and SEQUENCE are the DM invite's.
    return talk_event(talk, tz=tz, now=talk.updated_at, language=language)


def _as_tentative(event: Event, talk: Talk, position: int | None, language: str) -> None:
    """A waitlisted seat: shown, but tentative, free time, and without an alarm."""
    place = _("waitlist #{position}", position=position) if position else _("waitlist")
    del event["SUMMARY"], event["STATUS"], event["TRANSP"]
    add_text(event, "summary", f"{summary(talk)} ({render(place, language)})", language)
    event.add("status", "TENTATIVE")
    event.add("transp", "TRANSPARENT")
    if position:
        waiting = _(
            "You are #{position} on the waitlist. If a seat opens up you are confirmed automatically "
            "and this event becomes confirmed.",
            position=position,
        )
    else:
        waiting = _(
            "You are on the waitlist. If a seat opens up you are confirmed automatically "
            "and this event becomes confirmed."
        )
    note = render(waiting, language)
    description = str(event.get("DESCRIPTION", ""))
    del event["DESCRIPTION"]
    add_text(event, "description", f"{note}\n\n{description}" if description else note, language)
    event.subcomponents.clear()


def _with_join_link(event: Event, url: str, language: str) -> None:
    """The member's own copy of a released talk: the private link first in the description, and as RFC 7986's
    CONFERENCE, which calendar apps show as a join button."""
    line = render(_("Join link (for you only): {url}", url=url), language)
    description = str(event.get("DESCRIPTION", ""))
    del event["DESCRIPTION"]
    add_text(event, "description", f"{line}\n\n{description}" if description else line, language)
    label = render(_("Join the talk"), language)
    event.add("conference", url, parameters={"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": label})


def member_calendar(feed: MemberFeed, server_name: str, language: str) -> bytes:
    """Confirmed talks as events; waitlisted ones as TENTATIVE "(waitlist #n)"; cancelled ones as CANCELLED.

    Podium's own words are in the member's ``language``."""
    calendar = _feed_calendar(
        _("My talks — {server}", server=server_name),
        _("The talks you registered for in {server}, kept up to date by Podium.", server=server_name),
        feed.tz,
        language,
    )

    def event_of(talk: Talk, registration: Registration, tz: ZoneInfo) -> Event:
        event = _event(talk, tz, language)
        if not registration.confirmed and not talk.cancelled:
            _as_tentative(event, talk, registration.position, language)
        link = feed.join_links.get(talk.id) if registration.confirmed else None
        if link:
            _with_join_link(event, link, language)
        return event

    for talk, registration in feed.entries:
        if talk.series_id not in feed.series:
            calendar.add_component(event_of(talk, registration, feed.tz))
    written = [talk for talk, _registration in feed.entries]
    for dates in feed.series.values():
        # The dates the member is not registered for (and cancelled ones) are the series' EXDATEs: their calendar
        # shows the series with only their own dates.
        zone = dates.series.zone
        shown = [
            SeriesDate(slot, talk, event_of(talk, dates.registrations[talk.id], zone), not talk.cancelled)
            if talk.id in dates.registrations
            else SeriesDate(slot, talk, _event(talk, zone, language), shown=False)
            for slot, talk in _slotted(dates)
        ]
        _add_series(calendar, dates, shown)
        written += dates.talks
    return finish(calendar, written)


def _slotted(dates: SeriesFeed) -> list[tuple[date, Talk]]:
    days = slot_days(dates.series)
    return [(days[talk.series_index or 0], talk) for talk in dates.talks if (talk.series_index or 0) < len(days)]


def _add_series(calendar: Calendar, dates: SeriesFeed, shown: list[SeriesDate]) -> None:
    if not shown:
        return
    freq, interval = RRULE[dates.series.repeat]
    days = slot_days(dates.series)
    for event in series_events(dates.series, days, shown, freq=freq, interval=interval, zone=dates.series.zone):
        calendar.add_component(event)


def public_calendar(feed: PublicFeed, server_name: str, language: str) -> bytes:
    """Every announced talk of the server; no registrations, so nothing about any member.

    Podium's own words are in the server's ``language``."""
    calendar = _feed_calendar(
        _("Talks — {server}", server=server_name),
        _("The talks of {server}, kept up to date by Podium.", server=server_name),
        feed.tz,
        language,
    )
    for talk in feed.talks:
        if talk.series_id not in feed.series:
            calendar.add_component(_event(talk, feed.tz, language))
    written = list(feed.talks)
    for dates in feed.series.values():
        zone = dates.series.zone
        _add_series(
            calendar,
            dates,
            [
                SeriesDate(slot, talk, _event(talk, zone, language), not talk.cancelled)
                for slot, talk in _slotted(dates)
            ],
        )
        written += dates.talks
    return finish(calendar, written)


def talk_calendar(talk: Talk, tz: ZoneInfo, language: str) -> bytes:
    """One talk for "Add to calendar": the same event as in the feeds, Podium's words in ``language``."""
    calendar = new_calendar(Method.PUBLISH)
    calendar.add_component(_event(talk, tz, language))
    return finish(calendar, [talk])
