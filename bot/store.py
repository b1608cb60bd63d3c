"""Every SQL statement of the bot, parameterised, as small functions over a connection.

Callers own the transaction (see Database.transaction); these functions never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import aiosqlite

from bot.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    GuildSettings,
    Registration,
    RegistrationStatus,
    Seats,
    Talk,
    TalkStatus,
    from_unix,
    to_unix,
)
from bot.timeparse import format_offsets, parse_offsets

TALK_COLUMNS = (
    "title",
    "speaker",
    "speaker_bio",
    "description",
    "location",
    "start_at",
    "duration_min",
    "capacity",
    "reminders",
    "announce_at",
    "status",
    "cancel_reason",
    "sequence",
    "announcement_channel_id",
    "announcement_message_id",
)


def _talk(row: aiosqlite.Row) -> Talk:
    return Talk(
        id=row["id"],
        guild_id=row["guild_id"],
        title=row["title"],
        speaker=row["speaker"],
        speaker_bio=row["speaker_bio"],
        description=row["description"],
        location=row["location"],
        start_at=from_unix(row["start_at"]),
        duration_min=row["duration_min"],
        capacity=row["capacity"],
        reminders=parse_offsets(row["reminders"]),
        announce_at=None if row["announce_at"] is None else from_unix(row["announce_at"]),
        status=TalkStatus(row["status"]),
        cancel_reason=row["cancel_reason"],
        sequence=row["sequence"],
        announcement_channel_id=row["announcement_channel_id"],
        announcement_message_id=row["announcement_message_id"],
        created_by=row["created_by"],
        created_at=from_unix(row["created_at"]),
        updated_at=from_unix(row["updated_at"]),
    )


def _registration(row: aiosqlite.Row, position: int | None = None) -> Registration:
    return Registration(
        id=row["id"],
        talk_id=row["talk_id"],
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        display_name=row["display_name"],
        status=RegistrationStatus(row["status"]),
        registered_at=from_unix(row["registered_at"]),
        dm_failed=bool(row["dm_failed"]),
        position=position,
    )


def _db_value(column: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return to_unix(value)
    if column == "reminders" and isinstance(value, tuple):
        return format_offsets(value)
    if isinstance(value, TalkStatus | RegistrationStatus):
        return value.value
    return value


# --- server settings -------------------------------------------------------------------------------


async def get_settings(conn: aiosqlite.Connection, guild_id: int) -> GuildSettings:
    async with conn.execute("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return GuildSettings(guild_id=guild_id)
    return GuildSettings(
        guild_id=guild_id,
        channel_id=row["channel_id"],
        organizer_role_id=row["organizer_role_id"],
        timezone=row["timezone"],
        reminders=None if row["reminders"] is None else parse_offsets(row["reminders"]),
        ping_role_id=row["ping_role_id"],
    )


async def save_settings(conn: aiosqlite.Connection, settings: GuildSettings, now: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO guild_settings (guild_id, channel_id, organizer_role_id, timezone, reminders,
                                    ping_role_id, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (guild_id) DO UPDATE SET
            channel_id = excluded.channel_id, organizer_role_id = excluded.organizer_role_id,
            timezone = excluded.timezone, reminders = excluded.reminders,
            ping_role_id = excluded.ping_role_id, updated_at = excluded.updated_at
        """,
        (
            settings.guild_id,
            settings.channel_id,
            settings.organizer_role_id,
            settings.timezone,
            None if settings.reminders is None else format_offsets(settings.reminders),
            settings.ping_role_id,
            to_unix(now),
        ),
    )


# --- talks -------------------------------------------------------------------------------------------


async def insert_talk(
    conn: aiosqlite.Connection, guild_id: int, created_by: int, now: datetime, fields: Mapping[str, Any]
) -> Talk:
    columns = [column for column in TALK_COLUMNS if column in fields]
    values = [_db_value(column, fields[column]) for column in columns]
    placeholders = ", ".join("?" for _ in range(len(columns) + 4))
    # Column names come from TALK_COLUMNS, never from user input; values are parameters.
    sql = (
        f"INSERT INTO talks (guild_id, created_by, created_at, updated_at, {', '.join(columns)}) "  # noqa: S608
        f"VALUES ({placeholders}) RETURNING *"
    )
    async with conn.execute(sql, (guild_id, created_by, to_unix(now), to_unix(now), *values)) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return _talk(row)


