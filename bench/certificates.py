"""Attendance certificates: issuing one (record, freeze, owe the DM), its PDF, /verify look-ups, the report.

A season's worth of data in a real SQLite file: one server, ``--talks`` talks that are over and ``--members``
members registered for each (no check-in, so every confirmed member attended). Then, per repeat: issue one
certificate (one transaction reading the member's year), render its PDF (a year of talks, accents and Cyrillic
in the name), verify codes (genuine and forged, the web side's look-up), and build the report over the year.
No network at all: these are the database and layout costs behind the commands.

    python -m bench.certificates [--talks 40] [--members 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import machine, medians, publish, setup_logging, table
from bot import store
from bot.certificate_pdf import certificate_pdf
from bot.certificates import Certificates
from bot.database import Database
from bot.models import RegistrationStatus

GUILD = 1
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2027, 6, 30, 12, 0, tzinfo=UTC)
TARGET_ISSUE_MS = 50.0
TARGET_PDF_MS = 250.0
TARGET_VERIFY_MS = 5.0


async def fill(db: Database, talks: int, members: int) -> None:
    first = datetime(2026, 9, 7, 16, 0, tzinfo=UTC)
    async with db.transaction() as conn:
        for index in range(talks):
            start = first + timedelta(days=7 * index)
            talk = await store.insert_talk(
                conn,
                GUILD,
                99,
                start - timedelta(days=30),
                {
                    "title": f"Séminaire n° {index + 1} : immunologie et génomique",
                    "speaker": "Pr Ζωή Ångström",
                    "start_at": start,
                    "duration_min": 90,
                    "capacity": None,
                    "reminders": (),
                },
            )
            await conn.executemany(
                "INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                [
                    (talk.id, GUILD, 1000 + user, f"Étudiant·e Жанна {user}", RegistrationStatus.CONFIRMED.value)
                    for user in range(members)
                ],
            )


async def one_run(talks: int, members: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.sqlite3")
        try:
            await fill(db, talks, members)
            certificates = Certificates(db, lambda: NOW, PARIS)
            started = time.perf_counter()
            issued = await certificates.issue(GUILD, 1000, "Zoë Ångström Жанна", "Faculté de Médecine")
            issue_ms = (time.perf_counter() - started) * 1000
            pdf_times = []
            for _ in range(5):
                started = time.perf_counter()
                pdf = certificate_pdf(issued.certificate, zone=PARIS, language="fr", verify_url="https://x/verify/y")
                pdf_times.append((time.perf_counter() - started) * 1000)
            verify_times = []
            for typed in [issued.certificate.shown_code, "AAAA-BBBB-CCCC-DDDD"] * 100:
                started = time.perf_counter()
                await certificates.verify(typed)
                verify_times.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            rows = await certificates.report(GUILD, date(2026, 9, 1), date(2027, 8, 31))
            report_ms = (time.perf_counter() - started) * 1000
            assert len(rows) == members and all(row.talks == talks for row in rows)
        finally:
            await db.close()
    return {
        "issue_ms": round(issue_ms, 2),
        "pdf_ms": round(statistics.median(pdf_times), 2),
        "pdf_kb": round(len(pdf) / 1024, 1),
        "verify_ms": round(statistics.median(verify_times), 3),
        "report_ms": round(report_ms, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--talks", type=int, default=40)
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    setup_logging(args.verbose)
    runs = [asyncio.run(one_run(args.talks, args.members)) for _ in range(args.repeat)]
    figures = medians(runs)
    met = (
        figures["issue_ms"] <= TARGET_ISSUE_MS
        and figures["pdf_ms"] <= TARGET_PDF_MS
        and figures["verify_ms"] <= TARGET_VERIFY_MS
    )
    report = table(
        ["talks", "members", "issue ms", "PDF ms", "PDF KB", "verify ms", "report ms"],
        [
            [
                args.talks,
                args.members,
                figures["issue_ms"],
                figures["pdf_ms"],
                figures["pdf_kb"],
                figures["verify_ms"],
                figures["report_ms"],
            ]
        ],
    )
    data = {"machine": machine(), "args": vars(args) | {"output": None}, "medians": figures, "runs": runs}
    return publish("certificates.json", data, args.output, report, met)


if __name__ == "__main__":
    sys.exit(main())
