"""Every SQL statement of the bot, parameterised, as small functions over a connection.

Callers own the transaction (see Database.transaction); these functions never commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.models import (
    EMAIL_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    EmailCode,
    FeedToken,
    GuildSettings,
    MemberEmail,
    Registration,
    RegistrationStatus,
    Seats,
    Talk,
    TalkStatus,
    from_unix,
    to_unix,
)
from bot.sql import Connection, Row
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
    "source_uid",
    "join_url",
    "checkin_code",
    "speaker_user_id",
    "series_id",
    "series_index",
    "eligible_roles",
    "priority_roles",
    "priority_until",
)
ROLE_COLUMNS = frozenset({"eligible_roles", "priority_roles"})


async def _one(conn: Connection, sql: str, parameters: Iterable[Any] = ()) -> Row | None:
    """The first row of a statement, in one trip to the database thread (a cursor would take three)."""
    rows = list(await conn.execute_fetchall(sql, parameters))
    return rows[0] if rows else None


async def _all(conn: Connection, sql: str, parameters: Iterable[Any] = ()) -> list[Row]:
    return list(await conn.execute_fetchall(sql, parameters))


def _talk(row: Row) -> Talk:
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
        source_uid=row["source_uid"],
        public_id=row["public_id"],
        join_url=row["join_url"],
        checkin_code=row["checkin_code"],
        speaker_user_id=row["speaker_user_id"],
        series_id=row["series_id"],
        series_index=row["series_index"],
        eligible_roles=_roles(row["eligible_roles"]),
        priority_roles=_roles(row["priority_roles"]),
        priority_until=None if row["priority_until"] is None else from_unix(row["priority_until"]),
    )


def talk_of(row: Row) -> Talk:
    """A talks row as a Talk, for the SQL modules of other areas (bot/series_rows.py)."""
    return _talk(row)


def _roles(value: str | None) -> frozenset[int]:
    return frozenset(int(part) for part in value.split()) if value else frozenset()


def _roles_value(roles: frozenset[int]) -> str | None:
    """Role ids as migration 0012 keeps them: smallest first, separated by spaces; NULL for none."""
    return " ".join(str(role) for role in sorted(roles)) or None


def _registration(row: Row, position: int | None = None) -> Registration:
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
    if column in ROLE_COLUMNS:
        return _roles_value(frozenset(value))
    if isinstance(value, TalkStatus | RegistrationStatus):
        return value.value
    return value


# --- server settings -------------------------------------------------------------------------------


def new_public_id() -> str:
    """128 random bits: what public URLs name instead of a row's sequential id (see migration 0008)."""
    return secrets.token_hex(16)


def _settings(row: Row) -> GuildSettings:
    return GuildSettings(
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        organizer_role_id=row["organizer_role_id"],
        timezone=row["timezone"],
        reminders=None if row["reminders"] is None else parse_offsets(row["reminders"]),
        ping_role_id=row["ping_role_id"],
        public_calendar=bool(row["public_calendar"]),
        public_id=row["public_id"],
        language=row["language"],
        join_link_before=row["join_link_before"],
        year_start=row["year_start"],
        native_events=bool(row["native_events"]),
        interested_registers=bool(row["interested_registers"]),
    )


