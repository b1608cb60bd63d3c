"""The private join link of a hybrid or online talk: who may have it, from when, and the DMs that carry it.

The link (``talks.join_url``) is for confirmed members only, from ``join_link_before`` (a server setting,
default 15 minutes) ahead of the start: then each of them gets one DM with it, or finds it in the reminder
that falls at that moment. A member confirmed after that moment gets it at once. It never appears in
anything public: the announcement, the server feed, the agenda page, ``/t/`` files, emails.

Each join-link DM is keyed by a fingerprint of the link itself, so exactly-once holds per link: a link
changed after the release is owed again to every confirmed member, and a row still pending for the old link
is stale (see stale_reason) rather than sending what no longer works. No Discord objects here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot import joinlink_rows, store
from bot.command_names import command, option
from bot.errors import InputError, StateError
from bot.i18n import _
from bot.models import Delivery, DeliveryKind, RegistrationStatus, Talk
from bot.sql import Connection
from bot.timeparse import discord_timestamp, shown

if TYPE_CHECKING:
    from bot.talks import TalkService

JOIN_URL_MAX = 512  # Discord's limit for a link button's URL, and far above any meeting link
LEAD_MAX = 24 * 60  # /setup join_link_before: from 0 (at the start) to 24 hours before it
LEAD_EXAMPLE = "15m"
URL_EXAMPLE = "https://meet.example.edu/talk-42"
CLEAR = "-"
_LEAD = re.compile(r"^(\d{1,5})\s*([dhm])$")
_UNIT_MINUTES = {"d": 24 * 60, "h": 60, "m": 1}
# Characters a link never needs that would break out of a code span or an angle-bracket link in Discord,
# or make the text ping (<@…>, @everyone, @here). Spaces and control characters are refused too.
_FORBIDDEN = re.compile(r"[\s<>`\"\\\x00-\x1f\x7f]")
_MENTION = re.compile(r"@(everyone|here)\b", re.IGNORECASE)


# --- what organizers type ------------------------------------------------------------------------------------


def parse_join_url(value: str, *, creating: bool) -> str | None:
    """The link as stored, or None for ``-`` (which clears it on edit and means no link on create).

    Only http and https are accepted (no javascript:, data:, ftp:...), with a host, no user name or password
    before it (``https://zoom.us@evil.example`` leads to evil.example), at most JOIN_URL_MAX characters.
    """
    cleaned = value.strip()
    if cleaned == CLEAR or (creating and not cleaned):
        return None
    name = option("join_url")
    if len(cleaned) > JOIN_URL_MAX:
        raise InputError(
            _(
                "{name} is {length} characters long; the limit is {limit}. Use the meeting's short link.",
                name=name,
                length=len(cleaned),
                limit=JOIN_URL_MAX,
            )
        )
    if _FORBIDDEN.search(cleaned) or _MENTION.search(cleaned):
        raise InputError(
            _(
                "{name} must be a single web address, without spaces, quotes, angle brackets, backticks or "
                "mentions, for example `{example}`.",
                name=name,
                example=URL_EXAMPLE,
            )
        )
    try:
        parts = urlsplit(cleaned)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise InputError(
            _(
                "{name} must start with `https://` (or `http://`) and name a site, for example `{example}`; "
                "`{value}` does not.",
                name=name,
                example=URL_EXAMPLE,
                value=shown(cleaned),
            )
        )
    if parts.username is not None or parts.password is not None:
        raise InputError(
            _(
                "{name} must not carry a user name or password before the site (`name@`): such a link can lead "
                "somewhere other than it seems. Give the meeting's link as its service shows it, for example "
                "`{example}`.",
                name=name,
                example=URL_EXAMPLE,
            )
        )
    return cleaned


def parse_lead(text: str) -> int:
    """``/setup join_link_before:``, written like a reminder offset (``15m``, ``1h``); ``0m`` is at the start."""
    raw = text.strip().lower()
    match = _LEAD.match(raw) if raw != "0" else _LEAD.match("0m")
    minutes = int(match.group(1)) * _UNIT_MINUTES[match.group(2)] if match else -1
    if not 0 <= minutes <= LEAD_MAX:
        raise InputError(
            _(
                "{name} is how long before the start confirmed members get the join link: from `0m` (at the "
                "start) to `24h`, written like a reminder, for example `{example}`; `{value}` is not.",
                name=option("join_link_before"),
                example=LEAD_EXAMPLE,
                value=shown(text),
            )
        )
    return minutes


def format_lead(minutes: int) -> str:
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


# --- when, and for whom ----------------------------------------------------------------------------------


def link_key(url: str) -> int:
    """The outbox key of a join-link DM: 48 bits of the link's SHA-256, so each link is owed once."""
    return int.from_bytes(hashlib.sha256(url.encode("utf-8")).digest()[:6], "big")


def release_at(talk: Talk, lead: int) -> datetime:
    return talk.start_at - timedelta(minutes=lead)


def released(talk: Talk, lead: int, now: datetime) -> bool:
    """Whether confirmed members may have the link now (it stays theirs once released, also after the end)."""
    return bool(talk.join_url) and not talk.cancelled and now >= release_at(talk, lead)


def merged_with_reminder(talk: Talk, lead: int) -> bool:
    """Whether one of the talk's reminders falls at the release time (and is owed: jobplan leaves out a
    reminder whose time had passed when the talk was created): that reminder then carries the link."""
    return lead in talk.reminders and release_at(talk, lead) > talk.created_at


async def _lead(conn: Connection, guild_id: int) -> int:
    return (await store.get_settings(conn, guild_id)).join_link_lead()


async def _owe(conn: Connection, talk: Talk, members: Iterable[int], now: datetime) -> list[Delivery]:
    assert talk.join_url is not None
    key = link_key(talk.join_url)
    rows = await store.ensure_deliveries(conn, talk, "user", DeliveryKind.JOIN_LINK, [(m, key) for m in members], now)
    # A row still pending for an earlier link is stale anyway; marking it now keeps the outbox honest.
    await store.supersede_pending(conn, rows, (DeliveryKind.JOIN_LINK,), now)
    return rows


async def owe_release(conn: Connection, talk: Talk, now: datetime) -> list[Delivery]:
    """The release job: one DM per confirmed member, except those whose reminder at that moment carries the
    link (sent or still to go). Returns the rows still to send; nothing before the release time (the job is
    planned again when the talk or the setting moved it) or once the talk is over or cancelled."""
    lead = await _lead(conn, talk.guild_id)
    if not talk.join_url or talk.cancelled or talk.is_over(now) or now < release_at(talk, lead):
        return []
    confirmed = [r.user_id for r in await store.registrations(conn, talk.id, RegistrationStatus.CONFIRMED)]
    reminded: set[int] = set()
    if merged_with_reminder(talk, lead):
        reminded = await joinlink_rows.reminded_with_link(conn, talk.id, lead)
        if not talk.has_started(now):
            # The reminder job of the same moment may not have recorded its rows yet: it goes to these.
            reminded |= set(await store.reminder_recipients(conn, talk, release_at(talk, lead)))
    return await _owe(conn, talk, [member for member in confirmed if member not in reminded], now)


async def owe_on_confirm(conn: Connection, talk: Talk, members: Sequence[int], now: datetime) -> list[Delivery]:
    """Members confirmed (registered or promoted) after the release get the link at once, by its own DM."""
    if not members or not talk.join_url or talk.cancelled or talk.is_over(now):
        return []
    if now < talk.start_at - timedelta(minutes=LEAD_MAX):  # no server releases it earlier: skip the settings
        return []
    if not released(talk, await _lead(conn, talk.guild_id), now):
        return []
    return await _owe(conn, talk, members, now)


async def owe_after_edit(conn: Connection, previous: Talk, updated: Talk, now: datetime) -> list[Delivery]:
    """A talk edited in the same transaction: a link changed (or added) after the release goes to every
    confirmed member at once; a talk moved so that its release is ahead again owes the link again then."""
    if updated.join_url == previous.join_url and updated.start_at == previous.start_at:
        return []
    lead = await _lead(conn, updated.guild_id)
    if updated.start_at != previous.start_at and now < release_at(updated, lead):
        await joinlink_rows.forget_join_links(conn, updated.id)
        return []
    if updated.join_url == previous.join_url or not released(updated, lead, now) or updated.is_over(now):
        return []
    assert updated.join_url is not None
    # A link members had before (changed, then changed back) is news again: forget its old rows.
    await joinlink_rows.forget_join_links(conn, updated.id, link_key(updated.join_url))
    confirmed = [r.user_id for r in await store.registrations(conn, updated.id, RegistrationStatus.CONFIRMED)]
    return await _owe(conn, updated, confirmed, now)


async def stale_reason(conn: Connection, delivery: Delivery, talk: Talk, now: datetime) -> str | None:
    """Why a pending join-link DM is no longer true: it is rendered from the talk's current link, so it must
    still be that link (its key), for a member still confirmed, before the talk is over."""
    if talk.cancelled:
        return "the talk was cancelled"
    if talk.is_over(now):
        return "the talk is over"
    if not talk.join_url:
        return "the talk no longer has a join link"
    if delivery.key != link_key(talk.join_url):
        return "the join link changed since; the new one is owed"
    registration = await store.get_registration(conn, talk.id, delivery.recipient_id)
    if registration is None or not registration.confirmed:
        return "the member is no longer confirmed"
    return None


# --- the Join link button ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinAccess:
    """What the Join link button tells a confirmed member: the link, or (``url`` None) when it opens."""

    talk: Talk
    url: str | None
    opens_at: datetime


async def access(conn: Connection, talk: Talk, user_id: int, now: datetime) -> JoinAccess:
    """The link for a confirmed member once released, when it opens otherwise; refusals say why."""
    title = talk.title
    if talk.cancelled:
        raise StateError(_("**{title}** was cancelled, so there is no link to join.", title=title))
    if talk.is_over(now):
        raise StateError(_("**{title}** is over, so its join link is closed.", title=title))
    if not talk.join_url:
        raise StateError(_("**{title}** has no online link: it takes place in person only.", title=title))
    registration = await store.get_registration(conn, talk.id, user_id)
    lead = await _lead(conn, talk.guild_id)
    opens = release_at(talk, lead)
    if registration is None:
        raise StateError(
            _(
                "The join link of **{title}** is for members with a confirmed seat. Register with the Register "
                "button or {register}; once confirmed you get the link by DM {opens}.",
                title=title,
                register=command("register"),
                opens=discord_timestamp(opens, "R"),
            )
        )
    if registration.status is not RegistrationStatus.CONFIRMED:
        raise StateError(
            _(
                "You are #{position} on the waitlist for **{title}**, and the join link is for confirmed members "
                "only. If a seat opens up you are confirmed automatically and get it by DM.",
                position=registration.position,
                title=title,
            )
        )
    return JoinAccess(talk, talk.join_url if now >= opens else None, opens)


class JoinLinks:
    """The join link's use of the database and the clock (the talks' own), for the button, jobs and feeds."""

    def __init__(self, service: TalkService) -> None:
        self.service = service

    async def access(self, guild_id: int, talk_id: int, user_id: int) -> JoinAccess:
        talk = await self.service.member_talk(guild_id, talk_id, user_id)
        async with self.service.db.reading() as conn:
            return await access(conn, talk, user_id, self.service.clock())

    async def owe_release(self, talk_id: int) -> list[Delivery]:
        async with self.service.db.transaction() as conn:
            talk = await store.get_talk_by_id(conn, talk_id)
            if talk is None:
                return []
            return await owe_release(conn, talk, self.service.clock())

    async def lead(self, guild_id: int) -> int:
        return (await self.service.settings(guild_id)).join_link_lead()
