"""The rows behind questions for the speaker and their upvotes (tables ``questions`` and ``question_votes``).

Every function runs inside the caller's connection (Database.reading or .transaction). Ranking is decided here
once for everyone (members' list, organizers' list, the speaker's DM): most votes first, then the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.models import from_unix, to_unix
from bot.sql import Connection, Row


@dataclass(frozen=True)
class Question:
    id: int
    talk_id: int
    guild_id: int
    user_id: int
    display_name: str
    text: str
    anonymous: bool
    hidden: bool
    asked_at: datetime
    votes: int = 0
    voted: bool = False  # whether the member the list was read for upvoted it


_SELECT = """
    SELECT q.*,
           (SELECT COUNT(*) FROM question_votes v WHERE v.question_id = q.id) AS votes,
           EXISTS (SELECT 1 FROM question_votes v WHERE v.question_id = q.id AND v.user_id = ?) AS voted
    FROM questions q
"""
_RANKED = "ORDER BY votes DESC, q.asked_at, q.id"


def _question(row: Row) -> Question:
    return Question(
        id=int(row["id"]),
        talk_id=int(row["talk_id"]),
        guild_id=int(row["guild_id"]),
        user_id=int(row["user_id"]),
        display_name=str(row["display_name"]),
        text=str(row["text"]),
        anonymous=bool(row["anonymous"]),
        hidden=bool(row["hidden"]),
        asked_at=from_unix(row["asked_at"]),
        votes=int(row["votes"]),
        voted=bool(row["voted"]),
    )


async def insert_question(
    conn: Connection,
    *,
    talk_id: int,
    guild_id: int,
    user_id: int,
    display_name: str,
    text: str,
    anonymous: bool,
    now: datetime,
) -> Question:
    rows = list(
        await conn.execute_fetchall(
            """
            INSERT INTO questions (talk_id, guild_id, user_id, display_name, text, anonymous, asked_at)
            VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id
            """,
            (talk_id, guild_id, user_id, display_name, text, int(anonymous), to_unix(now)),
        )
    )
    question = await get_question(conn, int(rows[0][0]))
    assert question is not None
    return question


async def get_question(conn: Connection, question_id: int, reader_id: int = 0) -> Question | None:
    rows = list(await conn.execute_fetchall(_SELECT + " WHERE q.id = ?", (reader_id, question_id)))
    return _question(rows[0]) if rows else None


async def asked_by(conn: Connection, talk_id: int, user_id: int) -> int:
    """How many questions the member asked for the talk (hidden ones count too)."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT COUNT(*) FROM questions WHERE talk_id = ? AND user_id = ?", (talk_id, user_id)
        )
    )
    return int(rows[0][0])


async def ranked(conn: Connection, talk_id: int, *, reader_id: int = 0, include_hidden: bool = False) -> list[Question]:
    """The talk's questions, best first; hidden ones only when asked for (organizers)."""
    where = "WHERE q.talk_id = ?" + ("" if include_hidden else " AND q.hidden = 0")
    rows = await conn.execute_fetchall(f"{_SELECT} {where} {_RANKED}", (reader_id, talk_id))
    return [_question(row) for row in rows]


async def toggle_vote(conn: Connection, question_id: int, user_id: int, now: datetime) -> bool:
    """Add the member's vote, or take it back when they had voted; True when the vote now stands."""
    cursor = await conn.execute(
        "DELETE FROM question_votes WHERE question_id = ? AND user_id = ?", (question_id, user_id)
    )
    if cursor.rowcount:
        return False
    await conn.execute(
        "INSERT INTO question_votes (question_id, user_id, voted_at) VALUES (?, ?, ?)",
        (question_id, user_id, to_unix(now)),
    )
    return True


async def set_hidden(conn: Connection, question_id: int, hidden: bool) -> None:
    await conn.execute("UPDATE questions SET hidden = ? WHERE id = ?", (int(hidden), question_id))
