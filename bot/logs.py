"""Logging set-up that keeps the bot's secrets (the token, the SMTP password) out of every log line."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET = 4  # shorter values would blank out ordinary words; no real token or password is that short


def secret_forms(secret: str, user: str | None = None) -> list[str]:
    """The secret and the encodings SMTP AUTH sends it in (LOGIN: base64 of it; PLAIN: of NUL user NUL it),
    which a protocol trace or an error that echoes the command would show."""
    if len(secret) < MIN_SECRET:
        return []
    forms = [secret, base64.b64encode(secret.encode()).decode("ascii")]
    if user:
        forms.append(base64.b64encode(f"\0{user}\0{secret}".encode()).decode("ascii"))
    return forms


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactFilter(logging.Filter):
    """Replaces secrets wherever they would appear in a formatted record (message, args, traceback, stack)."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def setup_logging(level: str, *secrets: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
    handler.addFilter(RedactFilter(*secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's HTTP debug lines are noisy even at DEBUG; keep them at INFO unless asked.
    logging.getLogger("discord.http").setLevel(max(logging.INFO, root.level))
    # APScheduler logs every job added and run at INFO; Podium logs what its jobs did instead.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
