"""What a talk's native Discord event shows, and which talks get one: no Discord objects, tested on their own.

Discord lists a server's scheduled events in its Events tab for every member, so an event carries only what the
announcement already makes public: never the join link (bot/joinlink.py), only that the talk is online. The
Discord-facing side that creates, edits and ends the events is bot/event_mirror.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.i18n import _, render
from bot.models import Talk

MAX_EVENTS = 100  # Discord's limit of scheduled or active events per server
NAME_MAX = 100
LOCATION_MAX = 100
DESCRIPTION_MAX = 1000
EXTERNAL = 3  # Discord's entity type of an event held outside Discord's voice and stage channels
GUILD_ONLY = 2  # the only privacy level Discord accepts


class EventState(StrEnum):
    """Where a talk's event is, as Podium recorded it (native_events.state)."""

    CREATING = "creating"  # about to be created, or created before a crash and not recorded yet
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    GONE = "gone"  # deleted by hand a second time: not made again


# Discord's event statuses, by the states Podium drives them to.
DISCORD_STATUS = {EventState.SCHEDULED: 1, EventState.ACTIVE: 2, EventState.COMPLETED: 3, EventState.CANCELLED: 4}
LIVE = frozenset({EventState.CREATING, EventState.SCHEDULED, EventState.ACTIVE})


def desired_state(talk: Talk, now: datetime) -> EventState:
    if talk.cancelled:
        return EventState.CANCELLED
    if talk.is_over(now):
        return EventState.COMPLETED
    if talk.has_started(now):
        return EventState.ACTIVE
    return EventState.SCHEDULED


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def location(talk: Talk, language: str) -> str:
    if talk.location:
        return _cut(talk.location, LOCATION_MAX)
    if talk.join_url:
        return render(_("Online: the link is sent to registered members"), language)
    return render(_("See the announcement in Discord"), language)


def marker(talk: Talk) -> str | None:
    """What names the talk in its event's description: its announcement's link, unique per talk. Start-up finds
    an event created before a crash by it, so a talk never gets two."""
    return talk.announcement_url()


def description(talk: Talk, language: str) -> str:
    link = marker(talk) or ""
    lines = [render(_("With {speaker}.", speaker=talk.speaker), language)]
    if talk.description:
        lines.append(talk.description)
    closing = render(_("Details and registration: {link}", link=link), language)
    text = "\n\n".join(lines)
    # The link comes last and whole, whatever the abstract's length: it is also how Podium recognises the event.
    room = DESCRIPTION_MAX - len(closing) - 2
    return _cut(text, room) + "\n\n" + closing


def event_fields(talk: Talk, language: str) -> dict[str, Any]:
    """The JSON Discord takes to create or edit the talk's event (external, guild only)."""
    return {
        "name": _cut(talk.title, NAME_MAX),
        "description": description(talk, language),
        "scheduled_start_time": talk.start_at.isoformat(),
        "scheduled_end_time": talk.end_at.isoformat(),
        "entity_type": EXTERNAL,
        "privacy_level": GUILD_ONLY,
        "entity_metadata": {"location": location(talk, language)},
        "channel_id": None,
    }


def fingerprint(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def soonest(talks: Iterable[Talk], now: datetime, limit: int = MAX_EVENTS) -> list[Talk]:
    """The talks that should have an event now: announced, neither cancelled nor over, the soonest ``limit``."""
    wanted = [t for t in talks if t.announcement_message_id is not None and not t.cancelled and not t.is_over(now)]
    return sorted(wanted, key=lambda t: (t.start_at, t.id))[:limit]
