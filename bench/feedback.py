"""Feedback: asking a full amphitheatre at the end of a talk, their answers, and the organizers' summary.

A real SQLite file with one talk that is over and ``--attendees`` confirmed members (no check-in, so all of
them attended). Per repeat: record every request in the outbox (the one transaction the end-of-talk job runs),
then every member answers (a rating, a third of them with a 600-character comment), then the summary is read
and the comments' CSV built. No network: these are the database costs behind the job, the buttons and
/talk feedback; sending the DMs is the courier's fan-out (bench/fanout.py).

    python -m bench.feedback [--attendees 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import machine, medians, publish, setup_logging, table
from bot import store
from bot.database import Database
from bot.feedback import FeedbackBox
from bot.feedback_messages import comments_csv, summary_text
from bot.models import RegistrationStatus
from bot.talks import TalkService

GUILD = 1
PARIS = ZoneInfo("Europe/Paris")
START = datetime(2027, 3, 4, 17, 0, tzinfo=UTC)
TARGET_OWE_MS = 250.0  # the whole amphitheatre in one transaction
TARGET_ANSWER_MS = 10.0  # one press, median
TARGET_SUMMARY_MS = 50.0


async def one_run(attendees: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.sqlite3")
        try:
            async with db.transaction() as conn:
                talk = await store.insert_talk(
                    conn,
                    GUILD,
                    99,
                    START - timedelta(days=30),
                    {
                        "title": "Thérapie génique",
                        "speaker": "Pr Ångström",
                        "start_at": START,
                        "duration_min": 90,
                        "capacity": None,
                        "reminders": (),
                    },
                )
                await conn.executemany(
                    "INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at) "
                    "VALUES (?, ?, ?, ?, ?, 0)",
                    [
                        (talk.id, GUILD, 1000 + user, f"Étudiant·e {user}", RegistrationStatus.CONFIRMED.value)
                        for user in range(attendees)
                    ],
                )
            now = talk.end_at + timedelta(minutes=1)
            box = FeedbackBox(TalkService(db, PARIS, lambda: now))
            started = time.perf_counter()
            rows = await box.owe_requests(talk)
            owe_ms = (time.perf_counter() - started) * 1000
            assert len(rows) == attendees
            answer_times = []
            for user in range(attendees):
                started = time.perf_counter()
                if user % 3:
                    await box.rate(talk.id, 1000 + user, 1 + user % 5)
                else:
                    await box.answer(talk.id, 1000 + user, str(1 + user % 5), "Très clair, merci. " * 30)
                answer_times.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            summary = await box.summary(GUILD, talk.id)
            summary_text(summary, True, "fr")
            comments_csv(summary, "fr")
            summary_ms = (time.perf_counter() - started) * 1000
            assert summary.count == attendees
        finally:
            await db.close()
    return {
        "owe_ms": round(owe_ms, 2),
        "answer_ms": round(statistics.median(answer_times), 3),
        "answer_p95_ms": round(statistics.quantiles(answer_times, n=20)[-1], 3),
        "summary_ms": round(summary_ms, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attendees", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    setup_logging(args.verbose)
    runs = [asyncio.run(one_run(args.attendees)) for _ in range(args.repeat)]
    figures = medians(runs)
    met = (
        figures["owe_ms"] <= TARGET_OWE_MS
        and figures["answer_ms"] <= TARGET_ANSWER_MS
        and figures["summary_ms"] <= TARGET_SUMMARY_MS
    )
    report = table(
        ["attendees", "owe all ms", "answer ms (median)", "answer ms (p95)", "summary + CSV ms"],
        [
            [
                args.attendees,
                figures["owe_ms"],
                figures["answer_ms"],
                figures["answer_p95_ms"],
                figures["summary_ms"],
            ]
        ],
    )
    data = {"machine": machine(), "args": vars(args) | {"output": None}, "medians": figures, "runs": runs}
    return publish("feedback.json", data, args.output, report, met)


if __name__ == "__main__":
    sys.exit(main())
