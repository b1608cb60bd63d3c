"""Members' email addresses: validation, confirmation codes and the verified address, per member and server.

No Discord objects here: the cog translates. Errors carry the text the member sees.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr

from bot import email_limits, owed, store
from bot.command_names import command
from bot.database import Database
from bot.errors import InputError, StateError
from bot.i18n import Text, _
from bot.models import Delivery, EmailCode, MemberEmail
from bot.sql import Connection

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=30)
MAX_CODE_ATTEMPTS = 5
ADDRESS_MAX = 254  # RFC 5321: the longest path a mail server must accept, minus the angle brackets
LOCAL_MAX = 64
EXAMPLE_ADDRESS = "you@example.com"
EXAMPLE_SET = command("email set", address=EXAMPLE_ADDRESS)

# A dot-atom local part (RFC 5322) and an ASCII host name with a real top-level domain. Quoted local parts,
# IP literals, backquotes and raw Unicode are refused on purpose: they are legal but almost never real
# mailboxes, and refusing them keeps every address safe in a header and in a Discord code span.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")
_CODE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")


def normalize_address(raw: str) -> str:
    """The address as stored (domain lower-cased), or InputError saying what is wrong and what to type."""
    address = raw.strip()
    if not address:
        raise InputError(_("Give your email address, for example {example}.", example=EXAMPLE_SET))
    if any(not char.isprintable() for char in address):
        raise InputError(
            _(
                "An email address is one line of plain characters, without line breaks or tabs. Type just the "
                "address, for example {example}.",
                example=EXAMPLE_SET,
            )
        )
    if len(address) > ADDRESS_MAX:
        raise InputError(
            _(
                "That is {length} characters long; an email address has at most {limit}. Check what you pasted "
                "and type just the address, for example {example}.",
                length=len(address),
                limit=ADDRESS_MAX,
                example=EXAMPLE_SET,
            )
        )
    if any(char.isspace() for char in address):
        raise InputError(
            _("An email address has no spaces. Type just the address, for example {example}.", example=EXAMPLE_SET)
        )
    if not address.isascii():
        raise InputError(
            _(
                "Only plain ASCII addresses are supported (for an international domain, use its xn-- form). "
                "For example {example}.",
                example=EXAMPLE_SET,
            )
        )
    # parseaddr sees through forms such as "Ann <ann@example.com>" or "a@b, c@d", which are not one address.
    name, parsed = parseaddr(address)
    local, at, domain = address.rpartition("@")
    if not at:
        raise InputError(_("That is not an email address: it has no `@`. For example {example}.", example=EXAMPLE_SET))
    if name or parsed != address or "@" in local:
        raise InputError(
            _(
                "Give just one address, without a name or brackets, for example {example}.",
                example=EXAMPLE_SET,
            )
        )
    if not local or len(local) > LOCAL_MAX or not _LOCAL.fullmatch(local):
        raise InputError(
            _(
                "The part before the `@` is not valid (at most {limit} letters, digits and . _ + - and no dot at "
                "either end or twice in a row). For example {example}.",
                limit=LOCAL_MAX,
                example=EXAMPLE_SET,
            )
        )
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or not _TLD.fullmatch(labels[-1]):
        raise InputError(
            _(
                "The part after the `@` must be a full domain name such as `example.com` or `student.uni.edu`. "
                "For example {example}.",
                example=EXAMPLE_SET,
            )
        )
    return f"{local}@{domain.lower()}"


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str, salt: bytes) -> bytes:
    """HMAC-SHA256 keyed by a random per-code salt.

    Six digits cannot resist offline guessing whatever the hash, so the protection lies in the expiry, the
    attempt limit and never logging codes; the hash keeps codes out of backups and database dumps.
    """
    return hmac.new(salt, code.encode("ascii"), hashlib.sha256).digest()


def code_matches(code: str, stored: EmailCode) -> bool:
    return hmac.compare_digest(hash_code(code, stored.salt), stored.digest)


def clean_code(raw: str) -> str:
    """Accept the code as typed or pasted ("123 456", "123-456"); wrong shapes cost no attempt."""
    code = re.sub(r"[\s-]", "", raw)
    if not _CODE.fullmatch(code):
        raise InputError(
            _(
                "A confirmation code is {digits} digits, for example {example}. Copy it from the email I sent you.",
                digits=CODE_DIGITS,
                example=command("email confirm", code="123456"),
            )
        )
    return code


@dataclass(frozen=True)
class CodeRequest:
    """A fresh code to email; the only place the code exists in clear."""

    guild_id: int
    user_id: int
    address: str
    code: str = field(repr=False)
    expires_at: datetime
    current: MemberEmail | None  # the verified address, which stays in use until the new one is confirmed
    send_id: int  # the record the limits count, withdrawn if the email could not be sent


@dataclass(frozen=True)
class Confirmation:
    email: MemberEmail
    owed: list[Delivery]  # the invitations of the member's upcoming talks, recorded with the confirmation


@dataclass(frozen=True)
class Removal:
    guild_id: int
    verified: MemberEmail | None
    pending: EmailCode | None

    @property
    def removed(self) -> bool:
        return self.verified is not None or self.pending is not None


REMOVED = "address removed by the member"


class EmailAddresses:
    """Members' addresses on top of the database: ask for a code, confirm it, remove the address."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    async def verified(self, guild_id: int, user_id: int) -> MemberEmail | None:
        async with self.db.reading() as conn:
            return await store.get_member_email(conn, guild_id, user_id)

    async def request_code(self, guild_id: int, user_id: int, raw_address: str) -> CodeRequest:
        """Validate the address and record a new code for it (hashed); the caller emails the code."""
        address = normalize_address(raw_address)
        now = self.clock()
        async with self.db.transaction() as conn:
            current = await store.get_member_email(conn, guild_id, user_id)
            pending = await store.get_email_code(conn, guild_id, user_id)
            # Checked and recorded in one transaction, so two quick requests cannot both send a code.
            if current is not None and current.address == address:
                raise StateError(
                    _(
                        "`{address}` is already your confirmed address in this server; nothing changed. To use "
                        "another one, run {set} with it; to stop emails, {remove}.",
                        address=address,
                        set=command("email set"),
                        remove=command("email remove"),
                    )
                )
            confirmed_at = current.verified_at if current is not None else None
            refusal = await email_limits.check(conn, guild_id, user_id, address, now, confirmed_at)
            if refusal is not None:
                raise StateError(
                    email_limits.refusal_text(refusal, address, pending.address if pending is not None else None)
                )
            code = new_code()
            salt = secrets.token_bytes(16)
            await store.save_email_code(
                conn,
                EmailCode(
                    guild_id=guild_id,
                    user_id=user_id,
                    address=address,
                    salt=salt,
                    digest=hash_code(code, salt),
                    attempts=0,
                    sent_at=now,
                    expires_at=now + CODE_TTL,
                ),
            )
            send_id = await email_limits.record(conn, guild_id, user_id, address, now)
        return CodeRequest(guild_id, user_id, address, code, now + CODE_TTL, current, send_id)

    async def withdraw_code(self, request: CodeRequest) -> None:
        """Forget a code that could not be emailed, so the member may ask again at once.

        Its record leaves the limits too: no email reached anyone, and a mail server that is down or a typo
        in the address should not cost the member one of their codes.
        """
        async with self.db.transaction() as conn:
            await store.delete_code_send(conn, request.send_id)
            pending = await store.get_email_code(conn, request.guild_id, request.user_id)
            if pending is not None and code_matches(request.code, pending):
                await store.delete_email_code(conn, request.guild_id, request.user_id)

    async def confirm(self, guild_id: int, user_id: int, raw_code: str, display_name: str) -> Confirmation:
        """Mark the pending address verified when the code is right; count a wrong guess otherwise.

        The invitations of the talks the member is already confirmed for are owed from the same commit.
        """
        code = clean_code(raw_code)
        now = self.clock()
        problem: Text | None = None
        confirmed: MemberEmail | None = None
        invitations: list[Delivery] = []
        async with self.db.transaction() as conn:
            pending = await store.get_email_code(conn, guild_id, user_id)
            if pending is None:
                raise StateError(
                    _(
                        "You have no code waiting to be confirmed in this server. Ask for one with {example}.",
                        example=EXAMPLE_SET,
                    )
                )
            again = command("email set", address=pending.address)
            if pending.attempts >= MAX_CODE_ATTEMPTS:
                raise StateError(
                    _(
                        "The code for `{address}` was entered wrongly {attempts} times, so it no longer works. Ask "
                        "for a new one with {again}.",
                        address=pending.address,
                        attempts=MAX_CODE_ATTEMPTS,
                        again=again,
                    )
                )
            if now >= pending.expires_at:
                minutes = int(CODE_TTL.total_seconds() // 60)
                raise StateError(
                    _(
                        "The code for `{address}` has expired (codes last {minutes} minutes). Ask for a new one with "
                        "{again}.",
                        address=pending.address,
                        minutes=minutes,
                        again=again,
                    )
                )
            if not code_matches(code, pending):
                # The wrong guess must be counted, so the error is raised after this transaction commits.
                attempts = await store.count_email_code_attempt(conn, guild_id, user_id)
                left = MAX_CODE_ATTEMPTS - attempts
                if left <= 0:
                    problem = _(
                        "That code is not right, and that was attempt {attempts} of {limit}: the code no longer "
                        "works. Ask for a new one with {again}.",
                        attempts=attempts,
                        limit=MAX_CODE_ATTEMPTS,
                        again=again,
                    )
                else:
                    problem = _(
                        "That code is not right (attempt {attempts} of {limit}; {left} left). Copy the {digits} "
                        "digits from the latest email sent to `{address}`.",
                        attempts=attempts,
                        limit=MAX_CODE_ATTEMPTS,
                        left=left,
                        digits=CODE_DIGITS,
                        address=pending.address,
                    )
            else:
                await store.save_member_email(conn, guild_id, user_id, pending.address, display_name[:100], now)
                await store.delete_email_code(conn, guild_id, user_id)
                confirmed = await store.get_member_email(conn, guild_id, user_id)
                invitations = await owed.emailed_invites(conn, guild_id, user_id, now)
        if problem is not None:
            raise InputError(problem)
        assert confirmed is not None
        return Confirmation(confirmed, invitations)

    async def remove(self, guild_id: int, user_id: int) -> Removal:
        """Forget the member's address in this server and any code in flight; emails still owed are missed."""
        now = self.clock()
        async with self.db.transaction() as conn:
            return await _remove(conn, guild_id, user_id, now)

    async def remove_everywhere(self, user_id: int) -> list[Removal]:
        """/email remove in a DM: the member's addresses and codes in every server (also ones they left)."""
        now = self.clock()
        async with self.db.transaction() as conn:
            guilds = {email.guild_id for email in await store.member_emails_of(conn, user_id)}
            guilds.update(code.guild_id for code in await store.email_codes_of(conn, user_id))
            return [await _remove(conn, guild_id, user_id, now) for guild_id in sorted(guilds)]


async def _remove(conn: Connection, guild_id: int, user_id: int, now: datetime) -> Removal:
    verified = await store.delete_member_email(conn, guild_id, user_id)
    pending = await store.delete_email_code(conn, guild_id, user_id)
    if verified is not None:
        await store.miss_pending_emails(conn, guild_id, user_id, now, REMOVED)
    return Removal(guild_id, verified, pending)
