"""The use cases: one domain operation, then its follow-up, run from one place.

Commands, buttons, the import and any later entry point (web, admin) call these and only these. The domain
operation commits the change together with the messages it makes owed (bot/owed.py); the follow-up then plans
the talk's jobs, refreshes its announcement and hands the recorded rows to the courier. The follow-up may fail
or be cut short by a crash without losing anything: jobs are re-derived from the database at start-up and
every hour, and the courier sends every pending row at start-up and every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot import store
from bot.certificates import Certificates, Issued
from bot.checkin import CheckinOutcome, CheckinService
from bot.email_addresses import Confirmation, EmailAddresses
from bot.errors import PodiumError
from bot.i18n import Text
from bot.models import Delivery, DeliveryStatus, GuildSettings, Talk
from bot.series import SeriesCancelled, SeriesDates, SeriesEdited, SeriesService
from bot.talks import (
    CancelOutcome,
    EditOutcome,
    ImportOutcome,
    RegisterOutcome,
    TalkInput,
    TalkService,
    UnregisterOutcome,
)

if TYPE_CHECKING:
    from bot.announcer import Announcer
    from bot.courier import Courier
    from bot.scheduler import TalkScheduler

log = logging.getLogger(__name__)

# What to do when a member's own DM could not be delivered (DMs closed): answer them another way.
Undelivered = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Published:
    """A talk after an attempt to post its announcement: ``problem`` says why it is not posted, if it is not."""

    talk: Talk
    problem: Text | str | None = None


@dataclass(frozen=True)
class PublishedSeries:
    """A new series after an attempt to post its one announcement."""

    dates: SeriesDates
    problem: Text | str | None = None


@dataclass(frozen=True)
class SeriesRegistration:
    """Registering for every open date of a series: each date's outcome, or why that date refused."""

    dates: SeriesDates
    results: list[tuple[Talk, RegisterOutcome | PodiumError]]


