"""Each announced talk as a native Discord scheduled event: created, edited, started, ended and cancelled with it.

The database is the truth (native_events rows, bot/native_event_rows.py); Discord's events follow it. A talk's
sync is serialised (one lock per talk) and idempotent: what an event shows has a fingerprint, so an unchanged
talk costs no request. Creation is exactly once across crashes: the row is written before the request, and a
row left 'creating' is resolved at the next reconciliation by finding the event through the talk's marker
(its announcement link, in the description) among the events this bot made. An event deleted by hand is made
again once; deleted again, it stays deleted. At most MAX_EVENTS live events per server: the soonest talks.

Without the Create Events (or Manage Events) permission, or with /setup native_events:false, nothing is sent
and everything else works as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord

from bot import native_event_rows as rows
from bot import store
from bot.models import Talk
from bot.native_event_rows import EventRow
from bot.native_events import (
    DISCORD_STATUS,
    LIVE,
    MAX_EVENTS,
    EventState,
    desired_state,
    event_fields,
    fingerprint,
    marker,
    soonest,
)

if TYPE_CHECKING:
    from bot.talks import TalkService

log = logging.getLogger(__name__)

UNKNOWN_EVENT = 10070
TOO_MANY_EVENTS = 30038
_STATE_OF = {status: state for state, status in DISCORD_STATUS.items()}


def can_mirror(guild: discord.Guild | None) -> bool:
    """Whether the bot may create events in this server (from its cached permissions)."""
    if guild is None or guild.me is None:
        return False
    permissions = guild.me.guild_permissions
    return permissions.create_events or permissions.manage_events or permissions.administrator


class EventMirror:
    def __init__(self, client: discord.Client, service: TalkService, *, limit: int = MAX_EVENTS) -> None:
        self.client = client
        self.service = service
        self.limit = limit
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._warned: set[int] = set()

    # --- entry points ----------------------------------------------------------------------------

    async def sync(self, talk_id: int) -> None:
        """Bring the talk's event in line with the talk (create, edit, start, end or cancel it)."""
        async with self._locks[talk_id]:
            async with self.service.db.reading() as conn:
                talk = await store.get_talk_by_id(conn, talk_id)
                row = await rows.get(conn, talk_id)
            if talk is None or not await self._enabled(talk.guild_id):
                return
            try:
                await self._sync(talk, row)
            except discord.HTTPException as error:
                log.warning("Event of talk %s not synced: %s %s", talk.id, error.status, error.code)
        if row is None or row.state not in LIVE:
            return
        fresh = await self._row(talk_id)
        if fresh is not None and fresh.state not in LIVE:
            # A slot freed up (the talk ended or was cancelled): the next talk in line gets its event.
            await self.fill(talk.guild_id)

    async def settled(self, talk_id: int) -> None:
        """Return once a sync of the talk under way has finished (its request answered and recorded)."""
        async with self._locks[talk_id]:
            return

    async def fill(self, guild_id: int) -> None:
        """Give an event to each of the soonest talks that should have one and has none yet."""
        if not await self._enabled(guild_id):
            return
        async with self.service.db.reading() as conn:
            talks = await store.announced_talks(conn, guild_id, ends_after=self.service.clock())
            known = {row.talk_id for row in await rows.of_guild(conn, guild_id)}
        for talk in soonest(talks, self.service.clock(), self.limit):
            if talk.id not in known:
                await self.sync(talk.id)

    async def reconcile(self, guild_id: int) -> None:
        """At start-up and periodically: adopt events created before a crash, notice events deleted by hand,
        then sync every talk that should have an event."""
        if not await self._enabled(guild_id):
            return
        try:
            ours = await self._ours(guild_id)
        except discord.HTTPException as error:
            log.warning("Cannot list the events of server %s: %s %s", guild_id, error.status, error.code)
            return
        present = {int(event["id"]) for event in ours}
        now = self.service.clock()
        async with self.service.db.transaction() as conn:
            for row in await rows.of_guild(conn, guild_id):
                talk = await store.get_talk_by_id(conn, row.talk_id)
                if talk is None:
                    continue
                if row.state is EventState.CREATING:
                    found = _find(ours, talk)
                    if found is not None:
                        await self._adopt(conn, talk, found, row)
                elif row.state in (EventState.SCHEDULED, EventState.ACTIVE) and row.event_id not in present:
                    await self._deleted_by_hand(conn, row)
        async with self.service.db.reading() as conn:
            talks = await store.announced_talks(conn, guild_id, ends_after=now)
            recorded = {row.talk_id for row in await rows.of_guild(conn, guild_id)}
        # Events this bot made for talks it has no row for (a database restored from a backup): adopted, never
        # duplicated.
        async with self.service.db.transaction() as conn:
            for talk in talks:
                found = _find(ours, talk) if talk.id not in recorded else None
                if found is not None:
                    await rows.begin(conn, talk.id, guild_id, now)
                    await self._adopt(conn, talk, found, None)
        for talk in talks:
            await self.sync(talk.id)
        await self.fill(guild_id)

    async def reconcile_all(self) -> None:
        for guild in list(self.client.guilds):
            try:
                await self.reconcile(guild.id)
            except Exception:
                log.exception("Reconciling the events of server %s failed", guild.id)

    async def deleted(self, guild_id: int, event_id: int) -> None:
        """Discord says an event was deleted: one of ours deleted by hand is made again once."""
        async with self.service.db.transaction() as conn:
            row = await rows.by_event(conn, event_id)
            if row is None or row.state not in (EventState.SCHEDULED, EventState.ACTIVE):
                return  # not ours, or Podium itself removed it
            await self._deleted_by_hand(conn, row)
        await self.sync(row.talk_id)

    # --- the work ----------------------------------------------------------------------------------

    async def _enabled(self, guild_id: int) -> bool:
        settings = await self.service.settings(guild_id)
        if not settings.native_events:
            return False
        if not can_mirror(self.client.get_guild(guild_id)):
            if guild_id not in self._warned:
                self._warned.add(guild_id)
                log.info("Server %s: no Create Events permission, talks are not mirrored as events", guild_id)
            return False
        self._warned.discard(guild_id)
        return True

    async def _row(self, talk_id: int) -> EventRow | None:
        async with self.service.db.reading() as conn:
            return await rows.get(conn, talk_id)

    async def _language(self, guild_id: int) -> str:
        languages = getattr(self.client, "languages", None)
        if languages is None:
            return "en"
        language: str = await languages.server(guild_id)
        return language

    async def _sync(self, talk: Talk, row: EventRow | None) -> None:
        now = self.service.clock()
        desired = desired_state(talk, now)
        if row is not None and row.state in (EventState.COMPLETED, EventState.CANCELLED, EventState.GONE):
            return
        if row is None or row.event_id is None:
            if desired not in (EventState.SCHEDULED, EventState.ACTIVE) or marker(talk) is None:
                return
            if row is None and not await self._make_room(talk):
                return
            if row is not None and await self._adopted_after_crash(talk, row):
                row = await self._row(talk.id)
            else:
                await self._create(talk, row)
                return
            if row is None or row.event_id is None:
                return
        await self._update(talk, row, desired)

    async def _adopted_after_crash(self, talk: Talk, row: EventRow) -> bool:
        """A row left 'creating' by an earlier attempt: the event may exist already."""
        found = _find(await self._ours(talk.guild_id), talk)
        if found is None:
            return False
        async with self.service.db.transaction() as conn:
            await self._adopt(conn, talk, found, row)
        return True

    async def _ours(self, guild_id: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = list(await self.client.http.get_scheduled_events(guild_id, False))  # type: ignore[arg-type]
        me = self.client.user.id if self.client.user else None
        return [event for event in events if me is not None and int(event.get("creator_id") or 0) == me]

    async def _remove_twins(self, talk: Talk, keep: int) -> None:
        """Delete any other live event of ours for this talk: a request whose answer was lost and that was sent
        again would otherwise leave two."""
        for event in _matching(await self._ours(talk.guild_id), talk):
            if int(event["id"]) != keep:
                log.warning("Talk %s had a second event %s: deleted", talk.id, event["id"])
                with contextlib.suppress(discord.NotFound):
                    await self.client.http.delete_scheduled_event(talk.guild_id, int(event["id"]))

    async def _make_room(self, talk: Talk) -> bool:
        """Whether the talk may get an event under the per-server limit; a sooner talk takes the place of the
        latest one mirrored, which gets its event back when places free up."""
        async with self.service.db.reading() as conn:
            if await rows.live_count(conn, talk.guild_id) < self.limit:
                return True
            live = [row for row in await rows.of_guild(conn, talk.guild_id) if row.state in LIVE]
            talks = [t for t in [await store.get_talk_by_id(conn, row.talk_id) for row in live] if t is not None]
        latest = max(talks, key=lambda t: (t.start_at, t.id), default=None)
        if latest is None or (latest.start_at, latest.id) <= (talk.start_at, talk.id):
            return False
        latest_row = next(row for row in live if row.talk_id == latest.id)
        if latest_row.event_id is not None:
            with contextlib.suppress(discord.NotFound):
                await self.client.http.delete_scheduled_event(talk.guild_id, latest_row.event_id)
        async with self.service.db.transaction() as conn:
            await rows.forget(conn, latest.id)
        return True

    async def _create(self, talk: Talk, row: EventRow | None) -> None:
        now = self.service.clock()
        async with self.service.db.transaction() as conn:
            started = await rows.begin(conn, talk.id, talk.guild_id, now)
        fields = event_fields(talk, await self._language(talk.guild_id))
        payload = {key: value for key, value in fields.items() if key != "channel_id"}
        try:
            event = await self.client.http.create_guild_scheduled_event(talk.guild_id, **payload)
        except discord.HTTPException as error:
            if error.code == TOO_MANY_EVENTS:
                log.info("Server %s has 100 events already: talk %s waits for a place", talk.guild_id, talk.id)
                if row is None:
                    async with self.service.db.transaction() as conn:
                        await rows.forget(conn, talk.id)
                return
            raise
        async with self.service.db.transaction() as conn:
            await rows.record(
                conn,
                talk.id,
                event_id=int(event["id"]),
                state=EventState.SCHEDULED,
                fingerprint=fingerprint(fields),
                now=self.service.clock(),
            )
        log.info("Talk %s mirrored as event %s (row was %s)", talk.id, event["id"], started.state.value)
        await self._remove_twins(talk, int(event["id"]))
        if desired_state(talk, self.service.clock()) is EventState.ACTIVE:
            fresh = await self._row(talk.id)
            if fresh is not None:
                await self._update(talk, fresh, EventState.ACTIVE)

    async def _update(self, talk: Talk, row: EventRow, desired: EventState) -> None:
        assert row.event_id is not None
        http = self.client.http
        try:
            if desired is EventState.CANCELLED:
                if row.state is EventState.SCHEDULED:
                    await http.edit_scheduled_event(talk.guild_id, row.event_id, status=DISCORD_STATUS[desired])
                else:  # Discord cancels only scheduled events; a started one is removed
                    await self._record(talk.id, row, EventState.CANCELLED, row.fingerprint)
                    await http.delete_scheduled_event(talk.guild_id, row.event_id)
                await self._record(talk.id, row, EventState.CANCELLED, row.fingerprint)
                return
            fields = event_fields(talk, await self._language(talk.guild_id))
            digest = fingerprint(fields)
            state = row.state
            if digest != row.fingerprint and desired is not EventState.COMPLETED:
                payload = {key: value for key, value in fields.items() if key != "channel_id"}
                if state is EventState.ACTIVE:
                    payload.pop("scheduled_start_time", None)  # Discord refuses to move the start of a live event
                await http.edit_scheduled_event(talk.guild_id, row.event_id, **payload)
            if desired in (EventState.ACTIVE, EventState.COMPLETED) and state is EventState.SCHEDULED:
                state = await self._move(talk, row.event_id, EventState.ACTIVE)
            if desired is EventState.COMPLETED and state is EventState.ACTIVE:
                state = await self._move(talk, row.event_id, EventState.COMPLETED)
            if (state, digest) != (row.state, row.fingerprint):  # a registration's refresh writes nothing
                await self._record(talk.id, row, state, digest)
        except discord.NotFound as error:
            if error.code != UNKNOWN_EVENT:
                raise
            async with self.service.db.transaction() as conn:
                await self._deleted_by_hand(conn, row)
            fresh = await self._row(talk.id)
            if fresh is not None and fresh.state is EventState.CREATING:
                await self._create(talk, fresh)

    async def _move(self, talk: Talk, event_id: int, target: EventState) -> EventState:
        """Set the event's status; Discord may have moved it already (it starts and ends external events on its
        own), in which case the change is refused and the event's own status is what counts."""
        try:
            await self.client.http.edit_scheduled_event(talk.guild_id, event_id, status=DISCORD_STATUS[target])
        except discord.HTTPException as error:
            if error.status != 400:
                raise
            event = await self.client.http.get_scheduled_event(talk.guild_id, event_id, False)
            return _STATE_OF.get(int(event.get("status") or 1), EventState.SCHEDULED)
        return target

    async def _record(self, talk_id: int, row: EventRow, state: EventState, digest: str | None) -> None:
        async with self.service.db.transaction() as conn:
            await rows.record(
                conn, talk_id, event_id=row.event_id, state=state, fingerprint=digest, now=self.service.clock()
            )

    async def _adopt(self, conn: Any, talk: Talk, event: dict[str, Any], row: EventRow | None) -> None:
        state = _STATE_OF.get(int(event.get("status") or 1), EventState.SCHEDULED)
        # No fingerprint: the next sync edits the event to what the talk is now.
        await rows.record(
            conn, talk.id, event_id=int(event["id"]), state=state, fingerprint=None, now=self.service.clock()
        )
        log.info("Talk %s: event %s found and recorded (it was created before a restart)", talk.id, event["id"])

    async def _deleted_by_hand(self, conn: Any, row: EventRow) -> None:
        now = self.service.clock()
        if row.recreated >= 1:
            await rows.record(conn, row.talk_id, event_id=None, state=EventState.GONE, fingerprint=None, now=now)
            log.info("Event of talk %s deleted by hand again: left deleted", row.talk_id)
            return
        await rows.record(
            conn, row.talk_id, event_id=None, state=EventState.CREATING, fingerprint=None, now=now, recreated=1
        )
        log.info("Event of talk %s deleted by hand: it is made again once", row.talk_id)


def _matching(events: list[dict[str, Any]], talk: Talk) -> list[dict[str, Any]]:
    """The live events whose description names this talk (its announcement link). The dates of a series share
    one announcement, so there an event must also start when the date does."""
    link = marker(talk)
    if link is None:
        return []
    found = [
        event
        for event in events
        if link in str(event.get("description") or "") and int(event.get("status") or 1) in (1, 2)
    ]
    if talk.series_id is None:
        return found
    return [event for event in found if _starts(event) == talk.start_at]


def _find(events: list[dict[str, Any]], talk: Talk) -> dict[str, Any] | None:
    found = _matching(events, talk)
    return found[0] if found else None


def _starts(event: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(event.get("scheduled_start_time")))
    except ValueError:
        return None
