"""A local SMTP server (aiosmtpd) on 127.0.0.1 for the email tests: keeps what it accepts, fails on request."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        # A subject of 70 to 77 characters is folded whole onto the next line ("Subject:\r\n Registered: ..."),
        # and Python's parser keeps the fold's space, which mail apps drop.
        return str(self.message["Subject"]).lstrip()


@dataclass
class Mailbox:
    """Accepts mail like a relay would. ``refuse`` maps an address to the RCPT reply it gets; ``data_replies``
    answers the next DATA commands (e.g. "451 ..."): such messages are kept in ``attempts``, not ``received``."""

    user: str | None = None
    password: str | None = None
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    attempts: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    logins: int = 0
    # Like some servers, answer a failed login with the password that was tried (a leak the bot must contain).
    echo_failed_password: bool = False
    _server: asyncio.Server | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> Mailbox:
        loop = asyncio.get_running_loop()
        options: dict[str, Any] = {}
        if self.user is not None:
            options = {"auth_required": True, "auth_require_tls": False, "authenticator": self._authenticate}

        def protocol() -> SMTP:
            with warnings.catch_warnings():
                # AUTH without TLS is what a test relay on 127.0.0.1 does; aiosmtpd warns about it.
                warnings.simplefilter("ignore", UserWarning)
                return SMTP(self, hostname="mail.test", loop=loop, **options)

        self._server = await loop.create_server(protocol, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        """Stop listening: connections are refused, like a mail server that is down."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
            self.user,
            self.password,
        )
        self.logins += ok
        if not ok and self.echo_failed_password and isinstance(data, LoginPassword):
            tried = data.password.decode(errors="replace")
            return AuthResult(success=False, handled=False, message=f"535 5.7.8 Wrong password {tried!r}")
        # handled=False: aiosmtpd answers 235 or 535 itself.
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        item = Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw, message)
        if self.data_replies:
            self.attempts.append(item)
            return self.data_replies.pop(0)
        async with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` messages in all were accepted; returns them all."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [item for item in self.received if address in item.recipients]
