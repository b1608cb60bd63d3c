"""The SQL of seminar series (bot/series.py): the series rows and the talks that are their dates.

Callers own the transaction (see Database.transaction); these functions never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from bot.models import Repeat, Series, Talk, from_unix, to_unix
from bot.sql import Connection, Row
from bot.store import talk_of

_CHUNK = 500  # ids per IN (...) list, well under SQLite's limit on bound values


def _series(row: Row) -> Series:
    return Series(
        id=row["id"],
        guild_id=row["guild_id"],
        repeat=Repeat(row["repeat"]),
        first_day=date.fromisoformat(row["first_day"]),
        timezone=row["timezone"],
        count=row["count"],
        created_by=row["created_by"],
        created_at=from_unix(row["created_at"]),
    )


async def insert_series(
    conn: Connection,
    guild_id: int,
    repeat: Repeat,
    first_day: date,
    timezone: str,
    count: int,
    created_by: int,
    now: datetime,
) -> Series:
    rows = await conn.execute_fetchall(
        """
        INSERT INTO series (guild_id, repeat, first_day, timezone, count, created_by, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *
        """,
        (guild_id, repeat.value, first_day.isoformat(), timezone, count, created_by, to_unix(now)),
    )
    [row] = list(rows)
    return _series(row)


async def get_series(conn: Connection, guild_id: int, series_id: int) -> Series | None:
    """The series, only in its own server: another server's id reads like one that does not exist."""
    rows = list(
        await conn.execute_fetchall("SELECT * FROM series WHERE id = ? AND guild_id = ?", (series_id, guild_id))
    )
    return _series(rows[0]) if rows else None


async def series_by_ids(conn: Connection, series_ids: Iterable[int]) -> dict[int, Series]:
    wanted = list(dict.fromkeys(series_ids))
    found: dict[int, Series] = {}
    for first in range(0, len(wanted), _CHUNK):
        chunk = wanted[first : first + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = await conn.execute_fetchall(f"SELECT * FROM series WHERE id IN ({marks})", chunk)  # noqa: S608
        found.update((row["id"], _series(row)) for row in rows)
    return found


async def dates_of(conn: Connection, series_ids: Iterable[int]) -> dict[int, list[Talk]]:
    """The talks of each series, in the order of its rule (series_index)."""
    wanted = list(dict.fromkeys(series_ids))
    found: dict[int, list[Talk]] = {series_id: [] for series_id in wanted}
    for first in range(0, len(wanted), _CHUNK):
        chunk = wanted[first : first + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = await conn.execute_fetchall(
            f"SELECT * FROM talks WHERE series_id IN ({marks}) ORDER BY series_id, series_index",  # noqa: S608
            chunk,
        )
        for row in rows:
            found[row["series_id"]].append(talk_of(row))
    return found


async def recent_series(conn: Connection, guild_id: int, *, ends_after: datetime, limit: int) -> list[int]:
    """The server's series, those with a date not over yet first (soonest next date first), then the others,
    newest first: what the organizers' autocomplete offers."""
    rows = await conn.execute_fetchall(
        """
        SELECT s.id,
               MIN(CASE WHEN t.status = 'scheduled' AND t.start_at + t.duration_min * 60 > ? THEN t.start_at END)
                   AS next_start
        FROM series s JOIN talks t ON t.series_id = s.id
        WHERE s.guild_id = ?
        GROUP BY s.id
        ORDER BY next_start ASC NULLS LAST, s.id DESC
        LIMIT ?
        """,
        (to_unix(ends_after), guild_id, limit),
    )
    return [int(row[0]) for row in rows]


async def open_series(
    conn: Connection, guild_id: int, *, ends_after: datetime, public_at: datetime, limit: int
) -> list[int]:
    """Series members may register for: announced (Talk.is_public), with a scheduled date not over yet; the one
    with the soonest next date first."""
    rows = await conn.execute_fetchall(
        """
        SELECT s.id, MIN(t.start_at) AS next_start
        FROM series s JOIN talks t ON t.series_id = s.id
        WHERE s.guild_id = ? AND t.status = 'scheduled' AND t.start_at + t.duration_min * 60 > ?
          AND (t.announcement_message_id IS NOT NULL OR t.announce_at IS NULL OR t.announce_at <= ?)
        GROUP BY s.id
        ORDER BY next_start, s.id
        LIMIT ?
        """,
        (guild_id, to_unix(ends_after), to_unix(public_at), limit),
    )
    return [int(row[0]) for row in rows]


async def set_announcement(conn: Connection, series_id: int, channel_id: int, message_id: int, now: datetime) -> None:
    """Every date of the series points at the series' one announcement."""
    await conn.execute(
        """
        UPDATE talks SET announcement_channel_id = ?, announcement_message_id = ?, updated_at = ?
        WHERE series_id = ?
        """,
        (channel_id, message_id, to_unix(now), series_id),
    )
