"""Sending email over SMTP with aiosmtplib, errors sorted into "try again later" and "give up"."""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from email.utils import parseaddr

import aiosmtplib

from bot.logs import redact, secret_forms
from bot.settings import Settings

log = logging.getLogger(__name__)

IMPLICIT_TLS_PORT = 465
DEFAULT_TIMEOUT = 30.0


class MailError(Exception):
    """A message was not accepted; ``permanent`` says whether sending it again can help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Mailer:
    """Sends one message per SMTP connection, a few connections at a time.

    A connection per message keeps failures independent (one refused recipient never poisons the next
    message); invites are few enough that the extra handshakes do not matter.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        sender_name: str = "Podium",
        user: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        concurrency: int = 4,
    ) -> None:
        self.host = host
        self.port = port
        # SMTP_FROM may be written "Podium <podium@school.example>": the envelope and ORGANIZER need the address.
        self.sender = parseaddr(sender)[1] or sender
        self.sender_name = sender_name  # MAIL_FROM_NAME: the From display name of every email
        self._user = user
        self._password = password
        # A server may echo the password (or its AUTH encoding) in an error; reasons are stored and logged.
        self._secrets = secret_forms(password or "", user)
        # Port 465 speaks TLS from the first byte; elsewhere STARTTLS upgrades the connection (required
        # unless SMTP_STARTTLS=false, for a relay on the same host).
        self._use_tls = port == IMPLICIT_TLS_PORT
        self._starttls = starttls and not self._use_tls
        self._timeout = timeout
        # Mail servers limit connections per client; the courier may run many deliveries at once.
        self._slots = asyncio.Semaphore(concurrency)

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer | None:
        if not settings.email_enabled or settings.smtp_host is None or settings.smtp_from is None:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            sender_name=settings.mail_from_name,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )

    def __repr__(self) -> str:
        return f"Mailer(host={self.host!r}, port={self.port}, sender={self.sender!r}, starttls={self._starttls})"

    @property
    def domain(self) -> str:
        """The sender's domain, which Message-IDs are made under."""
        return self.sender.rpartition("@")[2] or "podium.invalid"

    def message_id(self, token: str) -> str:
        return f"<{token}@{self.domain}>"

    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the SMTP server; raises MailError when it was not accepted."""
        try:
            await self._send(message)
        except MailError as error:
            error.reason = redact(error.reason, self._secrets)
            error.args = (error.reason,)
            raise

    async def _send(self, message: EmailMessage) -> None:
        try:
            async with self._slots:
                await aiosmtplib.send(
                    message,
                    hostname=self.host,
                    port=self.port,
                    username=self._user,
                    password=self._password,
                    use_tls=self._use_tls,
                    start_tls=self._starttls,
                    timeout=self._timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refused.code for refused in error.recipients]
            first = error.recipients[0] if error.recipients else None
            reason = f"{first.code} {first.message}" if first else "recipient refused"
            raise MailError(reason, permanent=bool(codes) and all(500 <= code < 600 for code in codes)) from None
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPNotSupported) as error:
            # The bot's own mail set-up, not the recipient: worth retrying once the operator fixes it.
            log.error(
                "The SMTP server at %s:%s refused the bot's settings: %s",
                self.host,
                self.port,
                redact(str(error), self._secrets),
            )
            raise MailError(f"SMTP set-up: {error}", permanent=False) from None
        except aiosmtplib.SMTPResponseException as error:
            # RFC 5321: 4xx replies are transient (greylisting, full mailbox, busy server), 5xx are final.
            raise MailError(f"{error.code} {error.message}", permanent=500 <= error.code < 600) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise MailError(f"{type(error).__name__}: {error}", permanent=False) from None
