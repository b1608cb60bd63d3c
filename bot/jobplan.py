"""Which timed jobs a talk needs, derived from its row alone (the database is the truth)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.models import JOIN_LINK_BEFORE, Talk

# Jobs are kept in memory only for this far ahead; an hourly pass adds the next ones. Start-up then
# costs the same whether a server has ten talks or ten thousand.
HORIZON = timedelta(days=2)
# When a talk's speaker account gets the ranked questions by DM: minutes before the start (bot/questions.py).
QUESTION_OFFSETS = (24 * 60, 60)
# How long after its end a talk still takes feedback (bot/feedback.py): a job that runs late asks until then.
FEEDBACK_WINDOW = timedelta(days=7)


class JobAction(StrEnum):
    ANNOUNCE = "announce"
    REMINDER = "reminder"
    START = "start"
    END = "end"
    JOIN_LINK = "join_link"  # the private join link goes to confirmed members (bot/joinlink.py)
    QUESTIONS = "questions"  # the ranked questions to the speaker's account
    FEEDBACK = "feedback"  # attendees are asked for feedback at the end (bot/feedback.py)


@dataclass(frozen=True)
class PlannedJob:
    action: JobAction
    talk_id: int
    run_at: datetime
    key: int = 0  # the reminder (or questions) offset in minutes

    @property
    def id(self) -> str:
        suffix = f":{self.key}" if self.action in (JobAction.REMINDER, JobAction.QUESTIONS) else ""
        return f"{self.action.value}:{self.talk_id}{suffix}"


def plan_jobs(talk: Talk, now: datetime, until: datetime, join_link_before: int = JOIN_LINK_BEFORE) -> list[PlannedJob]:
    """The jobs due before ``until`` for ``talk``; past-due ones are kept so they run at once.

    A reminder whose time had already passed when the talk was created is left out: it was never
    owed. One that fell due later (while the bot was down, or because the talk moved earlier) runs
    at once, and the job itself skips it if the talk has started by then.

    A talk with a join link gets a job at its release, ``join_link_before`` minutes (the server's setting)
    before the start; it is kept until the talk ends, since the link is still useful once the talk started.
    A release that had passed when the talk was created needs none: members confirmed after it get the link
    with their confirmation.

    At its end a talk's attendees are asked for feedback; that job outlives the talk, up to FEEDBACK_WINDOW
    after the end, so a bot that was down at the end still asks when it comes back.
    """
    if talk.cancelled:
        return []
    feedback = PlannedJob(JobAction.FEEDBACK, talk.id, talk.end_at)
    if talk.is_over(now):
        return [feedback] if now < talk.end_at + FEEDBACK_WINDOW else []
    jobs: list[PlannedJob] = []
    if talk.announcement_message_id is None and talk.announce_at is not None and talk.announce_at <= until:
        jobs.append(PlannedJob(JobAction.ANNOUNCE, talk.id, talk.announce_at))
    for offset in talk.reminders:
        due = talk.start_at - timedelta(minutes=offset)
        if due <= talk.created_at or due > until:
            continue
        jobs.append(PlannedJob(JobAction.REMINDER, talk.id, due, offset))
    release = talk.start_at - timedelta(minutes=join_link_before)
    if talk.join_url and talk.created_at < release <= until:
        jobs.append(PlannedJob(JobAction.JOIN_LINK, talk.id, release))
    if talk.speaker_user_id is not None:
        # Like reminders: a time passed before the talk existed was never owed; one that passed since (the
        # speaker account was set late, the bot was down) runs at once, and is missed once the talk started.
        for offset in QUESTION_OFFSETS:
            due = talk.start_at - timedelta(minutes=offset)
            if due <= talk.created_at or due > until:
                continue
            jobs.append(PlannedJob(JobAction.QUESTIONS, talk.id, due, offset))
    if talk.start_at <= until:
        jobs.append(PlannedJob(JobAction.START, talk.id, talk.start_at))
    if talk.end_at <= until:
        jobs.append(PlannedJob(JobAction.END, talk.id, talk.end_at))
        jobs.append(feedback)
    return sorted(jobs, key=lambda job: (job.run_at, job.id))
