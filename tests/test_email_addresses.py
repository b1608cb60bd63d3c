"""Members' email addresses on a real temporary SQLite: validation, hashed codes, expiry, attempts, scoping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import store
from bot.database import Database
from bot.email_addresses import (
    ADDRESS_MAX,
    CODE_TTL,
    MAX_CODE_ATTEMPTS,
    EmailAddresses,
    clean_code,
    code_matches,
    hash_code,
    normalize_address,
)
from bot.email_limits import RESEND_AFTER
from bot.errors import InputError, StateError
from tests.conftest import Clock

GUILD, OTHER_GUILD, ANN, BEN = 1, 2, 10, 11


@pytest.fixture
def emails(db: Database, clock: Clock) -> EmailAddresses:
    return EmailAddresses(db, clock)


async def rows(db: Database, table: str) -> list[dict]:
    async with db.reading() as conn, conn.execute(f"SELECT * FROM {table}") as cursor:
        return [dict(row) for row in await cursor.fetchall()]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- addresses -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee+talks@Uni.Example.EDU ", "Ann.Lee+talks@uni.example.edu"),
        ("o'brien@mail.example.ie", "o'brien@mail.example.ie"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
        ("a" * 64 + "@" + "b" * 63 + ".example", "a" * 64 + "@" + "b" * 63 + ".example"),
    ],
)
def test_valid_addresses(typed: str, stored: str) -> None:
    assert normalize_address(typed) == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Give your email address"),
        ("not-an-email", "has no `@`"),
        ("a@b", "full domain name"),
        ("a@b.c", "full domain name"),
        ("a@-b.example", "full domain name"),
        ("a@b..example", "full domain name"),
        ("a@b.123", "full domain name"),
        ("x" * 300 + "@example.com", "characters long"),
        ("a" * 200 + "@" + "b" * 60 + ".example", f"at most {ADDRESS_MAX}"),
        ("a" * 65 + "@example.com", "before the `@`"),
        (".ann@example.com", "before the `@`"),
        ("ann..lee@example.com", "before the `@`"),
        ("ann`x@example.com", "before the `@`"),
        ("x@example.com\r\nBcc: evil@x", "without line breaks"),
        ("x@example.com\nBcc: evil@x", "without line breaks"),
        ("ann lee@example.com", "no spaces"),
        ("Ann <ann@example.com>", "no spaces"),
        ("<ann@example.com>", "just one address"),
        ("a@b.example,c@d.example", "just one address"),
        ("ann@exämple.com", "ASCII"),
        ('"ann"@example.com', "before the `@`"),
        ("ann@[127.0.0.1]", "full domain name"),
    ],
)
def test_invalid_addresses_say_what_is_wrong(typed: str, says: str) -> None:
    with pytest.raises(InputError) as error:
        normalize_address(typed)
    assert says in str(error.value)
    assert "/email set address:you@example.com" in str(error.value)


# --- codes ---------------------------------------------------------------------------------------------------


def test_code_shapes() -> None:
    assert clean_code(" 123 456 ") == "123456"
    assert clean_code("012-345") == "012345"
    for bad in ("12345", "1234567", "abcdef", "12345x", ""):
        with pytest.raises(InputError, match="6 digits"):
            clean_code(bad)


def test_hash_depends_on_salt_and_code() -> None:
    assert hash_code("123456", b"salt-one") == hash_code("123456", b"salt-one")
    assert hash_code("123456", b"salt-one") != hash_code("123456", b"salt-two")
    assert hash_code("123456", b"salt-one") != hash_code("123457", b"salt-one")


async def test_only_a_salted_hash_of_the_code_is_stored(emails: EmailAddresses, db: Database) -> None:
    request = await emails.request_code(GUILD, ANN, "Ann@Example.com")
    assert len(request.code) == 6
    assert request.code.isdigit()
    assert request.address == "Ann@example.com"
    assert request.code not in repr(request)
    [row] = await rows(db, "email_codes")
    assert row["address"] == "Ann@example.com"
    assert request.code.encode() not in row["code_hash"]
    assert len(row["code_salt"]) == 16
    async with db.reading() as conn:
        stored = await store.get_email_code(conn, GUILD, ANN)
    assert stored is not None
    assert code_matches(request.code, stored)
    assert not code_matches(wrong(request.code), stored)
    assert stored.expires_at - stored.sent_at == CODE_TTL
    assert await rows(db, "member_emails") == []


async def test_codes_differ_between_requests(emails: EmailAddresses, clock: Clock) -> None:
    codes = set()
    for _ in range(5):
        codes.add((await emails.request_code(GUILD, ANN, "ann@example.com")).code)
        clock.now += timedelta(hours=1)  # past every limit
    assert len(codes) >= 4  # a repeat has a 1 in 10^6 chance per pair


async def test_resend_is_limited_to_one_a_minute(emails: EmailAddresses, clock: Clock, db: Database) -> None:
    first = await emails.request_code(GUILD, ANN, "ann@example.com")
    clock.now += timedelta(seconds=20)
    with pytest.raises(StateError) as error:
        await emails.request_code(GUILD, ANN, "other@example.com")
    assert "`ann@example.com`" in str(error.value)
    retry = int((clock.now + timedelta(seconds=40)).timestamp())
    assert f"you can ask for a new code <t:{retry}:R>" in str(error.value)
    [row] = await rows(db, "email_codes")
    assert row["address"] == "ann@example.com"  # the refused request changed nothing
    clock.now += timedelta(seconds=40)
    second = await emails.request_code(GUILD, ANN, "other@example.com")
    # the new code replaces the old one
    with pytest.raises(InputError, match="not right"):
        await emails.confirm(GUILD, ANN, first.code if first.code != second.code else wrong(second.code), "Ann")
    confirmed = (await emails.confirm(GUILD, ANN, second.code, "Ann")).email
    assert confirmed.address == "other@example.com"


async def test_wrong_codes_are_counted_and_the_fifth_voids_the_code(emails: EmailAddresses, db: Database) -> None:
    request = await emails.request_code(GUILD, ANN, "ann@example.com")
    for attempt in range(1, MAX_CODE_ATTEMPTS):
        with pytest.raises(InputError) as error:
            await emails.confirm(GUILD, ANN, wrong(request.code), "Ann")
        assert f"attempt {attempt} of {MAX_CODE_ATTEMPTS}; {MAX_CODE_ATTEMPTS - attempt} left" in str(error.value)
        [row] = await rows(db, "email_codes")
        assert row["attempts"] == attempt  # counted although the command failed
    with pytest.raises(InputError) as error:
        await emails.confirm(GUILD, ANN, wrong(request.code), "Ann")
    assert "no longer works" in str(error.value)
    assert "/email set address:ann@example.com" in str(error.value)
    # even the right code is refused now
    with pytest.raises(StateError, match="entered wrongly 5 times"):
        await emails.confirm(GUILD, ANN, request.code, "Ann")
    assert await rows(db, "member_emails") == []
    [row] = await rows(db, "email_codes")
    assert row["attempts"] == MAX_CODE_ATTEMPTS


async def test_a_malformed_code_costs_no_attempt(emails: EmailAddresses, db: Database) -> None:
    await emails.request_code(GUILD, ANN, "ann@example.com")
    with pytest.raises(InputError, match="6 digits"):
        await emails.confirm(GUILD, ANN, "12345", "Ann")
    [row] = await rows(db, "email_codes")
    assert row["attempts"] == 0


async def test_codes_expire(emails: EmailAddresses, clock: Clock, db: Database) -> None:
    request = await emails.request_code(GUILD, ANN, "ann@example.com")
    clock.now += CODE_TTL - timedelta(seconds=1)
    still = await emails.request_code(GUILD, BEN, "ben@example.com")
    clock.now += timedelta(seconds=1)
    with pytest.raises(StateError, match="has expired"):
        await emails.confirm(GUILD, ANN, request.code, "Ann")
    assert [r["user_id"] for r in await rows(db, "member_emails")] == []
    # Ben asked later, so his code still works
    assert (await emails.confirm(GUILD, BEN, still.code, "Ben")).email.address == "ben@example.com"


async def test_confirming_verifies_and_forgets_the_code(emails: EmailAddresses, clock: Clock, db: Database) -> None:
    request = await emails.request_code(GUILD, ANN, "ann@example.com")
    with pytest.raises(StateError, match="no code waiting"):
        await emails.confirm(GUILD, BEN, request.code, "Ben")
    spaced = f"{request.code[:3]} {request.code[3:]}"
    confirmed = (await emails.confirm(GUILD, ANN, spaced, "Ann Lee")).email
    assert (confirmed.address, confirmed.display_name, confirmed.verified_at) == (
        "ann@example.com",
        "Ann Lee",
        clock.now,
    )
    assert await rows(db, "email_codes") == []
    assert await emails.verified(GUILD, ANN) == confirmed
    with pytest.raises(StateError, match="no code waiting"):
        await emails.confirm(GUILD, ANN, request.code, "Ann")  # a used code cannot be replayed
    with pytest.raises(StateError, match="already your confirmed address"):
        await emails.request_code(GUILD, ANN, "ann@EXAMPLE.com")


async def test_a_new_address_replaces_the_old_only_once_confirmed(
    emails: EmailAddresses, clock: Clock, db: Database
) -> None:
    first = await emails.request_code(GUILD, ANN, "ann@example.com")
    await emails.confirm(GUILD, ANN, first.code, "Ann")
    clock.now += RESEND_AFTER
    second = await emails.request_code(GUILD, ANN, "ann@work.example")
    assert second.current is not None
    assert second.current.address == "ann@example.com"
    assert (await emails.verified(GUILD, ANN)).address == "ann@example.com"  # type: ignore[union-attr]
    await emails.confirm(GUILD, ANN, second.code, "Ann")
    assert (await emails.verified(GUILD, ANN)).address == "ann@work.example"  # type: ignore[union-attr]
    assert len(await rows(db, "member_emails")) == 1


async def test_everything_is_scoped_by_server(emails: EmailAddresses, db: Database) -> None:
    here = await emails.request_code(GUILD, ANN, "ann@example.com")
    there = await emails.request_code(OTHER_GUILD, ANN, "ann@other.example")  # no re-send limit across servers
    with pytest.raises(InputError):
        await emails.confirm(OTHER_GUILD, ANN, here.code if here.code != there.code else wrong(there.code), "Ann")
    await emails.confirm(GUILD, ANN, here.code, "Ann")
    assert await emails.verified(OTHER_GUILD, ANN) is None
    removal = await emails.remove(OTHER_GUILD, ANN)
    assert removal.verified is None
    assert removal.pending is not None
    assert removal.pending.address == "ann@other.example"
    assert (await emails.verified(GUILD, ANN)).address == "ann@example.com"  # type: ignore[union-attr]


async def test_remove_deletes_the_address_and_any_pending_code(
    emails: EmailAddresses, clock: Clock, db: Database
) -> None:
    first = await emails.request_code(GUILD, ANN, "ann@example.com")
    await emails.confirm(GUILD, ANN, first.code, "Ann")
    clock.now += RESEND_AFTER
    await emails.request_code(GUILD, ANN, "ann@work.example")
    removal = await emails.remove(GUILD, ANN)
    assert removal.verified is not None
    assert removal.verified.address == "ann@example.com"
    assert removal.pending is not None
    assert removal.pending.address == "ann@work.example"
    assert await rows(db, "member_emails") == []
    assert await rows(db, "email_codes") == []
    nothing = await emails.remove(GUILD, ANN)
    assert (nothing.verified, nothing.pending) == (None, None)


async def test_withdrawing_an_unsent_code_allows_asking_again(emails: EmailAddresses, db: Database) -> None:
    request = await emails.request_code(GUILD, ANN, "ann@example.com")
    await emails.withdraw_code(request)
    assert await rows(db, "email_codes") == []
    again = await emails.request_code(GUILD, ANN, "ann@example.com")  # no one-minute wait
    await emails.withdraw_code(request)  # a stale request never removes a newer code
    [row] = await rows(db, "email_codes")
    assert row["code_hash"] == hash_code(again.code, row["code_salt"])
