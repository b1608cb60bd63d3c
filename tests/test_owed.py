"""What each domain operation owes, asserted on the deliveries rows it commits (no Discord, a real SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import store
from bot.database import Database
from bot.email_addresses import EmailAddresses
from bot.models import Delivery, DeliveryKind, DeliveryStatus, Talk
from bot.owed import CLAIM_LEASE
from bot.talks import TalkInput, TalkService
from tests.conftest import PARIS, Clock

GUILD = 111
ORGANIZER = 1
K = DeliveryKind


@pytest.fixture
def mailing(db: Database, clock: Clock) -> TalkService:
    """The service of a bot with SMTP configured: invites also owe their email twins."""
    return TalkService(db, PARIS, clock, email=True)


async def new_talk(service: TalkService, **fields: object) -> Talk:
    values: dict[str, object] = {"title": "Sepsis", "speaker": "Dr. Singer", "start": "2026-03-14 18:30"}
    values.update(fields)
    return await service.create_talk(GUILD, ORGANIZER, TalkInput(**values))  # type: ignore[arg-type]


async def recorded(db: Database, talk: Talk) -> list[tuple[DeliveryKind, int, int, DeliveryStatus]]:
    """(kind, member, key, status) of every row of the talk, in the order they were recorded."""
    async with db.reading() as conn:
        rows = await store.deliveries_for(conn, talk.id)
    return [(row.kind, row.recipient_id, row.key, row.status) for row in rows]


def keyed(rows: list[Delivery]) -> set[tuple[DeliveryKind, int, int]]:
    return {(row.kind, row.recipient_id, row.key) for row in rows}


async def verify_address(db: Database, member: int, address: str, clock: Clock) -> None:
    async with db.transaction() as conn:
        await store.save_member_email(conn, GUILD, member, address, f"member {member}", clock.now)


P = DeliveryStatus.PENDING
MISSED = DeliveryStatus.MISSED


async def test_register_owes_the_confirmed_invite_and_its_email_twin(
    mailing: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(mailing, capacity=1)
    await verify_address(db, 10, "ten@uni.example", clock)
    first = await mailing.register(GUILD, talk.id, 10, "Ten")
    reg = first.registration.id
    assert keyed(first.owed) == {(K.INVITE_CONFIRMED, 10, reg), (K.EMAIL_CONFIRMED, 10, reg)}
    assert first.invite is not None and first.invite.kind is K.INVITE_CONFIRMED
    # waitlisted: nothing is owed until a seat opens
    waiting = await mailing.register(GUILD, talk.id, 11, "Eleven")
    assert waiting.owed == []
    # registering again records nothing more
    again = await mailing.register(GUILD, talk.id, 10, "Ten")
    assert again.owed == []
    assert await recorded(db, talk) == [(K.INVITE_CONFIRMED, 10, reg, P), (K.EMAIL_CONFIRMED, 10, reg, P)]


async def test_without_email_no_twin_is_recorded(service: TalkService, db: Database, clock: Clock) -> None:
    talk = await new_talk(service)
    await verify_address(db, 10, "ten@uni.example", clock)
    outcome = await service.register(GUILD, talk.id, 10, "Ten")
    assert [row.kind for row in outcome.owed] == [K.INVITE_CONFIRMED]


async def test_unregister_owes_the_withdrawal_and_the_promotion_it_causes(service: TalkService, db: Database) -> None:
    talk = await new_talk(service, capacity=1)
    seat = (await service.register(GUILD, talk.id, 10, "Ten")).registration
    waiting = (await service.register(GUILD, talk.id, 11, "Eleven")).registration
    outcome = await service.unregister(GUILD, talk.id, 10)
    assert keyed(outcome.owed) == {(K.INVITE_WITHDRAWN, 10, seat.id), (K.INVITE_PROMOTED, 11, waiting.id)}
    assert outcome.withdrawal is not None and outcome.withdrawal.recipient_id == 10
    # the withdrawal supersedes the confirmation that had not gone out yet: only the latest state is sent
    assert await recorded(db, talk) == [
        (K.INVITE_CONFIRMED, 10, seat.id, MISSED),
        (K.INVITE_WITHDRAWN, 10, seat.id, P),
        (K.INVITE_PROMOTED, 11, waiting.id, P),
    ]
    # leaving the waitlist owes nothing
    await service.register(GUILD, talk.id, 12, "Twelve")
    assert (await service.unregister(GUILD, talk.id, 12)).owed == []


async def test_raising_capacity_owes_promotions_and_unlimited_promotes_everyone(
    service: TalkService, db: Database
) -> None:
    talk = await new_talk(service, capacity=1)
    for member in (10, 11, 12, 13):
        await service.register(GUILD, talk.id, member, f"m{member}")
    raised = await service.edit_talk(GUILD, talk.id, TalkInput(capacity=2))
    assert [(row.kind, row.recipient_id) for row in raised.owed] == [(K.INVITE_PROMOTED, 11)]
    unlimited = await service.edit_talk(GUILD, talk.id, TalkInput(capacity=0))
    assert unlimited.talk.capacity is None
    assert [(row.kind, row.recipient_id) for row in unlimited.owed] == [
        (K.INVITE_PROMOTED, 12),
        (K.INVITE_PROMOTED, 13),
    ]
    assert (await service.seats(unlimited.talk)).waitlisted == 0


async def test_moving_a_talk_owes_an_updated_invite_to_the_confirmed_only(
    mailing: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(mailing, capacity=2)
    for member in (10, 11, 12):
        await mailing.register(GUILD, talk.id, member, f"m{member}")
    await verify_address(db, 11, "eleven@uni.example", clock)
    moved = await mailing.edit_talk(GUILD, talk.id, TalkInput(start="2026-03-15 18:30"))
    assert moved.talk.sequence == 1
    assert keyed(moved.owed) == {(K.INVITE_UPDATED, 10, 1), (K.INVITE_UPDATED, 11, 1), (K.EMAIL_UPDATED, 11, 1)}
    assert moved.updated == 2
    # a description is not in calendars: no update owed
    described = await mailing.edit_talk(GUILD, talk.id, TalkInput(description="New abstract"))
    assert described.owed == []
    # moving and adding a seat: the promoted member gets the promotion, not also an update
    both = await mailing.edit_talk(GUILD, talk.id, TalkInput(start="2026-03-16 18:30", capacity=3))
    assert keyed(both.owed) == {
        (K.INVITE_PROMOTED, 12, both.promoted[0].id),
        (K.INVITE_UPDATED, 10, 2),
        (K.INVITE_UPDATED, 11, 2),
        (K.EMAIL_UPDATED, 11, 2),
    }
    # the second update superseded the first, which had not gone out yet
    statuses = {(kind, member, key): status for kind, member, key, status in await recorded(db, talk)}
    assert statuses[(K.INVITE_UPDATED, 10, 1)] is MISSED
    assert statuses[(K.EMAIL_UPDATED, 11, 1)] is MISSED
    assert statuses[(K.INVITE_UPDATED, 10, 2)] is P


async def test_cancel_owes_every_registrant_a_cancellation_and_emails_only_the_confirmed(
    mailing: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(mailing, capacity=1)
    await mailing.register(GUILD, talk.id, 10, "Ten")
    await mailing.register(GUILD, talk.id, 11, "Eleven")
    await verify_address(db, 10, "ten@uni.example", clock)
    await verify_address(db, 11, "eleven@uni.example", clock)
    outcome = await mailing.cancel_talk(GUILD, talk.id, "Speaker ill")
    assert keyed(outcome.owed) == {
        (K.INVITE_CANCELLED, 10, 1),
        (K.INVITE_CANCELLED, 11, 1),
        (K.EMAIL_CANCELLED, 10, 1),
    }
    assert [r.user_id for r in outcome.waitlisted] == [11]


async def test_creating_and_importing_owe_nothing(service: TalkService, db: Database) -> None:
    talk = await new_talk(service)
    imported = await service.import_talks(
        GUILD, ORGANIZER, [("uid-1", TalkInput(title="A", speaker="B", start="2026-04-01 18:00"))]
    )
    assert await recorded(db, talk) == []
    assert await recorded(db, imported.created[0]) == []


async def test_confirming_an_address_owes_the_invitations_of_upcoming_confirmed_talks(
    mailing: TalkService, db: Database, clock: Clock
) -> None:
    confirmed_talk = await new_talk(mailing, capacity=1)
    other = await new_talk(mailing, title="Other", capacity=1)
    cancelled = await new_talk(mailing, title="Gone")
    registration = (await mailing.register(GUILD, confirmed_talk.id, 10, "Ten")).registration
    await mailing.register(GUILD, other.id, 11, "Eleven")
    await mailing.register(GUILD, other.id, 10, "Ten")  # waitlisted: no invitation
    await mailing.register(GUILD, cancelled.id, 10, "Ten")
    await mailing.cancel_talk(GUILD, cancelled.id, None)
    emails = EmailAddresses(db, clock)
    request = await emails.request_code(GUILD, 10, "ten@uni.example")
    confirmation = await emails.confirm(GUILD, 10, request.code, "Ten")
    assert keyed(confirmation.owed) == {(K.EMAIL_CONFIRMED, 10, registration.id)}
    # once sent, confirming a second address owes nothing new: the invitation is keyed by registration
    async with db.transaction() as conn:
        await store.finish_delivery(conn, confirmation.owed[0].id, DeliveryStatus.SENT, clock.now)
    request = await emails.request_code(GUILD, 10, "ten@other.example")
    assert (await emails.confirm(GUILD, 10, request.code, "Ten")).owed == []


async def test_reminder_owes_the_confirmed_with_reminders_on_and_a_post(service: TalkService, db: Database) -> None:
    await service.update_settings(GUILD, channel_id=555)
    talk = await new_talk(service, capacity=2)
    for member in (10, 11, 12):
        await service.register(GUILD, talk.id, member, f"m{member}")
    await service.set_notifications(GUILD, 11, False)
    rows = await service.owe_reminder(talk, 60, talk.start_at - timedelta(hours=1))
    assert keyed(rows) == {(K.REMINDER_POST, 555, 60), (K.REMINDER, 10, 60)}
    assert await service.owe_reminder(talk, 60, talk.start_at - timedelta(hours=1)) == rows  # recorded once


async def test_a_reminder_after_the_start_is_recorded_as_missed(
    service: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(service)
    await service.register(GUILD, talk.id, 10, "Ten")
    clock.now = talk.start_at + timedelta(minutes=1)
    assert await service.owe_reminder(talk, 60, talk.start_at - timedelta(hours=1)) == []
    assert (K.REMINDER, 10, 60, MISSED) in await recorded(db, talk)


async def test_claim_skips_rows_that_are_no_longer_true(service: TalkService, db: Database, clock: Clock) -> None:
    talk = await new_talk(service, capacity=1)
    invite = (await service.register(GUILD, talk.id, 10, "Ten")).invite
    assert invite is not None
    # still true: claimed, and the attempt is recorded before the send
    claimed = await service.claim_delivery(invite.id)
    assert isinstance(claimed, Delivery) and claimed.attempted_at is None
    attempted = clock.now.replace(microsecond=0)
    # while the claimer's lease runs (another process, say), the row is left to it
    clock.now += CLAIM_LEASE - timedelta(seconds=1)
    assert await service.claim_delivery(invite.id) is DeliveryStatus.PENDING
    # its sender died: once the lease is over the row is claimed again, knowing a send may have reached Discord
    clock.now += timedelta(seconds=2)
    again = await service.claim_delivery(invite.id)
    assert isinstance(again, Delivery) and again.attempted_at == attempted
    # the member leaves while the invite is still pending (say, retried after a 500): it is not sent
    async with db.transaction() as conn:
        await store.delete_registration(conn, talk.id, 10)
    clock.now += CLAIM_LEASE
    assert await service.claim_delivery(invite.id) is DeliveryStatus.MISSED
    assert await service.claim_delivery(invite.id) is DeliveryStatus.MISSED  # recorded, final


async def test_claim_skips_invites_of_a_cancelled_talk_and_reminders_of_members_who_left(
    service: TalkService, db: Database
) -> None:
    await service.update_settings(GUILD, channel_id=555)
    talk = await new_talk(service)
    invite = (await service.register(GUILD, talk.id, 10, "Ten")).invite
    await service.register(GUILD, talk.id, 11, "Eleven")
    rows = await service.owe_reminder(talk, 60, talk.start_at - timedelta(hours=1))
    reminder = next(row for row in rows if row.recipient_id == 11)
    post = next(row for row in rows if row.kind is K.REMINDER_POST)
    await service.unregister(GUILD, talk.id, 11)
    assert await service.claim_delivery(reminder.id) is DeliveryStatus.MISSED
    assert isinstance(await service.claim_delivery(post.id), Delivery)
    await service.cancel_talk(GUILD, talk.id, None)
    assert invite is not None
    assert await service.claim_delivery(invite.id) is DeliveryStatus.MISSED
    cancellation = next(r for r in await recorded(db, talk) if r[0] is K.INVITE_CANCELLED and r[1] == 10)
    assert cancellation[3] is P


async def due_now(db: Database, clock: Clock, talk: Talk) -> set[tuple[DeliveryKind, int]]:
    """(kind, member) of the talk's rows the courier would send at the clock's time."""
    async with db.reading() as conn:
        rows = await store.due_deliveries(conn, clock.now)
    return {(row.kind, row.recipient_id) for row in rows if row.talk_id == talk.id}


async def test_a_burst_of_toggles_owes_one_message_for_the_state_it_ends_in(
    mailing: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(mailing, capacity=1)
    await verify_address(db, 10, "ten@uni.example", clock)
    hold = mailing.change_limit.hold
    first = await mailing.register(GUILD, talk.id, 10, "Ten")
    assert first.held_until is None  # a lone registration is sent at once
    assert await due_now(db, clock, talk) == {(K.INVITE_CONFIRMED, 10), (K.EMAIL_CONFIRMED, 10)}
    async with db.transaction() as conn:  # the courier sent the first invite (and its email)
        for row in first.owed:
            await store.finish_delivery(conn, row.id, DeliveryStatus.SENT, clock.now)
    await mailing.register(GUILD, talk.id, 11, "Eleven")  # waitlisted behind the seat
    clock.now += timedelta(seconds=1)
    left = await mailing.unregister(GUILD, talk.id, 10)
    assert left.held_until == clock.now + hold
    # the promotion the seat caused is for someone else: due at once; the withdrawal waits
    assert await due_now(db, clock, talk) == {(K.INVITE_PROMOTED, 11)}
    clock.now += timedelta(seconds=1)
    back = await mailing.register(GUILD, talk.id, 10, "Ten")
    assert back.owed == [] and not back.registration.confirmed  # waitlisted now: no message of its own
    clock.now += timedelta(seconds=1)
    final = await mailing.unregister(GUILD, talk.id, 10)  # leaves the waitlist: no message of its own
    assert final.owed == []
    clock.now += hold
    # only the withdrawal of the seat is still owed to member 10, by DM and by email
    assert {kind for kind, member in await due_now(db, clock, talk) if member == 10} == {
        K.INVITE_WITHDRAWN,
        K.EMAIL_WITHDRAWN,
    }


async def test_a_quick_re_registration_supersedes_the_pending_withdrawal(
    service: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(service)
    first = await service.register(GUILD, talk.id, 10, "Ten")
    clock.now += timedelta(seconds=2)
    await service.unregister(GUILD, talk.id, 10)
    clock.now += timedelta(seconds=2)
    again = await service.register(GUILD, talk.id, 10, "Ten")
    assert again.held_until == clock.now + service.change_limit.hold
    assert again.registration.id != first.registration.id  # a new registration: its own invite key
    assert await due_now(db, clock, talk) == set()  # the new invite waits; everything older is superseded
    clock.now = again.held_until
    assert await due_now(db, clock, talk) == {(K.INVITE_CONFIRMED, 10)}
    assert [(kind, status) for kind, _, _, status in await recorded(db, talk)] == [
        (K.INVITE_CONFIRMED, MISSED),
        (K.INVITE_WITHDRAWN, MISSED),
        (K.INVITE_CONFIRMED, P),
    ]
