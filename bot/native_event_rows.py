"""The SQL behind the native-event mirror: each talk's event as recorded, and members registered by "Interested".

Every function runs inside the caller's connection (Database.reading or .transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.models import to_unix
from bot.native_events import EventState
from bot.sql import Connection, Row


@dataclass(frozen=True)
class EventRow:
    talk_id: int
    guild_id: int
    event_id: int | None
    state: EventState
    fingerprint: str | None
    recreated: int


def _row(row: Row) -> EventRow:
    return EventRow(
        talk_id=int(row[0]),
        guild_id=int(row[1]),
        event_id=None if row[2] is None else int(row[2]),
        state=EventState(row[3]),
        fingerprint=row[4],
        recreated=int(row[5]),
    )


async def get(conn: Connection, talk_id: int) -> EventRow | None:
    rows = list(
        await conn.execute_fetchall(
            "SELECT talk_id, guild_id, event_id, state, fingerprint, recreated FROM native_events WHERE talk_id = ?",
            (talk_id,),
        )
    )
    return _row(rows[0]) if rows else None


async def by_event(conn: Connection, event_id: int) -> EventRow | None:
    rows = list(
        await conn.execute_fetchall(
            "SELECT talk_id, guild_id, event_id, state, fingerprint, recreated FROM native_events WHERE event_id = ?",
            (event_id,),
        )
    )
    return _row(rows[0]) if rows else None


async def of_guild(conn: Connection, guild_id: int) -> list[EventRow]:
    rows = await conn.execute_fetchall(
        """
        SELECT talk_id, guild_id, event_id, state, fingerprint, recreated FROM native_events
        WHERE guild_id = ? ORDER BY talk_id
        """,
        (guild_id,),
    )
    return [_row(row) for row in rows]


async def live_count(conn: Connection, guild_id: int) -> int:
    rows = list(
        await conn.execute_fetchall(
            "SELECT COUNT(*) FROM native_events WHERE guild_id = ? AND state IN ('creating', 'scheduled', 'active')",
            (guild_id,),
        )
    )
    return int(rows[0][0])


async def begin(conn: Connection, talk_id: int, guild_id: int, now: datetime) -> EventRow:
    """Record that the talk's event is about to be created (kept as is when a row exists)."""
    await conn.execute(
        """
        INSERT INTO native_events (talk_id, guild_id, event_id, state, updated_at) VALUES (?, ?, NULL, 'creating', ?)
        ON CONFLICT (talk_id) DO NOTHING
        """,
        (talk_id, guild_id, to_unix(now)),
    )
    row = await get(conn, talk_id)
    assert row is not None
    return row


async def record(
    conn: Connection,
    talk_id: int,
    *,
    event_id: int | None,
    state: EventState,
    fingerprint: str | None,
    now: datetime,
    recreated: int | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE native_events SET event_id = ?, state = ?, fingerprint = ?, updated_at = ?,
                                 recreated = COALESCE(?, recreated)
        WHERE talk_id = ?
        """,
        (event_id, state.value, fingerprint, to_unix(now), recreated, talk_id),
    )


async def forget(conn: Connection, talk_id: int) -> None:
    """The event was removed to make room for a sooner talk: the talk may get one again later."""
    await conn.execute("DELETE FROM native_events WHERE talk_id = ?", (talk_id,))


# --- "Interested" ------------------------------------------------------------------------------------------


async def interested(conn: Connection, talk_id: int) -> dict[int, bool]:
    """Members registered through "Interested", by user id, with whether they left since (see migration)."""
    rows = await conn.execute_fetchall('SELECT user_id, "left" FROM event_interest WHERE talk_id = ?', (talk_id,))
    return {int(row[0]): bool(row[1]) for row in rows}


async def add_interest(conn: Connection, talk_id: int, user_id: int, now: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO event_interest (talk_id, user_id, "left", since) VALUES (?, ?, 0, ?)
        ON CONFLICT (talk_id, user_id) DO UPDATE SET "left" = 0, since = excluded.since
        """,
        (talk_id, user_id, to_unix(now)),
    )


async def remove_interest(conn: Connection, talk_id: int, user_id: int) -> None:
    await conn.execute("DELETE FROM event_interest WHERE talk_id = ? AND user_id = ?", (talk_id, user_id))


async def mark_left(conn: Connection, talk_id: int, user_id: int) -> None:
    await conn.execute('UPDATE event_interest SET "left" = 1 WHERE talk_id = ? AND user_id = ?', (talk_id, user_id))