async def update_talk(conn: aiosqlite.Connection, talk_id: int, now: datetime, changes: Mapping[str, Any]) -> Talk:
    unknown = set(changes) - set(TALK_COLUMNS)
    if unknown:
        raise ValueError(f"not talk columns: {sorted(unknown)}")
    # Column names come from TALK_COLUMNS above, never from user input; values are parameters.
    assignments = ", ".join(f"{column} = ?" for column in changes)
    values = [_db_value(column, value) for column, value in changes.items()]
    sql = f"UPDATE talks SET {assignments}, updated_at = ? WHERE id = ? RETURNING *"  # noqa: S608
    async with conn.execute(sql, (*values, to_unix(now), talk_id)) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return _talk(row)


async def get_talk(conn: aiosqlite.Connection, guild_id: int, talk_id: int) -> Talk | None:
    async with conn.execute("SELECT * FROM talks WHERE id = ? AND guild_id = ?", (talk_id, guild_id)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _talk(row)


async def list_talks(
    conn: aiosqlite.Connection, guild_id: int, *, ends_after: datetime, include_cancelled: bool = False, limit: int = 25
) -> list[Talk]:
    """Talks not yet over, soonest first (end = start + duration)."""
    async with conn.execute(
        """
        SELECT * FROM talks
        WHERE guild_id = ? AND start_at + duration_min * 60 > ? AND (? OR status = 'scheduled')
        ORDER BY start_at, id LIMIT ?
        """,
        (guild_id, to_unix(ends_after), include_cancelled, limit),
    ) as cursor:
        return [_talk(row) for row in await cursor.fetchall()]


async def recent_talks(conn: aiosqlite.Connection, guild_id: int, *, limit: int = 25) -> list[Talk]:
    """All talks, newest start first: for organizer commands that also look back."""
    async with conn.execute(
        "SELECT * FROM talks WHERE guild_id = ? ORDER BY start_at DESC, id DESC LIMIT ?",
        (guild_id, limit),
    ) as cursor:
        return [_talk(row) for row in await cursor.fetchall()]


# --- registrations -------------------------------------------------------------------------------------


async def seats(conn: aiosqlite.Connection, talk: Talk) -> Seats:
    async with conn.execute(
        """
        SELECT COALESCE(SUM(status = 'confirmed'), 0), COALESCE(SUM(status = 'waitlisted'), 0)
        FROM registrations WHERE talk_id = ?
        """,
        (talk.id,),
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return Seats(confirmed=int(row[0]), waitlisted=int(row[1]), capacity=talk.capacity)


async def get_registration(conn: aiosqlite.Connection, talk_id: int, user_id: int) -> Registration | None:
    async with conn.execute(
        """
        SELECT r.*, CASE WHEN r.status = 'waitlisted' THEN (
            SELECT COUNT(*) FROM registrations w
            WHERE w.talk_id = r.talk_id AND w.status = 'waitlisted' AND w.id <= r.id) END AS position
        FROM registrations r WHERE r.talk_id = ? AND r.user_id = ?
        """,
        (talk_id, user_id),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _registration(row, row["position"])


async def insert_registration(
    conn: aiosqlite.Connection, talk: Talk, user_id: int, display_name: str, status: RegistrationStatus, now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at,
                                   confirmed_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        (
            talk.id,
            talk.guild_id,
            user_id,
            display_name,
            status.value,
            to_unix(now),
            now.timestamp() if status is RegistrationStatus.CONFIRMED else None,
        ),
    )


async def delete_registration(conn: aiosqlite.Connection, talk_id: int, user_id: int) -> None:
    await conn.execute("DELETE FROM registrations WHERE talk_id = ? AND user_id = ?", (talk_id, user_id))


async def promote_waitlisted(conn: aiosqlite.Connection, talk_id: int, count: int, now: datetime) -> list[Registration]:
    """Confirm the first ``count`` members of the waitlist, in the order they registered."""
    if count <= 0:
        return []
    async with conn.execute(
        """
        UPDATE registrations SET status = 'confirmed', confirmed_at = ?
        WHERE id IN (SELECT id FROM registrations WHERE talk_id = ? AND status = 'waitlisted'
                     ORDER BY id LIMIT ?)
        RETURNING *
        """,
        (now.timestamp(), talk_id, count),
    ) as cursor:
        rows = await cursor.fetchall()
    return sorted((_registration(row) for row in rows), key=lambda registration: registration.id)


async def registrations(
    conn: aiosqlite.Connection, talk_id: int, status: RegistrationStatus | None = None
) -> list[Registration]:
    """Registrations of a talk: confirmed first, then the waitlist in order, with positions."""
    async with conn.execute(
        """
        SELECT * FROM registrations WHERE talk_id = ? AND (? IS NULL OR status = ?)
        ORDER BY status = 'waitlisted', id
        """,
        (talk_id, None if status is None else status.value, None if status is None else status.value),
    ) as cursor:
        rows = await cursor.fetchall()
    result: list[Registration] = []
    position = 0
    for row in rows:
        if row["status"] == RegistrationStatus.WAITLISTED.value:
            position += 1
            result.append(_registration(row, position))
        else:
            result.append(_registration(row))
    return result


async def member_registrations(
    conn: aiosqlite.Connection, guild_id: int, user_id: int, ends_after: datetime
) -> list[tuple[Talk, Registration]]:
    async with conn.execute(
        """
        SELECT t.*, r.id AS r_id, r.user_id, r.display_name, r.status AS r_status, r.registered_at,
               r.dm_failed,
               CASE WHEN r.status = 'waitlisted' THEN (
                   SELECT COUNT(*) FROM registrations w
                   WHERE w.talk_id = r.talk_id AND w.status = 'waitlisted' AND w.id <= r.id) END AS position
        FROM registrations r JOIN talks t ON t.id = r.talk_id
        WHERE r.guild_id = ? AND r.user_id = ? AND t.start_at + t.duration_min * 60 > ?
        ORDER BY t.start_at, t.id
        """,
        (guild_id, user_id, to_unix(ends_after)),
    ) as cursor:
        rows = await cursor.fetchall()
    pairs = []
    for row in rows:
        talk = _talk(row)
        registration = Registration(
            id=row["r_id"],
            talk_id=talk.id,
            guild_id=guild_id,
            user_id=row["user_id"],
            display_name=row["display_name"],
            status=RegistrationStatus(row["r_status"]),
            registered_at=from_unix(row["registered_at"]),
            dm_failed=bool(row["dm_failed"]),
            position=row["position"],
        )
        pairs.append((talk, registration))
    return pairs


async def set_dm_failed(conn: aiosqlite.Connection, talk_id: int, user_ids: Iterable[int], failed: bool) -> None:
    await conn.executemany(
        "UPDATE registrations SET dm_failed = ? WHERE talk_id = ? AND user_id = ?",
        [(int(failed), talk_id, user_id) for user_id in user_ids],
    )


# --- members -------------------------------------------------------------------------------------------


async def set_notifications(conn: aiosqlite.Connection, guild_id: int, user_id: int, enabled: bool) -> None:
    await conn.execute(
        """
        INSERT INTO member_preferences (guild_id, user_id, notifications) VALUES (?, ?, ?)
        ON CONFLICT (guild_id, user_id) DO UPDATE SET notifications = excluded.notifications
        """,
        (guild_id, user_id, int(enabled)),
    )


async def notifications_enabled(conn: aiosqlite.Connection, guild_id: int, user_id: int) -> bool:
    async with conn.execute(
        "SELECT notifications FROM member_preferences WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    ) as cursor:
        row = await cursor.fetchone()
    return True if row is None else bool(row[0])


async def get_dm_channel(conn: aiosqlite.Connection, user_id: int) -> int | None:
    async with conn.execute("SELECT channel_id FROM dm_channels WHERE user_id = ?", (user_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def save_dm_channel(conn: aiosqlite.Connection, user_id: int, channel_id: int) -> None:
    await conn.execute(
        "INSERT INTO dm_channels (user_id, channel_id) VALUES (?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET channel_id = excluded.channel_id",
        (user_id, channel_id),
    )


async def get_state(conn: aiosqlite.Connection, key: str) -> str | None:
    async with conn.execute("SELECT value FROM bot_state WHERE key = ?", (key,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def set_state(conn: aiosqlite.Connection, key: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO bot_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


# --- deliveries (the outbox) ---------------------------------------------------------------------------


def _delivery(row: aiosqlite.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        guild_id=row["guild_id"],
        talk_id=row["talk_id"],
        recipient_type=row["recipient_type"],
        recipient_id=row["recipient_id"],
        kind=DeliveryKind(row["kind"]),
        key=row["key"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        message_id=row["message_id"],
    )


async def ensure_deliveries(
    conn: aiosqlite.Connection,
    talk: Talk,
    recipient_type: str,
    kind: DeliveryKind,
    targets: Iterable[tuple[int, int]],
    now: datetime,
) -> list[Delivery]:
    """Record one delivery per (recipient id, key) unless it exists; return those of them still pending."""
    wanted = dict.fromkeys(targets)  # ordered and without repeats: rows are sent in this order
    if not wanted:
        return []
    stamp = to_unix(now)
    await conn.executemany(
        """
        INSERT INTO deliveries (guild_id, talk_id, recipient_type, recipient_id, kind, key, next_attempt_at,
                                created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (talk_id, recipient_type, recipient_id, kind, key) DO NOTHING
        """,
        [(talk.guild_id, talk.id, recipient_type, rid, kind.value, key, stamp, stamp, stamp) for rid, key in wanted],
    )
    async with conn.execute(
        """
        SELECT * FROM deliveries
        WHERE talk_id = ? AND recipient_type = ? AND kind = ? AND status = 'pending' ORDER BY id
        """,
        (talk.id, recipient_type, kind.value),
    ) as cursor:
        rows = await cursor.fetchall()
    return [d for d in map(_delivery, rows) if (d.recipient_id, d.key) in wanted]


async def finish_delivery(
    conn: aiosqlite.Connection,
    delivery_id: int,
    status: DeliveryStatus,
    now: datetime,
    *,
    message_id: int | None = None,
    error: str | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE deliveries SET status = ?, message_id = COALESCE(?, message_id), last_error = COALESCE(?, last_error),
               attempts = attempts + (? = 'sent' OR ? = 'failed'), updated_at = ?
        WHERE id = ?
        """,
        (status.value, message_id, error, status.value, status.value, to_unix(now), delivery_id),
    )


async def postpone_delivery(
    conn: aiosqlite.Connection, delivery_id: int, next_attempt: datetime, error: str, now: datetime
) -> int:
    """Count a transient failure and set when to try again; returns the attempts made so far."""
    async with conn.execute(
        """
        UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, updated_at = ?
        WHERE id = ? RETURNING attempts
        """,
        (to_unix(next_attempt), error, to_unix(now), delivery_id),
    ) as cursor:
        row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


async def due_deliveries(conn: aiosqlite.Connection, now: datetime, limit: int = 1000) -> list[Delivery]:
    async with conn.execute(
        "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (to_unix(now), limit),
    ) as cursor:
        return [_delivery(row) for row in await cursor.fetchall()]


async def deliveries_for(conn: aiosqlite.Connection, talk_id: int, kind: DeliveryKind | None = None) -> list[Delivery]:
    async with conn.execute(
        "SELECT * FROM deliveries WHERE talk_id = ? AND (? IS NULL OR kind = ?) ORDER BY id",
        (talk_id, None if kind is None else kind.value, None if kind is None else kind.value),
    ) as cursor:
        return [_delivery(row) for row in await cursor.fetchall()]


async def reminder_recipients(conn: aiosqlite.Connection, talk: Talk, due_at: datetime) -> list[int]:
    """Confirmed members with reminders on who were confirmed by the time the reminder fell due."""
    async with conn.execute(
        """
        SELECT r.user_id FROM registrations r
        LEFT JOIN member_preferences p ON p.guild_id = r.guild_id AND p.user_id = r.user_id
        WHERE r.talk_id = ? AND r.status = 'confirmed' AND r.confirmed_at <= ? AND COALESCE(p.notifications, 1) = 1
        ORDER BY r.id
        """,
        (talk.id, due_at.timestamp()),
    ) as cursor:
        return [int(row[0]) for row in await cursor.fetchall()]


async def talks_between(conn: aiosqlite.Connection, ends_after: datetime, starts_before: datetime) -> list[Talk]:
    """Scheduled talks of every server still running after ``ends_after`` and starting before ``starts_before``
    or due to be announced before it."""
    async with conn.execute(
        """
        SELECT * FROM talks
        WHERE status = 'scheduled' AND start_at + duration_min * 60 > ?
          AND (start_at - 43200 * 60 < ? OR (announce_at IS NOT NULL AND announce_at < ?))
        ORDER BY start_at
        """,
        (to_unix(ends_after), to_unix(starts_before), to_unix(starts_before)),
    ) as cursor:
        return [_talk(row) for row in await cursor.fetchall()]


async def get_talk_by_id(conn: aiosqlite.Connection, talk_id: int) -> Talk | None:
    """For internal jobs that already hold a talk id from the database; commands use get_talk (scoped)."""
    async with conn.execute("SELECT * FROM talks WHERE id = ?", (talk_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _talk(row)


async def mark_pending_missed(
    conn: aiosqlite.Connection, talk_id: int, kinds: Iterable[DeliveryKind], key: int, now: datetime
) -> int:
    kind_values = [kind.value for kind in kinds]
    marks = ", ".join("?" for _ in kind_values)
    cursor = await conn.execute(
        f"""
        UPDATE deliveries SET status = 'missed', last_error = 'the talk had started', updated_at = ?
        WHERE talk_id = ? AND key = ? AND status = 'pending' AND kind IN ({marks})
        """,  # noqa: S608 - only placeholders are interpolated
        (to_unix(now), talk_id, key, *kind_values),
    )
    return cursor.rowcount


async def forget_reminders(conn: aiosqlite.Connection, talk_id: int) -> None:
    """When a talk moves, the reminders sent for the old time no longer count: the new ones are owed."""
    await conn.execute("DELETE FROM deliveries WHERE talk_id = ? AND kind IN ('reminder', 'reminder_post')", (talk_id,))
