"""The feedback table: one answer per attendee and talk (a rating, an optional comment), and what it adds up to.

Every function runs inside the caller's connection (Database.reading or .transaction). Who may answer is decided
by bot/feedback.py, from the ``attendance`` view; these rows hold only what members answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.models import DeliveryKind, from_unix, to_unix
from bot.sql import Connection


@dataclass(frozen=True)
class Answer:
    talk_id: int
    user_id: int
    rating: int
    comment: str | None
    answered_at: datetime
    updated_at: datetime


async def get_answer(conn: Connection, talk_id: int, user_id: int) -> Answer | None:
    rows = list(
        await conn.execute_fetchall(
            """
            SELECT talk_id, user_id, rating, comment, answered_at, updated_at FROM feedback
            WHERE talk_id = ? AND user_id = ? AND rating IS NOT NULL
            """,
            (talk_id, user_id),
        )
    )
    if not rows:
        return None
    row = rows[0]
    return Answer(int(row[0]), int(row[1]), int(row[2]), row[3], from_unix(row[4]), from_unix(row[5]))


async def save_answer(
    conn: Connection,
    *,
    talk_id: int,
    guild_id: int,
    user_id: int,
    rating: int,
    comment: str | None,
    keep_comment: bool,
    now: datetime,
) -> None:
    """The member's answer, replacing their earlier one; ``keep_comment`` (a rating button) leaves the comment
    they wrote as it is."""
    stamp = to_unix(now)
    await conn.execute(
        """
        INSERT INTO feedback (talk_id, guild_id, user_id, rating, comment, answered_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (talk_id, user_id) DO UPDATE SET
            rating = excluded.rating,
            comment = CASE WHEN ? = 1 THEN feedback.comment ELSE excluded.comment END,
            updated_at = excluded.updated_at
        """,
        (talk_id, guild_id, user_id, rating, comment, stamp, stamp, int(keep_comment)),
    )


async def distribution(conn: Connection, talk_id: int) -> dict[int, int]:
    """How many members gave each rating, 1 to 5 (zero included)."""
    rows = await conn.execute_fetchall(
        "SELECT rating, COUNT(*) FROM feedback WHERE talk_id = ? AND rating IS NOT NULL GROUP BY rating",
        (talk_id,),
    )
    counts = dict.fromkeys(range(1, 6), 0)
    for rating, count in rows:
        counts[int(rating)] = int(count)
    return counts


async def comments(conn: Connection, talk_id: int) -> list[tuple[int, str]]:
    """(rating, comment) of every answer with a comment, best rating first, then by text: no order that would
    tell who wrote which (such as the time of answering)."""
    rows = await conn.execute_fetchall(
        """
        SELECT rating, comment FROM feedback
        WHERE talk_id = ? AND rating IS NOT NULL AND comment IS NOT NULL AND comment <> ''
        ORDER BY rating DESC, comment
        """,
        (talk_id,),
    )
    return [(int(row[0]), str(row[1])) for row in rows]


async def talks_not_asked(conn: Connection, ended_after: datetime, now: datetime) -> list[int]:
    """Scheduled talks that ended in (ended_after, now] and have no feedback request recorded yet: the bot was
    down when they ended, so their timed job never ran."""
    rows = await conn.execute_fetchall(
        """
        SELECT t.id FROM talks t
        WHERE t.status = 'scheduled'
          AND t.start_at + t.duration_min * 60 > ? AND t.start_at + t.duration_min * 60 <= ?
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.talk_id = t.id AND d.kind = ?)
        ORDER BY t.start_at
        """,
        (to_unix(ended_after), to_unix(now), DeliveryKind.FEEDBACK_REQUEST.value),
    )
    return [int(row[0]) for row in rows]
