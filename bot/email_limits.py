"""How many confirmation codes Podium emails: per target address, per member and overall.

Anyone in any server with the bot can type any address into /email set, so each code is an email to a
stranger until it is confirmed. The limits are counted from their own records (email_code_sends), which
/email remove does not touch, across every server: a member who owns several servers, or several members
working together, cannot multiply them. No Discord objects here; the texts are what the member reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot import store
from bot.command_names import command
from bot.i18n import Text, _, _n
from bot.sql import Connection

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# The same member in the same server waits this long between two codes, unless they confirmed one since: long
# enough to read the first one.
RESEND_AFTER = timedelta(minutes=1)
# One address: a person who mistypes a code, lets one expire and asks again needs 2 or 3 in an hour; more than
# that is someone else typing their address. 10 a day still lets a member retry over a day without letting a
# stranger turn Podium into a mail bomb (at worst 10 short emails a day, whoever and wherever asks).
PER_ADDRESS = ((3, HOUR), (10, DAY))
# One member, whatever the servers and addresses: a typo or two and a change of address fit in 5 an hour;
# the day limit stops one account walking through addresses (victim+1@, victim+2@ ...) all day.
PER_MEMBER = ((5, HOUR), (15, DAY))
# Everyone: a mail relay's reputation (and its provider's sending quota, often a few hundred to a few
# thousand a day) is the operator's. 200 an hour covers a whole year group setting addresses at once and
# caps what a coordinated abuse costs the operator.
OVERALL = ((200, HOUR),)
KEEP = DAY  # the longest window: older records no longer count and are deleted


class Scope(StrEnum):
    RESEND = "resend"
    ADDRESS = "address"
    MEMBER = "member"
    OVERALL = "overall"


@dataclass(frozen=True)
class Refusal:
    """A code that may not be sent yet: which limit, and when a new request can succeed."""

    scope: Scope
    count: int
    window: timedelta
    retry_at: datetime


def address_key(address: str) -> bytes:
    """The same key for the spellings that reach the same mailbox at most providers: case, and a +tag."""
    local, _at, domain = address.lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    return hashlib.sha256(f"{local}@{domain}".encode()).digest()


def retry_at(times: Sequence[datetime], count: int, window: timedelta, now: datetime) -> datetime | None:
    """When a new send fits under ``count`` per ``window`` given past ``times`` (oldest first); None if now."""
    recent = [moment for moment in times if moment > now - window]
    if len(recent) < count:
        return None
    # Once the oldest sends that make the excess leave the window, there is room again.
    return recent[len(recent) - count] + window


async def check(
    conn: Connection,
    guild_id: int,
    user_id: int,
    address: str,
    now: datetime,
    confirmed_at: datetime | None = None,
) -> Refusal | None:
    """The limit a code to ``address`` for this member would break, the one that lasts longest; None if none.

    ``confirmed_at``: when the member last confirmed an address in this server; codes before it do not make
    them wait to change it.
    """
    to_address = await store.code_sends_to(conn, address_key(address), now - KEEP)
    by_member = await store.code_sends_by(conn, user_id, now - KEEP)
    overall_count, overall_window = OVERALL[0]
    overall = await store.code_sends_since(conn, now - overall_window, overall_count)
    candidates: list[tuple[Scope, int, timedelta, Sequence[datetime]]] = [
        (
            Scope.RESEND,
            1,
            RESEND_AFTER,
            [m for guild, m in by_member if guild == guild_id and (confirmed_at is None or m > confirmed_at)],
        ),
        *((Scope.ADDRESS, count, window, to_address) for count, window in PER_ADDRESS),
        *((Scope.MEMBER, count, window, [moment for _guild, moment in by_member]) for count, window in PER_MEMBER),
        (Scope.OVERALL, overall_count, overall_window, overall),
    ]
    refusals = []
    for scope, count, window, times in candidates:
        moment = retry_at(times, count, window, now)
        if moment is not None:
            refusals.append(Refusal(scope, count, window, moment))
    return max(refusals, key=lambda refusal: refusal.retry_at, default=None)


async def record(conn: Connection, guild_id: int, user_id: int, address: str, now: datetime) -> int:
    """Count a code about to be emailed (in the transaction that checked the limits); returns its record id."""
    await store.prune_code_sends(conn, now - KEEP)
    return await store.record_code_send(conn, guild_id, user_id, address_key(address), now)


# --- what the member reads ---------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    stamp = int(moment.timestamp()) + (moment.microsecond > 0)
    return f"<t:{stamp}:R> (<t:{stamp}:t>)"


def refusal_text(refusal: Refusal, address: str, pending_address: str | None) -> Text:
    when = _when(refusal.retry_at)
    confirm = command("email confirm", code="")
    if refusal.scope is Scope.RESEND:
        if pending_address:
            return _(
                "I just sent a code to `{address}`. Check that inbox (and its spam folder) and confirm with "
                "{confirm}; you can ask for a new code {when}.",
                address=pending_address,
                confirm=confirm,
                when=when,
            )
        return _(
            "I just sent a code to you. Check that inbox (and its spam folder) and confirm with {confirm}; you can "
            "ask for a new code {when}.",
            confirm=confirm,
            when=when,
        )
    daily = refusal.window >= DAY
    if refusal.scope is Scope.ADDRESS:
        params = {"address": address, "confirm": confirm, "when": when}
        if daily:
            return _n(
                "`{address}` has already been sent {count} confirmation code in the last day, the most I send to "
                "one address, whoever asks. If it is your address, use the latest code in that inbox (or its spam "
                "folder) with {confirm}; otherwise ask again {when}.",
                "`{address}` has already been sent {count} confirmation codes in the last day, the most I send to "
                "one address, whoever asks. If it is your address, use the latest code in that inbox (or its spam "
                "folder) with {confirm}; otherwise ask again {when}.",
                refusal.count,
                **params,
            )
        return _n(
            "`{address}` has already been sent {count} confirmation code in the last hour, the most I send to one "
            "address, whoever asks. If it is your address, use the latest code in that inbox (or its spam folder) "
            "with {confirm}; otherwise ask again {when}.",
            "`{address}` has already been sent {count} confirmation codes in the last hour, the most I send to one "
            "address, whoever asks. If it is your address, use the latest code in that inbox (or its spam folder) "
            "with {confirm}; otherwise ask again {when}.",
            refusal.count,
            **params,
        )
    if refusal.scope is Scope.MEMBER:
        if daily:
            return _n(
                "You have asked for {count} confirmation code in the last day, the most I send for one member. Use "
                "the latest code you got with {confirm}, or ask for a new one {when}.",
                "You have asked for {count} confirmation codes in the last day, the most I send for one member. Use "
                "the latest code you got with {confirm}, or ask for a new one {when}.",
                refusal.count,
                confirm=confirm,
                when=when,
            )
        return _n(
            "You have asked for {count} confirmation code in the last hour, the most I send for one member. Use the "
            "latest code you got with {confirm}, or ask for a new one {when}.",
            "You have asked for {count} confirmation codes in the last hour, the most I send for one member. Use the "
            "latest code you got with {confirm}, or ask for a new one {when}.",
            refusal.count,
            confirm=confirm,
            when=when,
        )
    return _(
        "I have sent as many confirmation codes as I may in an hour (a limit that keeps the bot's mail server off "
        "spam lists), so nothing was sent. Try again {when} with {again}.",
        when=when,
        again=command("email set", address=address),
    )