class Office:
    def __init__(
        self,
        service: TalkService,
        emails: EmailAddresses,
        scheduler: TalkScheduler,
        announcer: Announcer,
        courier: Courier,
        *,
        certificates: Certificates | None = None,
    ) -> None:
        self.service = service
        self.certificates = certificates
        self.emails = emails
        self.scheduler = scheduler
        self.announcer = announcer
        self.courier = courier
        # Follows the service's clock (tests move it), so the check-in window and talk times agree.
        self.checkins = CheckinService(service.db, lambda: service.clock())
        self.series = SeriesService(service)

    # --- the follow-up ---------------------------------------------------------------------------

    def follow_up(
        self,
        *,
        plan: Iterable[Talk] = (),
        refresh: Iterable[Talk] = (),
        owed: Sequence[Delivery] = (),
    ) -> dict[int, asyncio.Task[DeliveryStatus]]:
        """After a commit: plan the talks' jobs, refresh their announcements, send the rows the change recorded.

        Each step is guarded on its own: the change is committed whatever happens here, and what a failed
        step leaves undone is redone from the database (the hourly planning pass, the courier's retry loop).
        """
        for talk in plan:
            try:
                self.scheduler.plan(talk)
            except Exception:
                log.exception("Could not plan the jobs of talk %s; the hourly pass will", talk.id)
        for talk in refresh:
            if talk.announcement_message_id is not None:
                try:
                    self.announcer.refresh(talk.id, talk.guild_id, series_id=talk.series_id)
                except Exception:
                    log.exception("Could not refresh the announcement of talk %s", talk.id)
        if not owed:
            return {}
        try:
            return self.courier.dispatch(owed)
        except Exception:
            log.exception("Could not hand %d deliveries to the courier; its retry loop will send them", len(owed))
            return {}

    def _send_member_rows(
        self,
        rows: Sequence[Delivery],
        held_until: datetime | None,
        own: Delivery | None,
        undelivered: Undelivered | None,
    ) -> None:
        """Send the member's own rows now, or once ``held_until`` has come (a quick change of mind supersedes
        them in the meantime, and claiming then finds them missed). The rows are committed either way: if the bot
        stops first, the courier sends them at the next start, once they are due."""
        if held_until is None:
            tasks = self.follow_up(owed=rows)
            self._watch(tasks.get(own.id) if own else None, undelivered)
            return

        def send_now() -> None:
            tasks = self.follow_up(owed=rows)
            self._watch(tasks.get(own.id) if own else None, undelivered)

        delay = max((held_until - self.service.clock()).total_seconds(), 0.0)
        asyncio.get_running_loop().call_later(delay, send_now)

    def _watch(self, task: asyncio.Task[DeliveryStatus] | None, undelivered: Undelivered | None) -> None:
        """Run ``undelivered`` if the member's own DM fails for good, without holding up their reply."""
        if task is None or undelivered is None:
            return

        async def watch() -> None:
            if await task is DeliveryStatus.FAILED:
                await undelivered()

        self.courier.spawn(watch(), f"watch-{task.get_name()}")

    # --- talks -----------------------------------------------------------------------------------

    async def create_talk(self, guild_id: int, author_id: int, data: TalkInput) -> Published:
        """Schedule a talk, and announce it at once unless it has an announce_at."""
        talk = await self.service.create_talk(guild_id, author_id, data)
        self.follow_up(plan=[talk])
        if talk.announce_at is not None:
            return Published(talk)
        return await self._publish(talk)

    async def announce(self, guild_id: int, talk_id: int) -> Talk:
        """Post (or re-post) the announcement now (a date of a series: the series' one message); raises what
        stops it."""
        talk = await self.service.changeable_talk(guild_id, talk_id)
        talk = await self.announcer.publish(talk)
        dates = await self.series.of_talk(talk)
        self.follow_up(plan=dates.talks if dates else [talk])  # an announce_at job is no longer needed
        return talk

    async def _publish(self, talk: Talk) -> Published:
        try:
            talk = await self.announcer.publish(talk)
        except PodiumError as error:
            return Published(talk, error.text)
        self.follow_up(plan=[talk])
        return Published(talk)

    async def announce_first(self, talks: Sequence[Talk], limit: int) -> list[Published]:
        """Announce the first ``limit`` talks in order, stopping at the first that cannot be posted."""
        results: list[Published] = []
        for talk in talks[:limit]:
            result = await self._publish(talk)
            results.append(result)
            if result.problem is not None:
                break
        return results

    async def edit_talk(self, guild_id: int, talk_id: int, data: TalkInput) -> EditOutcome:
        outcome = await self.service.edit_talk(guild_id, talk_id, data)
        if outcome.changed:
            self.follow_up(plan=[outcome.talk], refresh=[outcome.talk], owed=outcome.owed)
        return outcome

    async def cancel_talk(self, guild_id: int, talk_id: int, reason: str | None) -> CancelOutcome:
        outcome = await self.service.cancel_talk(guild_id, talk_id, reason)
        self.follow_up(plan=[outcome.talk], refresh=[outcome.talk], owed=outcome.owed)
        return outcome

    # --- seminar series ------------------------------------------------------------------------------

    async def create_series(
        self,
        guild_id: int,
        author_id: int,
        data: TalkInput,
        *,
        repeat: str | None,
        count: int | None,
        until: str | None,
    ) -> PublishedSeries:
        """Schedule one talk per date and post the series' one announcement (at once, or at its announce_at)."""
        dates = await self.series.create(guild_id, author_id, data, repeat=repeat, count=count, until=until)
        self.follow_up(plan=dates.talks)
        if dates.talks[0].announce_at is not None:
            return PublishedSeries(dates)
        try:
            dates = await self.announcer.publish_series(guild_id, dates.series.id)
        except PodiumError as error:
            return PublishedSeries(dates, error.text)
        self.follow_up(plan=dates.talks)
        return PublishedSeries(dates)

    async def edit_series(
        self, guild_id: int, series_id: int, data: TalkInput, *, at: str | None, from_date: str | None
    ) -> SeriesEdited:
        edited = await self.series.edit(guild_id, series_id, data, at=at, from_date=from_date)
        changed = [outcome.talk for outcome in edited.outcomes if outcome.changed]
        if changed:
            owed = [row for outcome in edited.outcomes for row in outcome.owed]
            self.follow_up(plan=changed, refresh=changed[:1], owed=owed)
        return edited

    async def cancel_series(
        self, guild_id: int, series_id: int, reason: str | None, *, from_date: str | None, language: str
    ) -> SeriesCancelled:
        cancelled = await self.series.cancel(guild_id, series_id, reason, from_date=from_date, language=language)
        talks = [outcome.talk for outcome in cancelled.outcomes]
        owed = [row for outcome in cancelled.outcomes for row in outcome.owed]
        self.follow_up(plan=talks, refresh=talks[:1], owed=owed)
        return cancelled

    async def register_series(
        self,
        guild_id: int,
        series_id: int,
        user_id: int,
        display_name: str,
        *,
        roles: frozenset[int],
        undelivered: Callable[[Talk], Awaitable[None]] | None = None,
    ) -> SeriesRegistration:
        """Register for every date still open, each exactly as /register does (its own seats, waitlist, invite
        DM); the dates arrive together, so they share one transaction (bot/batching.py)."""
        dates, talks = await self.series.open_dates(guild_id, series_id)

        async def one(talk: Talk) -> RegisterOutcome | PodiumError:
            failed = None if undelivered is None else _bound(undelivered, talk)
            try:
                return await self.register(guild_id, talk.id, user_id, display_name, roles=roles, undelivered=failed)
            except PodiumError as error:
                return error

        outcomes = await asyncio.gather(*(one(talk) for talk in talks))
        return SeriesRegistration(dates, list(zip(talks, outcomes, strict=True)))

    async def import_talks(self, guild_id: int, author_id: int, drafts: list[tuple[str, TalkInput]]) -> ImportOutcome:
        outcome = await self.service.import_talks(guild_id, author_id, drafts)
        self.follow_up(plan=outcome.created)
        return outcome

    # --- settings --------------------------------------------------------------------------------

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
        """Save the server's settings; a new language re-renders every live announcement in it, a new
        join_link_before moves its talks' release jobs."""
        before = await self.service.settings(guild_id)
        updated = await self.service.update_settings(
            guild_id,
            channel_id=channel_id,
            organizer_role_id=organizer_role_id,
            timezone=timezone,
            reminders=reminders,
            ping_role_id=ping_role_id,
            public_calendar=public_calendar,
            language=language,
            year_start=year_start,
            join_link_before=join_link_before,
            native_events=native_events,
            interested_registers=interested_registers,
        )
        if updated.join_link_lead() != before.join_link_lead():
            try:
                await self.scheduler.set_join_lead(guild_id, updated.join_link_lead())
            except Exception:
                log.exception("Could not move the join-link jobs of server %s; the hourly pass will", guild_id)
        if updated.language != before.language:
            self.follow_up(refresh=await self._live_announcements(guild_id))
        elif updated.native_events and not before.native_events:
            # Turned back on: every live talk gets its event (through the announcements' refresh).
            self.follow_up(refresh=await self._live_announcements(guild_id))
        return updated

    async def _live_announcements(self, guild_id: int) -> list[Talk]:
        # Over and cancelled talks keep their last words: nobody registers from them any more.
        async with self.service.db.reading() as conn:
            return await store.announced_talks(conn, guild_id, ends_after=self.service.clock())

    # --- members ---------------------------------------------------------------------------------

    async def register(
        self,
        guild_id: int,
        talk_id: int,
        user_id: int,
        display_name: str,
        *,
        roles: frozenset[int],
        undelivered: Undelivered | None = None,
    ) -> RegisterOutcome:
        """Register at once from the committed registration; the invite DM goes out behind the reply (after a
        short wait when the member changed their mind just before, see ChangeLimit).

        ``roles`` are the member's role ids in the server, as the entry point read them from Discord: a talk
        reserved for some roles, or in its priority window, decides from them (bot/eligibility.py). Required,
        so that no entry point can forget them."""
        outcome = await self.service.register(guild_id, talk_id, user_id, display_name, roles=roles)
        if outcome.created:
            self.follow_up(refresh=[outcome.talk])
            self._send_member_rows(outcome.owed, outcome.held_until, outcome.invite, undelivered)
        return outcome

    async def unregister(
        self, guild_id: int, talk_id: int, user_id: int, *, undelivered: Undelivered | None = None
    ) -> UnregisterOutcome:
        outcome = await self.service.unregister(guild_id, talk_id, user_id)
        own = [row for row in outcome.owed if row.recipient_type == "user" and row.recipient_id == user_id]
        # The promotions it causes go at once; only the member's own withdrawal may wait.
        self.follow_up(refresh=[outcome.talk], owed=[row for row in outcome.owed if row not in own])
        self._send_member_rows(own, outcome.held_until, outcome.withdrawal, undelivered)
        return outcome

    async def confirm_email(self, guild_id: int, user_id: int, code: str, display_name: str) -> Confirmation:
        confirmation = await self.emails.confirm(guild_id, user_id, code, display_name)
        self.follow_up(owed=confirmation.owed)
        return confirmation

    # --- attendance ------------------------------------------------------------------------------

    async def request_certificate(
        self,
        guild_id: int,
        user_id: int,
        display_name: str,
        server_name: str,
        *,
        undelivered: Undelivered | None = None,
    ) -> Issued:
        """Issue this year's certificate; its DM goes out behind the reply (``undelivered`` if it cannot)."""
        assert self.certificates is not None
        issued = await self.certificates.issue(guild_id, user_id, display_name, server_name)
        tasks = self.follow_up(owed=issued.owed)
        own = issued.owed[0] if issued.owed else None
        self._watch(tasks.get(own.id) if own else None, undelivered)
        return issued

    async def check_in(
        self, guild_id: int | None, talk_id: int, user_id: int, display_name: str, code: str | None
    ) -> CheckinOutcome:
        """Record the member's presence; a walk-in takes a seat, which the announcement then shows. No message is
        owed: the reply says it all."""
        outcome = await self.checkins.check_in(guild_id, talk_id, user_id, display_name, code)
        if outcome.created and outcome.walk_in:
            self.follow_up(refresh=[outcome.talk])
        return outcome


def _bound(undelivered: Callable[[Talk], Awaitable[None]], talk: Talk) -> Undelivered:
    async def run() -> None:
        await undelivered(talk)

    return run
