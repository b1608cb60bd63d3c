"""Unsubscribe links on a real temporary SQLite: signed, unguessable, tied to the address, and what they stop."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from bot.database import Database
from bot.email_addresses import EmailAddresses
from bot.unsubscribe import TOKEN_LENGTH, Unsubscribes, make_token, read_token
from tests.conftest import Clock

GUILD, ANN = 1, 10
KEY = bytes(range(32))


@pytest.fixture
def links(db: Database, clock: Clock) -> Unsubscribes:
    return Unsubscribes(db, clock, "https://podium.example.edu")


def test_a_token_names_server_member_and_address_and_cannot_be_altered() -> None:
    token = make_token(KEY, GUILD, ANN, "ann@example.org")
    assert len(token) == TOKEN_LENGTH
    assert "ann" not in token
    target = read_token(KEY, token)
    assert target is not None
    assert (target.guild_id, target.user_id) == (GUILD, ANN)
    assert target.matches("Ann+x@Example.org")
    assert not target.matches("ann@other.example")
    assert read_token(bytes(32), token) is None  # another bot's key
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for index in (0, 8, 16, len(raw) - 1):  # the server, the member, the address, the signature
        altered = bytearray(raw)
        altered[index] ^= 1
        forged = base64.urlsafe_b64encode(bytes(altered)).rstrip(b"=").decode()
        assert read_token(KEY, forged) is None
    for junk in ("", "x", token[:-1], token + "A", "/" * TOKEN_LENGTH, "=" * TOKEN_LENGTH):
        assert read_token(KEY, junk) is None
    # the last character carries 2 bits of the token and 4 unused ones: only the canonical spelling works
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    others = [token[:-1] + char for char in alphabet if char != token[-1]]
    assert [other for other in others if read_token(KEY, other) is not None] == []


async def test_the_key_is_made_once_and_kept(db: Database, clock: Clock, links: Unsubscribes) -> None:
    link = await links.link(GUILD, ANN, "ann@example.org")
    assert link is not None and link.startswith("https://podium.example.edu/unsubscribe/")
    again = Unsubscribes(db, clock, "https://podium.example.edu")  # after a restart
    assert await again.link(GUILD, ANN, "ann@example.org") == link
    assert await Unsubscribes(db, clock, None).link(GUILD, ANN, "ann@example.org") is None  # no web side


async def test_a_link_stops_only_the_address_it_was_sent_to(db: Database, clock: Clock, links: Unsubscribes) -> None:
    emails = EmailAddresses(db, clock)
    first = await emails.request_code(GUILD, ANN, "ann@example.org")
    old_link = await links.link(GUILD, ANN, "ann@example.org")
    await emails.confirm(GUILD, ANN, first.code, "Ann")
    clock.now += timedelta(minutes=2)  # past the wait between two codes
    second = await emails.request_code(GUILD, ANN, "ann@new.example")
    await emails.confirm(GUILD, ANN, second.code, "Ann")
    assert old_link is not None
    token = old_link.rsplit("/", 1)[1]
    stopped = await links.stop(token)
    assert stopped is not None
    assert (stopped.removed_address, stopped.cancelled_code) == (False, False)
    assert (await emails.verified(GUILD, ANN)).address == "ann@new.example"  # type: ignore[union-attr]
    new_link = await links.link(GUILD, ANN, "ann@new.example")
    assert new_link is not None
    stopped = await links.stop(new_link.rsplit("/", 1)[1])
    assert stopped is not None and stopped.removed_address
    assert await emails.verified(GUILD, ANN) is None
    assert await links.stop(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


def test_unsubscribe_tokens_never_reach_the_access_log() -> None:
    from bot.web import redact

    token = make_token(KEY, GUILD, ANN, "ann@example.org")
    assert redact(f"/unsubscribe/{token}") == "/unsubscribe/<token>"
    assert redact(f"/u/{token}.ics") == "/u/<token>"
    assert redact("/g/1/") == "/g/1/"
