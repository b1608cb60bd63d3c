"""The job plan for create, edit, cancel and promotion, and the misfire rules."""

from __future__ import annotations

from datetime import timedelta

from bot import store
from bot.jobplan import HORIZON, JobAction, plan_jobs
from bot.models import DeliveryKind, DeliveryStatus
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

GUILD = 5


async def create(service: TalkService, **overrides: object):
    values: dict[str, object] = {"title": "T", "speaker": "S", "start": "2026-03-02 18:00", "reminders": "1d,1h,15m"}
    values.update(overrides)
    return await service.create_talk(GUILD, 1, TalkInput(**values))  # type: ignore[arg-type]


async def test_plan_for_a_new_talk(service: TalkService, clock: Clock) -> None:
    talk = await create(service, duration=90)
    jobs = plan_jobs(talk, clock.now, clock.now + HORIZON)
    assert [job.id for job in jobs] == [
        f"reminder:{talk.id}:1440",
        f"reminder:{talk.id}:60",
        f"reminder:{talk.id}:15",
        f"start:{talk.id}",
        f"end:{talk.id}",
        f"feedback:{talk.id}",
    ]
    assert jobs[0].run_at == talk.start_at - timedelta(days=1)
    assert jobs[-2].run_at == jobs[-1].run_at == talk.start_at + timedelta(minutes=90)


async def test_announce_at_is_planned_until_announced(service: TalkService, clock: Clock) -> None:
    talk = await create(service, announce_at="2026-03-01 15:00")
    jobs = plan_jobs(talk, clock.now, clock.now + HORIZON)
    assert jobs[0].action is JobAction.ANNOUNCE
    assert jobs[0].run_at == talk.announce_at
    announced = await service.set_announcement(talk, 10, 20)
    assert JobAction.ANNOUNCE not in {job.action for job in plan_jobs(announced, clock.now, clock.now + HORIZON)}


async def test_reminders_already_past_at_creation_are_not_owed(service: TalkService, clock: Clock) -> None:
    talk = await create(service, start="2026-03-01 14:00")  # 1 h after "now" (13:00 Paris = 12:00 UTC)
    ids = [job.id for job in plan_jobs(talk, clock.now, clock.now + HORIZON)]
    assert f"reminder:{talk.id}:1440" not in ids
    assert f"reminder:{talk.id}:15" in ids
    assert f"reminder:{talk.id}:60" not in ids  # due exactly at creation: already past


async def test_late_reminders_are_kept_so_they_run_at_once(service: TalkService, clock: Clock) -> None:
    talk = await create(service)
    clock.now = talk.start_at - timedelta(minutes=30)  # the bot was down through the 1d and 1h reminders
    jobs = plan_jobs(talk, clock.now, clock.now + HORIZON)
    late = [job for job in jobs if job.run_at < clock.now]
    assert {job.key for job in late} == {1440, 60}


async def test_edit_moves_and_cancel_clears(service: TalkService, clock: Clock) -> None:
    talk = await create(service)
    moved = (await service.edit_talk(GUILD, talk.id, TalkInput(start="2026-03-02 20:00", reminders="2h"))).talk
    jobs = plan_jobs(moved, clock.now, clock.now + HORIZON)
    assert [job.id for job in jobs if job.action is JobAction.REMINDER] == [f"reminder:{talk.id}:120"]
    assert next(job for job in jobs if job.action is JobAction.START).run_at == moved.start_at
    cancelled = (await service.cancel_talk(GUILD, talk.id, None)).talk
    assert plan_jobs(cancelled, clock.now, clock.now + HORIZON) == []


async def test_horizon_and_over(service: TalkService, clock: Clock) -> None:
    far = await create(service, start="2026-06-01 10:00")
    assert plan_jobs(far, clock.now, clock.now + HORIZON) == []
    clock.now = far.start_at - timedelta(days=1, hours=12)
    assert {job.key for job in plan_jobs(far, clock.now, clock.now + HORIZON) if job.action is JobAction.REMINDER} == {
        1440,
        60,
        15,
    }
    # Once over, only the feedback request is left, and only while feedback is accepted (7 days).
    clock.now = far.end_at
    assert [job.id for job in plan_jobs(far, clock.now, clock.now + HORIZON)] == [f"feedback:{far.id}"]
    clock.now = far.end_at + timedelta(days=7) - timedelta(seconds=1)
    [late] = plan_jobs(far, clock.now, clock.now + HORIZON)
    assert late.action is JobAction.FEEDBACK and late.run_at == far.end_at
    clock.now = far.end_at + timedelta(days=7)
    assert plan_jobs(far, clock.now, clock.now + HORIZON) == []