async def get_settings(conn: Connection, guild_id: int) -> GuildSettings:
    row = await _one(conn, "SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
    return GuildSettings(guild_id=guild_id) if row is None else _settings(row)


async def save_settings(conn: Connection, settings: GuildSettings, now: datetime) -> GuildSettings:
    """Insert or update the server's settings; the public id is given once and then kept. Returns what is stored."""
    row = await _one(
        conn,
        """
        INSERT INTO guild_settings (guild_id, channel_id, organizer_role_id, timezone, reminders,
                                    ping_role_id, public_calendar, updated_at, public_id, language,
                                    join_link_before, year_start, native_events, interested_registers)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (guild_id) DO UPDATE SET
            channel_id = excluded.channel_id, organizer_role_id = excluded.organizer_role_id,
            timezone = excluded.timezone, reminders = excluded.reminders,
            ping_role_id = excluded.ping_role_id, public_calendar = excluded.public_calendar,
            updated_at = excluded.updated_at, public_id = COALESCE(guild_settings.public_id, excluded.public_id),
            language = excluded.language, join_link_before = excluded.join_link_before,
            year_start = excluded.year_start, native_events = excluded.native_events,
            interested_registers = excluded.interested_registers
        RETURNING *
        """,
        (
            settings.guild_id,
            settings.channel_id,
            settings.organizer_role_id,
            settings.timezone,
            None if settings.reminders is None else format_offsets(settings.reminders),
            settings.ping_role_id,
            int(settings.public_calendar),
            to_unix(now),
            settings.public_id or new_public_id(),
            settings.language,
            settings.join_link_before,
            settings.year_start,
            int(settings.native_events),
            int(settings.interested_registers),
        ),
    )
    assert row is not None
    return _settings(row)


# --- languages -------------------------------------------------------------------------------------

_CHUNK = 500  # ids per IN (...) list, well under SQLite's limit on bound values


async def member_languages(conn: Connection, user_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(user_ids), _CHUNK):
        chunk = list(user_ids[start : start + _CHUNK])
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT user_id, language FROM member_languages WHERE user_id IN ({marks})"  # noqa: S608 (only ?s)
        rows = await _all(conn, sql, chunk)
        found.update((row["user_id"], row["language"]) for row in rows)
    return found


async def save_member_languages(conn: Connection, languages: Sequence[tuple[int, str]], now: datetime) -> None:
    await conn.executemany(
        """
        INSERT INTO member_languages (user_id, language, seen_at) VALUES (?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET language = excluded.language, seen_at = excluded.seen_at
        """,
        [(user_id, language, to_unix(now)) for user_id, language in languages],
    )


# --- talks -------------------------------------------------------------------------------------------


async def insert_talk(
    conn: Connection, guild_id: int, created_by: int, now: datetime, fields: Mapping[str, Any]
) -> Talk:
    columns = [column for column in TALK_COLUMNS if column in fields]
    values = [_db_value(column, fields[column]) for column in columns]
    placeholders = ", ".join("?" for _ in range(len(columns) + 5))
    # Column names come from TALK_COLUMNS, never from user input; values are parameters.
    sql = (
        f"INSERT INTO talks (guild_id, created_by, created_at, updated_at, public_id, {', '.join(columns)}) "  # noqa: S608
        f"VALUES ({placeholders}) RETURNING *"
    )
    row = await _one(conn, sql, (guild_id, created_by, to_unix(now), to_unix(now), new_public_id(), *values))
    assert row is not None
    return _talk(row)


async def update_talk(conn: Connection, talk_id: int, now: datetime, changes: Mapping[str, Any]) -> Talk:
    unknown = set(changes) - set(TALK_COLUMNS)
    if unknown:
        raise ValueError(f"not talk columns: {sorted(unknown)}")
    # Column names come from TALK_COLUMNS above, never from user input; values are parameters.
    assignments = ", ".join(f"{column} = ?" for column in changes)
    values = [_db_value(column, value) for column, value in changes.items()]
    sql = f"UPDATE talks SET {assignments}, updated_at = ? WHERE id = ? RETURNING *"  # noqa: S608
    row = await _one(conn, sql, (*values, to_unix(now), talk_id))
    assert row is not None
    return _talk(row)


async def lock_talks(conn: Connection, talk_ids: Iterable[int]) -> None:
    """Hold these talks' rows until the transaction ends, before counting or changing their seats.

    On PostgreSQL another process may register for the same talk at the same moment: the row lock makes the
    count, the insert and the promotion one step for one process at a time. In id order, so two transactions
    locking the same talks cannot deadlock. (SQLite's write transaction already holds the whole database.)
    """
    ids = sorted(set(talk_ids))
    if ids:
        marks = ", ".join("?" for _ in ids)
        await _all(conn, f"SELECT id FROM talks WHERE id IN ({marks}) ORDER BY id FOR UPDATE", ids)  # noqa: S608


async def get_talk(conn: Connection, guild_id: int, talk_id: int) -> Talk | None:
    row = await _one(conn, "SELECT * FROM talks WHERE id = ? AND guild_id = ?", (talk_id, guild_id))
    return None if row is None else _talk(row)


async def list_talks(
    conn: Connection,
    guild_id: int,
    *,
    ends_after: datetime,
    include_cancelled: bool = False,
    public_at: datetime | None = None,
    limit: int = 25,
) -> list[Talk]:
    """Talks not yet over, soonest first (end = start + duration); with ``public_at``, only those members may
    see at that time (Talk.is_public), filtered here so held-back talks do not use up the limit."""
    fetched = await _all(
        conn,
        """
        SELECT * FROM talks
        WHERE guild_id = ? AND start_at + duration_min * 60 > ? AND (? OR status = 'scheduled')
          AND (CAST(? AS INTEGER) IS NULL OR announcement_message_id IS NOT NULL
               OR announce_at IS NULL OR announce_at <= ?)
        ORDER BY start_at, id LIMIT ?
        """,
        (
            guild_id,
            to_unix(ends_after),
            include_cancelled,
            None if public_at is None else to_unix(public_at),
            None if public_at is None else to_unix(public_at),
            limit,
        ),
    )
    return [_talk(row) for row in fetched]


async def recent_talks(conn: Connection, guild_id: int, *, limit: int = 25) -> list[Talk]:
    """All talks, newest start first: for organizer commands that also look back."""
    fetched = await _all(
        conn,
        "SELECT * FROM talks WHERE guild_id = ? ORDER BY start_at DESC, id DESC LIMIT ?",
        (guild_id, limit),
    )
    return [_talk(row) for row in fetched]


async def announced_talks(conn: Connection, guild_id: int, *, ends_after: datetime) -> list[Talk]:
    """Talks whose announcement is posted and still live (not over, not cancelled): those a change of the
    server's language re-renders."""
    fetched = await _all(
        conn,
        """
        SELECT * FROM talks
        WHERE guild_id = ? AND status = 'scheduled' AND announcement_message_id IS NOT NULL
          AND start_at + duration_min * 60 > ?
        ORDER BY start_at, id
        """,
        (guild_id, to_unix(ends_after)),
    )
    return [_talk(row) for row in fetched]


# --- registrations -------------------------------------------------------------------------------------


async def seats(conn: Connection, talk: Talk) -> Seats:
    row = await _one(
        conn,
        """
        SELECT (SELECT COUNT(*) FILTER (WHERE status = 'confirmed') FROM registrations WHERE talk_id = ?),
               (SELECT COUNT(*) FILTER (WHERE status = 'waitlisted') FROM registrations WHERE talk_id = ?),
               -- Walk-ins (bot/checkin.py) hold a seat too; one who later got a confirmed seat counts once.
               (SELECT COUNT(*) FROM checkins c WHERE c.talk_id = ? AND c.walk_in = 1 AND NOT EXISTS (
                    SELECT 1 FROM registrations r
                    WHERE r.talk_id = c.talk_id AND r.user_id = c.user_id AND r.status = 'confirmed'))
        """,
        (talk.id, talk.id, talk.id),
    )
    assert row is not None
    return Seats(confirmed=int(row[0]), waitlisted=int(row[1]), capacity=talk.capacity, walk_ins=int(row[2]))


async def get_registration(conn: Connection, talk_id: int, user_id: int) -> Registration | None:
    row = await _one(
        conn,
        """
        SELECT r.*, CASE WHEN r.status = 'waitlisted' THEN (
            SELECT COUNT(*) FROM registrations w
            WHERE w.talk_id = r.talk_id AND w.status = 'waitlisted' AND w.id <= r.id) END AS position
        FROM registrations r WHERE r.talk_id = ? AND r.user_id = ?
        """,
        (talk_id, user_id),
    )
    return None if row is None else _registration(row, row["position"])


async def insert_registration(
    conn: Connection,
    talk: Talk,
    user_id: int,
    display_name: str,
    status: RegistrationStatus,
    now: datetime,
    *,
    position: int | None = None,
) -> Registration | None:
    """Insert the member's registration, or None when they already have one; ``position`` is their place on the
    waitlist, which the caller knows."""
    row = await _one(
        conn,
        """
        INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at,
                                   confirmed_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (talk_id, user_id) DO NOTHING RETURNING *
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
    return None if row is None else _registration(row, position)


async def delete_registration(conn: Connection, talk_id: int, user_id: int) -> None:
    await conn.execute("DELETE FROM registrations WHERE talk_id = ? AND user_id = ?", (talk_id, user_id))


# LIMIT for "all of them": PostgreSQL refuses SQLite's LIMIT -1.
_NO_LIMIT = 2**62


async def promote_waitlisted(conn: Connection, talk_id: int, count: int | None, now: datetime) -> list[Registration]:
    """Confirm the first ``count`` members of the waitlist (all of them for None), in the order they registered."""
    if count is not None and count <= 0:
        return []
    rows = await _all(
        conn,
        """
        UPDATE registrations SET status = 'confirmed', confirmed_at = ?
        WHERE id IN (SELECT id FROM registrations WHERE talk_id = ? AND status = 'waitlisted'
                     ORDER BY id LIMIT ?)
        RETURNING *
        """,
        (now.timestamp(), talk_id, _NO_LIMIT if count is None else count),
    )
    return sorted((_registration(row) for row in rows), key=lambda registration: registration.id)


async def registrations(conn: Connection, talk_id: int, status: RegistrationStatus | None = None) -> list[Registration]:
    """Registrations of a talk: confirmed first, then the waitlist in order, with positions."""
    rows = await _all(
        conn,
        """
        SELECT * FROM registrations WHERE talk_id = ? AND (CAST(? AS TEXT) IS NULL OR status = ?)
        ORDER BY status = 'waitlisted', id
        """,
        (talk_id, None if status is None else status.value, None if status is None else status.value),
    )
    result: list[Registration] = []
    position = 0
    for row in rows:
        if row["status"] == RegistrationStatus.WAITLISTED.value:
            position += 1
            result.append(_registration(row, position))
        else:
            result.append(_registration(row))
    return result


# A member's talks with their registration and waitlist position, for /mytalks and personal feeds.
_MEMBER_TALKS = """
        SELECT t.*, r.id AS r_id, r.user_id, r.display_name, r.status AS r_status, r.registered_at, r.dm_failed,
               CASE WHEN r.status = 'waitlisted' THEN (
                   SELECT COUNT(*) FROM registrations w
                   WHERE w.talk_id = r.talk_id AND w.status = 'waitlisted' AND w.id <= r.id) END AS position
        FROM registrations r JOIN talks t ON t.id = r.talk_id"""


def _talk_and_registration(row: Row) -> tuple[Talk, Registration]:
    talk = _talk(row)
    registration = Registration(
        id=row["r_id"],
        talk_id=talk.id,
        guild_id=talk.guild_id,
        user_id=row["user_id"],
        display_name=row["display_name"],
        status=RegistrationStatus(row["r_status"]),
        registered_at=from_unix(row["registered_at"]),
        dm_failed=bool(row["dm_failed"]),
        position=row["position"],
    )
    return talk, registration


async def member_registrations(
    conn: Connection, guild_id: int, user_id: int, ends_after: datetime
) -> list[tuple[Talk, Registration]]:
    rows = await _all(
        conn,
        f"""
        {_MEMBER_TALKS}
        WHERE r.guild_id = ? AND r.user_id = ? AND t.start_at + t.duration_min * 60 > ?
        ORDER BY t.start_at, t.id
        """,
        (guild_id, user_id, to_unix(ends_after)),
    )
    return [_talk_and_registration(row) for row in rows]


async def set_dm_failed(conn: Connection, talk_id: int, user_ids: Iterable[int], failed: bool) -> None:
    await conn.executemany(
        # Only rows whose flag changes: an UPDATE that matches nothing moves no change counter (bot/versions.py),
        # so a delivered invite does not make every page of the server render again.
        "UPDATE registrations SET dm_failed = ? WHERE talk_id = ? AND user_id = ? AND dm_failed != ?",
        [(int(failed), talk_id, user_id, int(failed)) for user_id in user_ids],
    )


async def registration_changes(conn: Connection, talk_id: int, user_id: int) -> list[datetime]:
    """When the member registered for or unregistered from the talk, oldest first (those not pruned yet)."""
    rows = await _all(
        conn,
        "SELECT changed_at FROM registration_changes WHERE talk_id = ? AND user_id = ? ORDER BY changed_at",
        (talk_id, user_id),
    )
    return [datetime.fromtimestamp(row[0], UTC) for row in rows]


async def record_registration_change(
    conn: Connection, talk_id: int, user_id: int, now: datetime, *, forget_before: datetime | None = None
) -> None:
    """Note one change of the member's registration; drop their changes older than ``forget_before``."""
    if forget_before is not None:
        await conn.execute(
            "DELETE FROM registration_changes WHERE talk_id = ? AND user_id = ? AND changed_at < ?",
            (talk_id, user_id, forget_before.timestamp()),
        )
    await conn.execute(
        "INSERT INTO registration_changes (talk_id, user_id, changed_at) VALUES (?, ?, ?)",
        (talk_id, user_id, now.timestamp()),
    )


# --- members -------------------------------------------------------------------------------------------


async def set_notifications(conn: Connection, guild_id: int, user_id: int, enabled: bool) -> None:
    await conn.execute(
        """
        INSERT INTO member_preferences (guild_id, user_id, notifications) VALUES (?, ?, ?)
        ON CONFLICT (guild_id, user_id) DO UPDATE SET notifications = excluded.notifications
        """,
        (guild_id, user_id, int(enabled)),
    )


async def notifications_enabled(conn: Connection, guild_id: int, user_id: int) -> bool:
    row = await _one(
        conn,
        "SELECT notifications FROM member_preferences WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    )
    return True if row is None else bool(row[0])


async def get_dm_channel(conn: Connection, user_id: int) -> int | None:
    row = await _one(conn, "SELECT channel_id FROM dm_channels WHERE user_id = ?", (user_id,))
    return None if row is None else int(row[0])


async def save_dm_channel(conn: Connection, user_id: int, channel_id: int) -> None:
    await conn.execute(
        "INSERT INTO dm_channels (user_id, channel_id) VALUES (?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET channel_id = excluded.channel_id",
        (user_id, channel_id),
    )


async def get_state(conn: Connection, key: str) -> str | None:
    row = await _one(conn, "SELECT value FROM bot_state WHERE key = ?", (key,))
    return None if row is None else str(row[0])


async def set_state(conn: Connection, key: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO bot_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


# --- deliveries (the outbox) ---------------------------------------------------------------------------


def _delivery(row: Row) -> Delivery:
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
        attempted_at=None if row["attempted_at"] is None else from_unix(row["attempted_at"]),
        claimed_until=None if row["claimed_until"] is None else from_unix(row["claimed_until"]),
    )


async def ensure_deliveries(
    conn: Connection,
    talk: Talk,
    recipient_type: str,
    kind: DeliveryKind,
    targets: Iterable[tuple[int, int]],
    now: datetime,
    *,
    pending_only: bool = True,
    due_at: datetime | None = None,
) -> list[Delivery]:
    """Record one delivery per (recipient id, key) unless it exists, to go out from ``due_at`` (default: now);
    return those still pending (or all)."""
    wanted = dict.fromkeys(targets)  # ordered and without repeats: rows are sent in this order
    if not wanted:
        return []
    stamp = to_unix(now)
    due = stamp if due_at is None else to_unix(due_at)
    await conn.executemany(
        """
        INSERT INTO deliveries (guild_id, talk_id, recipient_type, recipient_id, kind, key, next_attempt_at,
                                created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (talk_id, recipient_type, recipient_id, kind, key) DO NOTHING
        """,
        [(talk.guild_id, talk.id, recipient_type, rid, kind.value, key, due, stamp, stamp) for rid, key in wanted],
    )
    recipients = list(dict.fromkeys(rid for rid, _ in wanted))
    found: list[Delivery] = []
    # Only the rows of these recipients: one registration must not read every row of a 1,000-seat talk.
    for first in range(0, len(recipients), 500):  # SQLite caps the parameters of one statement
        chunk = recipients[first : first + 500]
        marks = ", ".join("?" for _ in chunk)
        fetched = await _all(
            conn,
            f"""
            SELECT * FROM deliveries
            WHERE talk_id = ? AND recipient_type = ? AND kind = ? AND recipient_id IN ({marks})
              AND (? = 0 OR status = 'pending')
            """,  # noqa: S608 - only placeholders are interpolated
            (talk.id, recipient_type, kind.value, *chunk, int(pending_only)),
        )
        found.extend(d for d in map(_delivery, fetched) if (d.recipient_id, d.key) in wanted)
    return sorted(found, key=lambda delivery: delivery.id)


async def supersede_pending(
    conn: Connection, newest: Iterable[Delivery], family: Iterable[DeliveryKind], now: datetime
) -> None:
    """Mark missed the pending rows of ``family`` that are older than each given row for the same member and talk:
    a newer invite (update, cancellation, withdrawal) carries the member's latest state on its own."""
    kinds = [kind.value for kind in family]
    marks = ", ".join("?" for _ in kinds)
    await conn.executemany(
        f"""
        UPDATE deliveries SET status = 'missed', last_error = 'superseded by a newer message', updated_at = ?
        WHERE talk_id = ? AND recipient_id = ? AND recipient_type = 'user' AND status = 'pending' AND id < ?
          AND kind IN ({marks})
        """,  # noqa: S608 - only placeholders are interpolated
        [(to_unix(now), row.talk_id, row.recipient_id, row.id, *kinds) for row in newest],
    )


async def get_delivery(conn: Connection, delivery_id: int, *, lock: bool = False) -> Delivery | None:
    """The row; with ``lock``, held until the transaction ends (claiming it, against other processes)."""
    sql = "SELECT * FROM deliveries WHERE id = ? FOR UPDATE" if lock else "SELECT * FROM deliveries WHERE id = ?"
    row = await _one(conn, sql, (delivery_id,))
    return None if row is None else _delivery(row)


async def mark_attempted(conn: Connection, delivery_id: int, now: datetime, claimed_until: datetime) -> None:
    await conn.execute(
        "UPDATE deliveries SET attempted_at = ?, claimed_until = ?, updated_at = ? WHERE id = ?",
        (to_unix(now), to_unix(claimed_until), to_unix(now), delivery_id),
    )


async def claimed_deliveries(conn: Connection) -> list[tuple[int, int]]:
    """(row id, server id) of the pending rows some process holds a lease on."""
    rows = await _all(
        conn, "SELECT id, guild_id FROM deliveries WHERE status = 'pending' AND claimed_until IS NOT NULL"
    )
    return [(int(row[0]), int(row[1])) for row in rows]


async def release_claims(conn: Connection, delivery_ids: Iterable[int]) -> None:
    await conn.executemany(
        "UPDATE deliveries SET claimed_until = NULL WHERE id = ?", [(each,) for each in delivery_ids]
    )


async def finish_delivery(
    conn: Connection,
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
               attempts = attempts + CASE WHEN ? IN ('sent', 'failed') THEN 1 ELSE 0 END, updated_at = ?
        WHERE id = ?
        """,
        (status.value, message_id, error, status.value, to_unix(now), delivery_id),
    )


async def postpone_delivery(
    conn: Connection, delivery_id: int, next_attempt: datetime, error: str, now: datetime
) -> int:
    """Count a transient failure and set when to try again; returns the attempts made so far."""
    row = await _one(
        conn,
        """
        UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, updated_at = ?,
               claimed_until = NULL
        WHERE id = ? RETURNING attempts
        """,
        (to_unix(next_attempt), error, to_unix(now), delivery_id),
    )
    return 0 if row is None else int(row[0])


async def due_deliveries(conn: Connection, now: datetime, limit: int = 1000, after: int = 0) -> list[Delivery]:
    """Pending rows whose time has come, in id order, from the first id above ``after``."""
    fetched = await _all(
        conn,
        "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? AND id > ? ORDER BY id LIMIT ?",
        (to_unix(now), after, limit),
    )
    return [_delivery(row) for row in fetched]


async def deliveries_for(conn: Connection, talk_id: int, kind: DeliveryKind | None = None) -> list[Delivery]:
    fetched = await _all(
        conn,
        "SELECT * FROM deliveries WHERE talk_id = ? AND (CAST(? AS TEXT) IS NULL OR kind = ?) ORDER BY id",
        (talk_id, None if kind is None else kind.value, None if kind is None else kind.value),
    )
    return [_delivery(row) for row in fetched]


async def reminder_recipients(conn: Connection, talk: Talk, due_at: datetime) -> list[int]:
    """Confirmed members with reminders on who were confirmed by the time the reminder fell due."""
    fetched = await _all(
        conn,
        """
        SELECT r.user_id FROM registrations r
        LEFT JOIN member_preferences p ON p.guild_id = r.guild_id AND p.user_id = r.user_id
        WHERE r.talk_id = ? AND r.status = 'confirmed' AND r.confirmed_at <= ? AND COALESCE(p.notifications, 1) = 1
        ORDER BY r.id
        """,
        (talk.id, due_at.timestamp()),
    )
    return [int(row[0]) for row in fetched]


async def talks_between(conn: Connection, ends_after: datetime, starts_before: datetime) -> list[Talk]:
    """Scheduled talks of every server still running after ``ends_after`` and starting before ``starts_before``
    or due to be announced before it."""
    fetched = await _all(
        conn,
        """
        SELECT * FROM talks
        WHERE status = 'scheduled' AND start_at + duration_min * 60 > ?
          AND (start_at - 43200 * 60 < ? OR (announce_at IS NOT NULL AND announce_at < ?))
        ORDER BY start_at
        """,
        (to_unix(ends_after), to_unix(starts_before), to_unix(starts_before)),
    )
    return [_talk(row) for row in fetched]


async def get_talk_by_id(conn: Connection, talk_id: int) -> Talk | None:
    """For internal jobs that already hold a talk id from the database; commands use get_talk (scoped)."""
    row = await _one(conn, "SELECT * FROM talks WHERE id = ?", (talk_id,))
    return None if row is None else _talk(row)


async def mark_pending_missed(
    conn: Connection, talk_id: int, kinds: Iterable[DeliveryKind], key: int, now: datetime
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


async def forget_reminders(conn: Connection, talk_id: int) -> None:
    """When a talk moves, the reminders (and the speaker's question lists) sent for the old time no longer count:
    the new ones are owed."""
    await conn.execute(
        "DELETE FROM deliveries WHERE talk_id = ? AND kind IN ('reminder', 'reminder_post', 'questions')", (talk_id,)
    )


# --- emailed invites: verified addresses and confirmation codes ------------------------------------------


def _member_email(row: Row) -> MemberEmail:
    return MemberEmail(
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        address=row["address"],
        display_name=row["display_name"],
        verified_at=from_unix(row["verified_at"]),
    )


def _email_code(row: Row) -> EmailCode:
    return EmailCode(
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        address=row["address"],
        salt=bytes(row["code_salt"]),
        digest=bytes(row["code_hash"]),
        attempts=row["attempts"],
        sent_at=from_unix(row["sent_at"]),
        expires_at=from_unix(row["expires_at"]),
    )


async def get_member_email(conn: Connection, guild_id: int, user_id: int) -> MemberEmail | None:
    row = await _one(conn, "SELECT * FROM member_emails WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return None if row is None else _member_email(row)


async def save_member_email(
    conn: Connection, guild_id: int, user_id: int, address: str, display_name: str, now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO member_emails (guild_id, user_id, address, display_name, verified_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (guild_id, user_id) DO UPDATE SET
            address = excluded.address, display_name = excluded.display_name, verified_at = excluded.verified_at
        """,
        (guild_id, user_id, address, display_name, to_unix(now)),
    )


async def delete_member_email(conn: Connection, guild_id: int, user_id: int) -> MemberEmail | None:
    row = await _one(
        conn, "DELETE FROM member_emails WHERE guild_id = ? AND user_id = ? RETURNING *", (guild_id, user_id)
    )
    return None if row is None else _member_email(row)


async def users_with_email(conn: Connection, guild_id: int, user_ids: Iterable[int]) -> set[int]:
    """Which of ``user_ids`` have a verified address in this server."""
    wanted = list(dict.fromkeys(user_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), 500):  # stay well under SQLite's limit on parameters
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        fetched = await _all(
            conn,
            f"SELECT user_id FROM member_emails WHERE guild_id = ? AND user_id IN ({marks})",  # noqa: S608
            (guild_id, *chunk),
        )
        found.update(int(row[0]) for row in fetched)
    return found


async def get_email_code(conn: Connection, guild_id: int, user_id: int) -> EmailCode | None:
    row = await _one(conn, "SELECT * FROM email_codes WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return None if row is None else _email_code(row)


async def save_email_code(conn: Connection, code: EmailCode) -> None:
    """Replace the member's code in flight (a new code starts with no attempts used)."""
    await conn.execute(
        """
        INSERT INTO email_codes (guild_id, user_id, address, code_salt, code_hash, attempts, sent_at, expires_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (guild_id, user_id) DO UPDATE SET
            address = excluded.address, code_salt = excluded.code_salt, code_hash = excluded.code_hash,
            attempts = excluded.attempts, sent_at = excluded.sent_at, expires_at = excluded.expires_at
        """,
        (
            code.guild_id,
            code.user_id,
            code.address,
            code.salt,
            code.digest,
            code.attempts,
            to_unix(code.sent_at),
            to_unix(code.expires_at),
        ),
    )


async def count_email_code_attempt(conn: Connection, guild_id: int, user_id: int) -> int:
    """Count one wrong guess; returns the attempts used so far."""
    row = await _one(
        conn,
        "UPDATE email_codes SET attempts = attempts + 1 WHERE guild_id = ? AND user_id = ? RETURNING attempts",
        (guild_id, user_id),
    )
    return 0 if row is None else int(row[0])


async def delete_email_code(conn: Connection, guild_id: int, user_id: int) -> EmailCode | None:
    row = await _one(
        conn, "DELETE FROM email_codes WHERE guild_id = ? AND user_id = ? RETURNING *", (guild_id, user_id)
    )
    return None if row is None else _email_code(row)


async def member_emails_of(conn: Connection, user_id: int) -> list[MemberEmail]:
    """The member's verified addresses in every server, for /email remove in a DM."""
    rows = await _all(conn, "SELECT * FROM member_emails WHERE user_id = ? ORDER BY guild_id", (user_id,))
    return [_member_email(row) for row in rows]


async def email_codes_of(conn: Connection, user_id: int) -> list[EmailCode]:
    rows = await _all(conn, "SELECT * FROM email_codes WHERE user_id = ? ORDER BY guild_id", (user_id,))
    return [_email_code(row) for row in rows]


async def miss_pending_emails(conn: Connection, guild_id: int, user_id: int, now: datetime, reason: str) -> int:
    """Mark missed the member's emails still waiting in the outbox for this server (the address is gone)."""
    kinds = sorted(kind.value for kind in EMAIL_KINDS)
    marks = ", ".join("?" for _ in kinds)
    cursor = await conn.execute(
        f"""
        UPDATE deliveries SET status = 'missed', last_error = ?, updated_at = ?
        WHERE guild_id = ? AND recipient_id = ? AND recipient_type = 'user' AND status = 'pending'
          AND kind IN ({marks})
        """,  # noqa: S608 - only placeholders are interpolated
        (reason, to_unix(now), guild_id, user_id, *kinds),
    )
    return cursor.rowcount


# --- limits on confirmation codes emailed (kept apart from email_codes: /email remove does not reset them) --


async def record_code_send(conn: Connection, guild_id: int, user_id: int, address_key: bytes, now: datetime) -> int:
    row = await _one(
        conn,
        "INSERT INTO email_code_sends (sent_at, guild_id, user_id, address_key) VALUES (?, ?, ?, ?) RETURNING id",
        (to_unix(now), guild_id, user_id, address_key),
    )
    assert row is not None
    return int(row[0])


async def delete_code_send(conn: Connection, send_id: int) -> None:
    await conn.execute("DELETE FROM email_code_sends WHERE id = ?", (send_id,))


async def prune_code_sends(conn: Connection, before: datetime) -> None:
    await conn.execute("DELETE FROM email_code_sends WHERE sent_at < ?", (to_unix(before),))


async def code_sends_to(conn: Connection, address_key: bytes, since: datetime) -> list[datetime]:
    """When codes went to this address (any member, any server) since ``since``, oldest first."""
    rows = await _all(
        conn,
        "SELECT sent_at FROM email_code_sends WHERE address_key = ? AND sent_at > ? ORDER BY sent_at",
        (address_key, to_unix(since)),
    )
    return [from_unix(row[0]) for row in rows]


async def code_sends_by(conn: Connection, user_id: int, since: datetime) -> list[tuple[int, datetime]]:
    """(server, when) of the codes this member asked for since ``since``, oldest first."""
    rows = await _all(
        conn,
        "SELECT guild_id, sent_at FROM email_code_sends WHERE user_id = ? AND sent_at > ? ORDER BY sent_at",
        (user_id, to_unix(since)),
    )
    return [(int(row[0]), from_unix(row[1])) for row in rows]


async def code_sends_since(conn: Connection, since: datetime, limit: int) -> list[datetime]:
    """The newest ``limit`` code sends of everyone since ``since``, oldest first."""
    rows = await _all(
        conn,
        "SELECT sent_at FROM (SELECT sent_at FROM email_code_sends WHERE sent_at > ? ORDER BY sent_at DESC LIMIT ?) "
        "AS newest ORDER BY sent_at",
        (to_unix(since), limit),
    )
    return [from_unix(row[0]) for row in rows]


# --- calendar feeds: personal feed tokens and the talks feeds show ---------------------------------------


def _feed_token(row: Row) -> FeedToken:
    return FeedToken(
        guild_id=row["guild_id"],
        user_id=row["user_id"],
        token_hash=bytes(row["token_hash"]),
        created_at=from_unix(row["created_at"]),
        last_used_at=None if row["last_used_at"] is None else from_unix(row["last_used_at"]),
    )


async def get_feed_token(conn: Connection, guild_id: int, user_id: int) -> FeedToken | None:
    row = await _one(conn, "SELECT * FROM calendar_tokens WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
    return None if row is None else _feed_token(row)


async def feed_token_by_hash(conn: Connection, token_hash: bytes) -> FeedToken | None:
    row = await _one(conn, "SELECT * FROM calendar_tokens WHERE token_hash = ?", (token_hash,))
    return None if row is None else _feed_token(row)


async def save_feed_token(conn: Connection, guild_id: int, user_id: int, token_hash: bytes, now: datetime) -> None:
    """Set the member's token, replacing any previous one (whose link stops working with this statement)."""
    await conn.execute(
        """
        INSERT INTO calendar_tokens (guild_id, user_id, token_hash, created_at, last_used_at)
        VALUES (?, ?, ?, ?, NULL)
        ON CONFLICT (guild_id, user_id) DO UPDATE SET
            token_hash = excluded.token_hash, created_at = excluded.created_at, last_used_at = NULL
        """,
        (guild_id, user_id, token_hash, to_unix(now)),
    )


async def touch_feed_token(conn: Connection, token_hash: bytes, now: datetime, older_than: datetime) -> None:
    """Note that a calendar fetched the feed; at most one write per token per period, not one per fetch."""
    await conn.execute(
        """
        UPDATE calendar_tokens SET last_used_at = ?
        WHERE token_hash = ? AND (last_used_at IS NULL OR last_used_at < ?)
        """,
        (to_unix(now), token_hash, to_unix(older_than)),
    )


async def feed_talks(
    conn: Connection, guild_id: int, *, ended_after: datetime, cancelled_after: datetime, limit: int
) -> list[Talk]:
    """A server's talks for its feed: scheduled ones not ended before ``ended_after``, cancelled ones
    cancelled (last changed) after ``cancelled_after``; soonest first."""
    fetched = await _all(
        conn,
        """
        SELECT * FROM talks
        WHERE guild_id = ? AND (
            (status = 'scheduled' AND start_at + duration_min * 60 > ?)
            OR (status = 'cancelled' AND updated_at > ?))
        ORDER BY start_at, id LIMIT ?
        """,
        (guild_id, to_unix(ended_after), to_unix(cancelled_after), limit),
    )
    return [_talk(row) for row in fetched]


async def member_feed_talks(
    conn: Connection,
    guild_id: int,
    user_id: int,
    *,
    ended_after: datetime,
    cancelled_after: datetime,
    limit: int,
) -> list[tuple[Talk, Registration]]:
    """The member's registrations in one server for their personal feed, with the same window as feed_talks."""
    rows = await _all(
        conn,
        f"""
        {_MEMBER_TALKS}
        WHERE r.guild_id = ? AND r.user_id = ? AND (
            (t.status = 'scheduled' AND t.start_at + t.duration_min * 60 > ?)
            OR (t.status = 'cancelled' AND t.updated_at > ?))
        ORDER BY t.start_at, t.id LIMIT ?
        """,
        (guild_id, user_id, to_unix(ended_after), to_unix(cancelled_after), limit),
    )
    return [_talk_and_registration(row) for row in rows]


async def member_registrations_in(conn: Connection, user_id: int, talk_ids: Iterable[int]) -> dict[int, Registration]:
    """The member's registrations among these talks (all dates of their series, for the personal feed), by talk."""
    wanted = list(dict.fromkeys(talk_ids))
    found: dict[int, Registration] = {}
    for first in range(0, len(wanted), _CHUNK):
        chunk = wanted[first : first + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = await _all(
            conn,
            f"{_MEMBER_TALKS} WHERE r.user_id = ? AND r.talk_id IN ({marks})",
            (user_id, *chunk),
        )
        for row in rows:
            _talk_row, registration = _talk_and_registration(row)
            found[registration.talk_id] = registration
    return found


async def settings_by_public_id(conn: Connection, public_id: str) -> GuildSettings | None:
    row = await _one(conn, "SELECT * FROM guild_settings WHERE public_id = ?", (public_id,))
    return None if row is None else _settings(row)


async def talk_by_public_id(conn: Connection, public_id: str) -> Talk | None:
    row = await _one(conn, "SELECT * FROM talks WHERE public_id = ?", (public_id,))
    return None if row is None else _talk(row)


async def seats_of(conn: Connection, talks: Iterable[Talk]) -> dict[int, Seats]:
    """Seats of many talks in one statement (the agenda page lists up to a hundred)."""
    wanted = {talk.id: talk for talk in talks}
    counts = {talk_id: (0, 0) for talk_id in wanted}
    walk_ins: dict[int, int] = {}
    ids = list(wanted)
    for first in range(0, len(ids), 500):  # stay well under SQLite's limit on parameters
        chunk = ids[first : first + 500]
        marks = ", ".join("?" for _ in chunk)
        fetched = await _all(
            conn,
            f"""
            SELECT talk_id, COUNT(*) FILTER (WHERE status = 'confirmed'), COUNT(*) FILTER (WHERE status = 'waitlisted')
            FROM registrations WHERE talk_id IN ({marks}) GROUP BY talk_id
            """,  # noqa: S608 - placeholders only
            chunk,
        )
        counts.update({int(row[0]): (int(row[1]), int(row[2])) for row in fetched})
        walked = await _all(
            conn,
            f"""
            SELECT c.talk_id, COUNT(*) FROM checkins c
            WHERE c.talk_id IN ({marks}) AND c.walk_in = 1 AND NOT EXISTS (
                SELECT 1 FROM registrations r
                WHERE r.talk_id = c.talk_id AND r.user_id = c.user_id AND r.status = 'confirmed')
            GROUP BY c.talk_id
            """,  # noqa: S608 - placeholders only
            chunk,
        )
        walk_ins.update({int(row[0]): int(row[1]) for row in walked})
    return {
        talk_id: Seats(
            confirmed=confirmed,
            waitlisted=waitlisted,
            capacity=wanted[talk_id].capacity,
            walk_ins=walk_ins.get(talk_id, 0),
        )
        for talk_id, (confirmed, waitlisted) in counts.items()
    }


# --- imported talks (.ics) ------------------------------------------------------------------------------


async def imported_source_uids(conn: Connection, guild_id: int, source_uids: Iterable[str]) -> set[str]:
    """Which of these source UIDs already have a talk in the server (cancelled ones count: never revived)."""
    wanted = list(dict.fromkeys(source_uids))
    found: set[str] = set()
    # SQLite caps the number of parameters of one statement; an import holds at most a few hundred.
    for first in range(0, len(wanted), 500):
        chunk = wanted[first : first + 500]
        marks = ", ".join("?" for _ in chunk)
        fetched = await _all(
            conn,
            f"SELECT source_uid FROM talks WHERE guild_id = ? AND source_uid IN ({marks})",  # noqa: S608 - placeholders only
            (guild_id, *chunk),
        )
        found.update(str(row[0]) for row in fetched)
    return found
