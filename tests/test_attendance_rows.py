"""The attendance rule on a real SQLite: checked-in members, or every confirmed member when nobody checked in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import attendance_rows, store
from bot.database import Database
from bot.models import RegistrationStatus, TalkStatus

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def _talk_with_members(db: Database, confirmed: list[int], waitlisted: list[int]) -> int:
    async with db.transaction() as conn:
        talk = await store.insert_talk(
            conn,
            1,
            99,
            NOW,
            {
                "title": "Immunology",
                "speaker": "Dr X",
                "start_at": NOW - timedelta(hours=2),
                "duration_min": 60,
                "capacity": None,
                "reminders": (),
            },
        )
        for user_id in confirmed + waitlisted:
            status = RegistrationStatus.CONFIRMED if user_id in confirmed else RegistrationStatus.WAITLISTED
            await conn.execute(
                "INSERT INTO registrations (talk_id, guild_id, user_id, display_name, status, registered_at) "
                "VALUES (?, 1, ?, ?, ?, ?)",
                (talk.id, user_id, f"member {user_id}", status.value, 0),
            )
    return talk.id


async def test_without_checkins_every_confirmed_member_attended(db: Database) -> None:
    talk_id = await _talk_with_members(db, [10, 11], [12])
    async with db.reading() as conn:
        attended = await attendance_rows.attendees(conn, talk_id)
    assert sorted(a.user_id for a in attended) == [10, 11]
    assert all(a.checked_in_at is None for a in attended)


async def test_with_checkins_only_those_present_attended(db: Database) -> None:
    talk_id = await _talk_with_members(db, [10, 11], [12])
    async with db.transaction() as conn:
        first = await attendance_rows.record_checkin(
            conn, talk_id=talk_id, guild_id=1, user_id=11, display_name="member 11", walk_in=False, now=NOW
        )
        again = await attendance_rows.record_checkin(
            conn, talk_id=talk_id, guild_id=1, user_id=11, display_name="member 11", walk_in=False, now=NOW
        )
        await attendance_rows.record_checkin(
            conn, talk_id=talk_id, guild_id=1, user_id=20, display_name="walk-in", walk_in=True, now=NOW
        )
    assert (first, again) == (True, False)
    async with db.reading() as conn:
        attended = await attendance_rows.attendees(conn, talk_id)
        present = await attendance_rows.checkins(conn, talk_id)
        walk_ins = await attendance_rows.walk_ins(conn, talk_id)
    assert sorted(a.user_id for a in attended) == [11, 20]
    assert set(present) == {11, 20}
    assert walk_ins == 1


async def test_a_cancelled_talk_has_no_attendance(db: Database) -> None:
    talk_id = await _talk_with_members(db, [10], [])
    async with db.transaction() as conn:
        await store.update_talk(conn, talk_id, NOW, {"status": TalkStatus.CANCELLED})
    async with db.reading() as conn:
        assert await attendance_rows.attendees(conn, talk_id) == []
