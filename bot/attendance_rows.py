"""Check-ins and the attendance they make: the rows behind check-in, feedback, /attendance and reports.

Every function runs inside the caller's connection (Database.reading or .transaction). Who attended a talk is
decided once, by the ``attendance`` view of migration 0011: the members who checked in, or every confirmed member
when nobody checked in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.models import from_unix, to_unix
from bot.sql import Connection


@dataclass(frozen=True)
class Attendee:
    talk_id: int
    user_id: int
    display_name: str
    checked_in_at: datetime | None  # None when the talk ran without check-in and the member was confirmed


async def record_checkin(
    conn: Connection,
    *,
    talk_id: int,
    guild_id: int,
    user_id: int,
    display_name: str,
    walk_in: bool,
    now: datetime,
) -> bool:
    """Record that the member is present; False when they had already checked in (nothing changes then)."""
    rows = await conn.execute_fetchall(
        """
        INSERT INTO checkins (talk_id, guild_id, user_id, display_name, walk_in, checked_in_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (talk_id, user_id) DO NOTHING
        RETURNING talk_id
        """,
        (talk_id, guild_id, user_id, display_name, int(walk_in), to_unix(now)),
    )
    return bool(list(rows))


async def checked_in_at(conn: Connection, talk_id: int, user_id: int) -> datetime | None:
    rows = list(
        await conn.execute_fetchall(
            "SELECT checked_in_at FROM checkins WHERE talk_id = ? AND user_id = ?", (talk_id, user_id)
        )
    )
    return from_unix(rows[0][0]) if rows else None


async def checkins(conn: Connection, talk_id: int) -> dict[int, datetime]:
    """When each member who checked in did so, by user id."""
    rows = await conn.execute_fetchall("SELECT user_id, checked_in_at FROM checkins WHERE talk_id = ?", (talk_id,))
    return {int(row[0]): from_unix(row[1]) for row in rows}


async def walk_ins(conn: Connection, talk_id: int) -> int:
    """Members present without a confirmed seat: they take seats too, so capacity is never exceeded."""
    rows = list(
        await conn.execute_fetchall("SELECT COUNT(*) FROM checkins WHERE talk_id = ? AND walk_in = 1", (talk_id,))
    )
    return int(rows[0][0])


async def attendees(conn: Connection, talk_id: int) -> list[Attendee]:
    """Who attended the talk (see the module's docstring), in order of check-in, then of name."""
    rows = await conn.execute_fetchall(
        """
        SELECT talk_id, user_id, display_name, checked_in_at FROM attendance WHERE talk_id = ?
        ORDER BY checked_in_at, display_name, user_id
        """,
        (talk_id,),
    )
    return [
        Attendee(int(row[0]), int(row[1]), str(row[2]), None if row[3] is None else from_unix(row[3])) for row in rows
    ]


async def attended(conn: Connection, talk_id: int, user_id: int) -> bool:
    """Whether the member attended the talk, by the same rule as attendees()."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT 1 FROM attendance WHERE talk_id = ? AND user_id = ? LIMIT 1", (talk_id, user_id)
        )
    )
    return bool(rows)


@dataclass(frozen=True)
class Checkin:
    """One member present at a talk, as /talk attendees lists them (walk-ins included)."""

    talk_id: int
    user_id: int
    display_name: str
    walk_in: bool
    checked_in_at: datetime


async def checkin_list(conn: Connection, talk_id: int) -> list[Checkin]:
    """Everyone who checked in to the talk, in order of arrival."""
    rows = await conn.execute_fetchall(
        """
        SELECT talk_id, user_id, display_name, walk_in, checked_in_at FROM checkins WHERE talk_id = ?
        ORDER BY checked_in_at, user_id
        """,
        (talk_id,),
    )
    return [Checkin(int(row[0]), int(row[1]), str(row[2]), bool(row[3]), from_unix(row[4])) for row in rows]
