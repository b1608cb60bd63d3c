""" "Interested" on a talk's native event as a registration (with /setup interested_registers:true).

Clicking it registers the member under the same rules as /register (seats, waitlist, and whatever else the
registration transaction checks), with the same invite DM; un-clicking it unregisters them, but only members
it registered (event_interest rows): a member who registered with the button stays registered. discord.py
passes the gateway's USER_ADD/USER_REMOVE on only for members in its cache, which a bot without the members
intent rarely has, so cogs/native_events.py reads the raw events, and reconcile() compares each event's user
list with the registrations at start-up and every few minutes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot import native_event_rows as rows
from bot import store
from bot.errors import PodiumError
from bot.native_events import LIVE

if TYPE_CHECKING:
    from bot.office import Office

log = logging.getLogger(__name__)

USERS_PAGE = 100  # Discord's most per request


class InterestRegistrations:
    def __init__(self, client: discord.Client, office: Office) -> None:
        self.client = client
        self.office = office
        self.service = office.service

    async def _talk_of(self, guild_id: int, event_id: int) -> int | None:
        if not (await self.service.settings(guild_id)).interested_registers:
            return None
        async with self.service.db.reading() as conn:
            row = await rows.by_event(conn, event_id)
        return row.talk_id if row is not None and row.guild_id == guild_id and row.state in LIVE else None

    async def _member(self, guild_id: int, user_id: int) -> discord.Member | None:
        """The member, read from Discord when not cached: their roles decide eligibility like a command's."""
        guild = self.client.get_guild(guild_id)
        member = guild.get_member(user_id) if guild else None
        if member is None and guild is not None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.HTTPException:
                member = None
        return member

    async def added(self, guild_id: int, event_id: int, user_id: int) -> None:
        talk_id = await self._talk_of(guild_id, event_id)
        if talk_id is not None:
            await self._register(guild_id, talk_id, user_id)

    async def removed(self, guild_id: int, event_id: int, user_id: int) -> None:
        talk_id = await self._talk_of(guild_id, event_id)
        if talk_id is not None:
            await self._unregister(guild_id, talk_id, user_id)

    async def _register(self, guild_id: int, talk_id: int, user_id: int) -> None:
        member = await self._member(guild_id, user_id)
        if member is None:
            log.info(
                "Member %s of server %s not found: their interest in talk %s is ignored", user_id, guild_id, talk_id
            )
            return
        roles = frozenset(role.id for role in member.roles)
        try:
            outcome = await self.office.register(guild_id, talk_id, user_id, member.display_name, roles=roles)
        except PodiumError as error:
            log.info("Interest of %s in talk %s not turned into a registration: %s", user_id, talk_id, error)
            return
        if not outcome.created:
            return  # registered already, some other way: un-clicking "Interested" must not undo that
        async with self.service.db.transaction() as conn:
            await rows.add_interest(conn, talk_id, user_id, self.service.clock())
        log.info("Member %s registered for talk %s from the event (%s)", user_id, talk_id, outcome.registration.status)

    async def _unregister(self, guild_id: int, talk_id: int, user_id: int) -> None:
        async with self.service.db.reading() as conn:
            known = await rows.interested(conn, talk_id)
        if user_id not in known:
            return  # registered some other way: un-clicking does not undo that
        async with self.service.db.transaction() as conn:
            await rows.remove_interest(conn, talk_id, user_id)
        if known[user_id]:
            return  # already unregistered by hand
        try:
            await self.office.unregister(guild_id, talk_id, user_id)
        except PodiumError as error:
            log.info("Member %s not unregistered from talk %s: %s", user_id, talk_id, error)

    async def reconcile(self, guild_id: int) -> None:
        """Compare each live event's user list with who it registered: the clicks the gateway did not pass on."""
        if not (await self.service.settings(guild_id)).interested_registers:
            return
        async with self.service.db.reading() as conn:
            live = [row for row in await rows.of_guild(conn, guild_id) if row.state in LIVE and row.event_id]
        for row in live:
            assert row.event_id is not None
            try:
                users = await self._users(guild_id, row.event_id)
            except discord.HTTPException as error:
                log.warning("Cannot read who is interested in event %s: %s", row.event_id, error.status)
                continue
            async with self.service.db.reading() as conn:
                known = await rows.interested(conn, row.talk_id)
                registered = {r.user_id for r in await store.registrations(conn, row.talk_id)}
            for user_id in sorted(users - set(known)):
                await self._register(guild_id, row.talk_id, user_id)
            for user_id in sorted(set(known) - users):
                await self._unregister(guild_id, row.talk_id, user_id)
            async with self.service.db.transaction() as conn:
                for user_id, left in known.items():
                    if user_id in users and not left and user_id not in registered:
                        # Unregistered with /unregister while still marked interested: not registered again.
                        await rows.mark_left(conn, row.talk_id, user_id)

    async def _users(self, guild_id: int, event_id: int) -> set[int]:
        found: set[int] = set()
        after: int | None = None
        while True:
            page = await self.client.http.get_scheduled_event_users(
                guild_id, event_id, limit=USERS_PAGE, with_member=False, after=after
            )
            found.update(int(item["user"]["id"]) for item in page)
            if len(page) < USERS_PAGE:
                return found
            after = max(int(item["user"]["id"]) for item in page)
