"""Limits on confirmation codes on a real temporary SQLite: per address (any member, any server), per member
and overall, kept when the address or code is removed; and /email remove everywhere."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import email_limits, store
from bot.database import Database
from bot.email_addresses import EmailAddresses
from bot.email_limits import HOUR, RESEND_AFTER, address_key, retry_at
from bot.errors import StateError
from bot.models import DeliveryKind
from tests.conftest import Clock

GUILD, OTHER_GUILD = 1, 2
MALLORY, MIKE, ANN = 10, 11, 12
VICTIM = "victim@example.org"


@pytest.fixture
def emails(db: Database, clock: Clock) -> EmailAddresses:
    return EmailAddresses(db, clock)


async def count(db: Database, table: str) -> int:
    async with db.reading() as conn, conn.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_retry_at_is_when_enough_sends_leave_the_window(clock: Clock) -> None:
    now = clock.now
    times = [now - timedelta(minutes=50), now - timedelta(minutes=20), now - timedelta(minutes=5)]
    assert retry_at(times, 4, HOUR, now) is None
    assert retry_at(times, 3, HOUR, now) == now + timedelta(minutes=10)
    assert retry_at(times, 2, HOUR, now) == now + timedelta(minutes=40)
    assert retry_at([now - timedelta(minutes=61), *times[1:]], 3, HOUR, now) is None  # the oldest has left


def test_spellings_of_one_mailbox_share_a_key() -> None:
    assert address_key("Victim@Example.org") == address_key(VICTIM)
    assert address_key("victim+podium@example.org") == address_key(VICTIM)
    assert address_key("victim@other.example") != address_key(VICTIM)
    assert address_key("+tag@example.org") != address_key("@example.org")


async def test_set_remove_loop_across_servers_and_members_sends_three_codes_an_hour(
    emails: EmailAddresses, clock: Clock, db: Database
) -> None:
    sent = 0
    refusals: list[StateError] = []
    for cycle in range(20):
        for guild in (GUILD, OTHER_GUILD):
            for member in (MALLORY, MIKE):
                try:
                    await emails.request_code(guild, member, f"Victim+{cycle}@example.org")
                    sent += 1
                except StateError as error:
                    refusals.append(error)
                await emails.remove(guild, member)  # deletes the code row: it used to reset the limit
        clock.now += timedelta(seconds=1)
    assert sent == 3
    assert len(refusals) == 80 - 3
    first_send = clock.now - timedelta(seconds=20)
    retry = int((first_send + HOUR).timestamp())
    assert f"<t:{retry}:R>" in str(refusals[-1])
    assert "the most I send to one address, whoever asks" in str(refusals[-1])

    # an hour after the first code the address may get one again, and 10 is the most in a day
    clock.now = first_send + HOUR
    for _ in range(10):
        for member in range(100, 103):
            try:
                await emails.request_code(GUILD, member, VICTIM)
                sent += 1
            except StateError:
                pass
            await emails.remove(GUILD, member)
        clock.now += HOUR
    assert sent == 10
    # the records of older days go as new ones come
    clock.now += timedelta(days=1)
    await emails.request_code(GUILD, ANN, VICTIM)
    assert await count(db, "email_code_sends") == 1


async def test_one_member_gets_five_codes_an_hour_whatever_the_servers_and_addresses(
    emails: EmailAddresses, clock: Clock
) -> None:
    for n in range(5):
        await emails.request_code(GUILD + n, MALLORY, f"target{n}@example.org")
    start = clock.now
    clock.now += timedelta(minutes=10)
    with pytest.raises(StateError) as error:
        await emails.request_code(99, MALLORY, "someone.else@example.org")
    assert "You have asked for 5 confirmation codes in the last hour" in str(error.value)
    assert f"<t:{int((start + HOUR).timestamp())}:R>" in str(error.value)
    await emails.request_code(GUILD, ANN, "someone.else@example.org")  # others are not held up


async def test_everyone_together_gets_two_hundred_codes_an_hour(
    emails: EmailAddresses, clock: Clock, db: Database
) -> None:
    async with db.transaction() as conn:
        for n in range(199):
            await email_limits.record(conn, GUILD, 1000 + n, f"member{n}@example.org", clock.now)
    await emails.request_code(GUILD, ANN, "ann@example.org")
    with pytest.raises(StateError, match="as many confirmation codes as I may in an hour") as error:
        await emails.request_code(GUILD, MIKE, "mike@example.org")
    assert f"<t:{int((clock.now + HOUR).timestamp())}:R>" in str(error.value)


async def test_resend_wait_survives_remove_and_a_failed_send_costs_nothing(
    emails: EmailAddresses, clock: Clock, db: Database
) -> None:
    await emails.request_code(GUILD, ANN, "ann@example.org")
    await emails.remove(GUILD, ANN)
    with pytest.raises(StateError, match="I just sent a code to you"):
        await emails.request_code(GUILD, ANN, "ann@example.org")
    await emails.request_code(OTHER_GUILD, ANN, "ann@example.org")  # another server is another request
    clock.now += RESEND_AFTER
    request = await emails.request_code(GUILD, ANN, "ann@work.example")
    assert await count(db, "email_code_sends") == 3
    await emails.withdraw_code(request)  # the mail server did not take it: nothing reached anyone
    assert await count(db, "email_code_sends") == 2
    await emails.request_code(GUILD, ANN, "ann@work.example")


async def test_remove_everywhere_removes_every_server_and_misses_owed_emails(
    emails: EmailAddresses, clock: Clock, db: Database
) -> None:
    first = await emails.request_code(GUILD, ANN, "ann@example.org")
    await emails.confirm(GUILD, ANN, first.code, "Ann")
    await emails.request_code(OTHER_GUILD, ANN, "ann@other.example")
    await emails.request_code(GUILD, MIKE, "mike@example.org")
    async with db.transaction() as conn:
        talk = await store.insert_talk(
            conn,
            GUILD,
            1,
            clock.now,
            {
                "title": "t",
                "speaker": "s",
                "start_at": clock.now + timedelta(days=1),
                "duration_min": 60,
                "reminders": (),
            },
        )
        for kind in (DeliveryKind.EMAIL_CONFIRMED, DeliveryKind.INVITE_CONFIRMED):
            await store.ensure_deliveries(conn, talk, "user", kind, [(ANN, 1)], clock.now)
    removals = await emails.remove_everywhere(ANN)
    assert [(r.guild_id, r.verified is not None, r.pending is not None) for r in removals] == [
        (GUILD, True, False),
        (OTHER_GUILD, False, True),
    ]
    async with db.reading() as conn:
        rows = await store.deliveries_for(conn, talk.id)
        assert await store.member_emails_of(conn, ANN) == []
        assert await store.email_codes_of(conn, ANN) == []
        assert [code.user_id for code in await store.email_codes_of(conn, MIKE)] == [MIKE]
    statuses = {row.kind.value: (row.status.value, row.last_error) for row in rows}
    assert statuses == {
        "email_confirmed": ("missed", "address removed by the member"),
        "invite_confirmed": ("pending", None),  # the DM still goes
    }
    assert await emails.remove_everywhere(ANN) == []


async def test_a_member_who_just_confirmed_may_change_their_address_at_once(
    emails: EmailAddresses, clock: Clock
) -> None:
    request = await emails.request_code(GUILD, ANN, "ann@example.org")
    clock.now += timedelta(seconds=5)
    await emails.confirm(GUILD, ANN, request.code, "Ann")
    clock.now += timedelta(seconds=5)
    change = await emails.request_code(GUILD, ANN, "ann@work.example")
    assert change.current is not None and change.current.address == "ann@example.org"
    with pytest.raises(StateError, match=r"I just sent a code to `ann@work\.example`"):
        await emails.request_code(GUILD, ANN, "ann@home.example")
