"""Timed work on APScheduler: announcements at announce_at, reminders, start and end of talks, feedback requests.

Jobs are derived from the database and rebuilt at start-up; what they send goes through the
Courier's outbox, so a job that runs twice (a restart, a reschedule) never sends twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import joinlink_rows
from bot.errors import PodiumError
from bot.feedback import FeedbackBox
from bot.jobplan import HORIZON, JobAction, PlannedJob, plan_jobs
from bot.joinlink import JoinLinks
from bot.models import JOIN_LINK_BEFORE, Talk
from bot.questions import QuestionBoard

if TYPE_CHECKING:
    from bot.announcer import Announcer
    from bot.courier import Courier
    from bot.event_mirror import EventMirror
    from bot.talks import TalkService

log = logging.getLogger(__name__)

PLAN_EVERY = timedelta(hours=1)  # must stay well below HORIZON so no job falls between two passes
RETRY_EVERY = timedelta(seconds=15)
MIRROR_EVERY = timedelta(minutes=10)


class TalkScheduler:
    def __init__(
        self,
        service: TalkService,
        courier: Courier,
        announcer: Announcer,
        *,
        mirror: EventMirror | None = None,
        owns: Callable[[int], bool] = lambda _guild_id: True,
    ) -> None:
        self.service = service
        self.courier = courier
        self.announcer = announcer
        self.mirror = mirror
        # Which servers this process serves (its shards'): another process plans, reminds and sends for the rest.
        self.owns = owns
        self._reconcilers: list[Callable[[], Awaitable[object]]] = []
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                # No grace limit: a job that is late (the bot was down, the loop was busy) still runs,
                # and the job itself decides from the database whether it is still useful — a reminder
                # goes out if the talk has not started, and is recorded as missed if it has.
                "misfire_grace_time": None,
                # Several missed runs of a periodic job (planning, retries) collapse into one.
                "coalesce": True,
                "max_instances": 1,
            },
        )
        self._jobs: dict[int, set[str]] = defaultdict(set)
        self._active: set[asyncio.Task[Any]] = set()
        # (job id, run time) of jobs already run here, so the hourly planning pass does not run a
        # past-due job again; a restart forgets it on purpose, and the outbox then prevents repeats.
        self._ran: set[tuple[str, datetime]] = set()
        # Each server's join_link_before (minutes), read by every planning pass and kept current by /setup;
        # plan() runs without the database, so it reads them here.
        self._join_leads: dict[int, int] = {}
        self.join_links = JoinLinks(service)
        self.feedback = FeedbackBox(service)

    async def start(self) -> None:
        self.scheduler.start()
        planned = await self.plan_all()
        self.scheduler.add_job(
            self.plan_all, "interval", seconds=PLAN_EVERY.total_seconds(), id="plan", replace_existing=True
        )
        self.scheduler.add_job(
            self.courier.retry_due,
            "interval",
            seconds=RETRY_EVERY.total_seconds(),
            id="retry-deliveries",
            replace_existing=True,
        )
        if self.mirror is not None:
            # Events deleted by hand, "Interested" clicks discord.py did not pass on, places freed under the limit.
            self.scheduler.add_job(
                self._reconcile,
                "interval",
                seconds=MIRROR_EVERY.total_seconds(),
                id="reconcile-events",
                replace_existing=True,
            )
        # Deliveries left pending by a crash or an outage go out now, not at the first interval tick.
        self.courier.spawn(self.courier.retry_due(), "resume-deliveries")
        log.info("Scheduler started with %d talk jobs", planned)

    async def stop(self, grace: float = 10.0) -> None:
        """Start no new job or send; running jobs return once their requests on the wire are answered.

        A 1,000-member fan-out takes 20-40 s at Discord's pace, far longer than a service manager waits, so it
        is not finished: its unsent rows stay pending in the outbox and go out at the next start.
        """
        if not self.scheduler.running:
            return
        self.scheduler.pause()
        self.courier.stop()
        # Never the task stopping us: a job that stops the bot (or a caller that ran a job itself) would wait
        # for itself until the grace ran out.
        running = self._active - {asyncio.current_task()}
        if running:
            await asyncio.wait(running, timeout=grace)
        self.scheduler.shutdown(wait=False)

    async def plan_all(self) -> int:
        now = self.service.clock()
        until = now + HORIZON
        self._ran = {(job_id, run_at) for job_id, run_at in self._ran if run_at > now - HORIZON}
        async with self.service.db.reading() as conn:
            self._join_leads = await joinlink_rows.join_leads(conn)
        count = 0
        for talk in await self.service.talks_to_plan(until):
            if self.owns(talk.guild_id):
                count += self.plan(talk)
        # Talks that ended while the bot was down still owe their feedback requests (see plan_jobs).
        for talk in await self.feedback.talks_not_asked():
            if self.owns(talk.guild_id):
                count += self.plan(talk)
        return count

    def add_periodic_reconcile(self, work: Callable[[], Awaitable[object]]) -> None:
        """Run ``work`` with the events' reconciliation, every MIRROR_EVERY."""
        self._reconcilers.append(work)

    async def _reconcile(self) -> None:
        if self.mirror is not None:
            await self.mirror.reconcile_all()
        for work in list(self._reconcilers):
            await work()

    def plan(self, talk: Talk) -> int:
        """(Re)schedule the talk's jobs after it was created, edited or cancelled."""
        now = self.service.clock()
        jobs = [
            job
            for job in plan_jobs(talk, now, now + HORIZON, self._join_leads.get(talk.guild_id, JOIN_LINK_BEFORE))
            if job.run_at > now or (job.id, job.run_at) not in self._ran
        ]
        wanted = {job.id for job in jobs}
        for job_id in self._jobs.pop(talk.id, set()) - wanted:
            with contextlib.suppress(JobLookupError):  # it may have run already
                self.scheduler.remove_job(job_id)
        for job in jobs:
            self.scheduler.add_job(self.run, "date", run_date=job.run_at, args=[job], id=job.id, replace_existing=True)
        if wanted:
            self._jobs[talk.id] = wanted
        return len(jobs)

    async def set_join_lead(self, guild_id: int, minutes: int) -> None:
        """A server changed join_link_before: its talks' release jobs move."""
        if self._join_leads.get(guild_id, JOIN_LINK_BEFORE) == minutes:
            return
        self._join_leads[guild_id] = minutes
        for talk in await self.service.talks_to_plan(self.service.clock() + HORIZON):
            if talk.guild_id == guild_id:
                self.plan(talk)

    def job_ids(self, talk_id: int) -> set[str]:
        return {job.id for job in self.scheduler.get_jobs() if job.id.split(":")[1:2] == [str(talk_id)]}

    async def run(self, job: PlannedJob) -> None:
        self._jobs.get(job.talk_id, set()).discard(job.id)
        self._ran.add((job.id, job.run_at))
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
            task.add_done_callback(self._active.discard)
        try:
            talk = await self.service.talk_by_id(job.talk_id)
        except PodiumError:
            return
        if talk.cancelled:
            return
        try:
            if job.action is JobAction.ANNOUNCE:
                await self._announce(talk)
            elif job.action is JobAction.REMINDER:
                await self._remind(talk, job)
            elif job.action is JobAction.JOIN_LINK:
                await self._release_link(talk)
            elif job.action is JobAction.QUESTIONS:
                await self._send_questions(talk, job)
            elif job.action is JobAction.FEEDBACK:
                await self._ask_feedback(talk)
            else:
                await self.announcer.refresh_now(talk)
        except Exception:
            log.exception("Job %s failed", job.id)

    async def _announce(self, talk: Talk) -> None:
        if talk.announcement_message_id is not None:
            return
        try:
            if talk.series_id is not None:
                # Every date of a series is due at the same announce_at: the first posts the series' one
                # message, the others find it posted (and the nonce covers a crash between post and record).
                await self.announcer.publish_series(
                    talk.guild_id, talk.series_id, nonce=f"podium-ann-s{talk.series_id}", only_unannounced=True
                )
                return
            await self.announcer.publish(talk, nonce=f"podium-ann-{talk.id}")
        except PodiumError as error:
            log.warning("Scheduled announcement of talk %s not posted: %s", talk.id, error)

    async def _release_link(self, talk: Talk) -> None:
        rows = await self.join_links.owe_release(talk.id)
        log.info("Join link of talk %s: %d DMs to send", talk.id, len(rows))
        if rows:
            await self.courier.send(rows)

    async def _send_questions(self, talk: Talk, job: PlannedJob) -> None:
        rows = await QuestionBoard(self.service).owe_speaker_list(talk, job.key)
        if rows:
            await self.courier.send(rows)

    async def _ask_feedback(self, talk: Talk) -> None:
        rows = await self.feedback.owe_requests(talk)
        log.info("Feedback on talk %s: %d requests to send", talk.id, len(rows))
        if rows:
            await self.courier.send(rows)

    async def _remind(self, talk: Talk, job: PlannedJob) -> None:
        rows = await self.service.owe_reminder(talk, job.key, job.run_at)
        if not rows:
            log.info("Reminder %s of talk %s: nothing (left) to send", job.id, talk.id)
            return
        await self.courier.send(rows)