async def test_promoted_after_a_reminder_gets_no_stale_reminder(service: TalkService, clock: Clock) -> None:
    talk = await create(service, capacity=1)
    await service.register(GUILD, talk.id, 100, "first")
    await service.register(GUILD, talk.id, 200, "waiting")
    day_before = talk.start_at - timedelta(days=1)
    clock.now = day_before + timedelta(minutes=5)  # the 1d reminder went out, then a seat opened
    promoted = (await service.unregister(GUILD, talk.id, 100)).promoted
    assert [r.user_id for r in promoted] == [200]
    async with service.db.reading() as conn:
        assert await store.reminder_recipients(conn, talk, day_before) == []
        assert await store.reminder_recipients(conn, talk, talk.start_at - timedelta(hours=1)) == [200]


async def test_reminder_recipients_respect_notifications(service: TalkService) -> None:
    talk = await create(service)
    for user in (1, 2, 3):
        await service.register(GUILD, talk.id, user, "x")
    await service.set_notifications(GUILD, 2, False)
    async with service.db.reading() as conn:
        assert await store.reminder_recipients(conn, talk, talk.start_at) == [1, 3]


async def test_outbox_records_once_and_marks_missed(service: TalkService, clock: Clock) -> None:
    talk = await create(service)
    async with service.db.transaction() as conn:
        first = await store.ensure_deliveries(conn, talk, "user", DeliveryKind.REMINDER, [(1, 60), (2, 60)], clock.now)
    assert [d.recipient_id for d in first] == [1, 2]
    assert first[0].nonce != first[1].nonce
    async with service.db.transaction() as conn:
        await store.finish_delivery(conn, first[0].id, DeliveryStatus.SENT, clock.now, message_id=99)
        again = await store.ensure_deliveries(conn, talk, "user", DeliveryKind.REMINDER, [(1, 60), (2, 60)], clock.now)
    assert [d.recipient_id for d in again] == [2]  # the sent one is never owed again
    assert again[0].nonce == first[1].nonce  # the same row, so the same nonce on a retry
    async with service.db.transaction() as conn:
        missed = await store.mark_pending_missed(conn, talk.id, [DeliveryKind.REMINDER], 60, clock.now)
    assert missed == 1
    async with service.db.reading() as conn:
        rows = await store.deliveries_for(conn, talk.id)
    assert [(d.recipient_id, d.status, d.message_id) for d in rows] == [
        (1, DeliveryStatus.SENT, 99),
        (2, DeliveryStatus.MISSED, None),
    ]


async def test_moving_a_talk_makes_reminders_owed_again(service: TalkService, clock: Clock) -> None:
    talk = await create(service)
    async with service.db.transaction() as conn:
        [row] = await store.ensure_deliveries(conn, talk, "user", DeliveryKind.REMINDER, [(1, 60)], clock.now)
        await store.finish_delivery(conn, row.id, DeliveryStatus.SENT, clock.now)
    await service.edit_talk(GUILD, talk.id, TalkInput(start="2026-03-03 18:00"))
    async with service.db.reading() as conn:
        assert await store.deliveries_for(conn, talk.id, DeliveryKind.REMINDER) == []


async def test_retry_backoff_and_due(service: TalkService, clock: Clock) -> None:
    from bot.courier import backoff

    assert [backoff(n).total_seconds() for n in (1, 2, 3, 10)] == [5, 10, 20, 600]
    talk = await create(service)
    async with service.db.transaction() as conn:
        [row] = await store.ensure_deliveries(conn, talk, "user", DeliveryKind.INVITE_UPDATED, [(1, 1)], clock.now)
        attempts = await store.postpone_delivery(conn, row.id, clock.now + timedelta(seconds=5), "503", clock.now)
    assert attempts == 1
    async with service.db.reading() as conn:
        assert await store.due_deliveries(conn, clock.now) == []
        [due] = await store.due_deliveries(conn, clock.now + timedelta(seconds=5))
    assert due.last_error == "503"
