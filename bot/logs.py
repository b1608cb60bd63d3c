"""Logging set-up that keeps the bot token out of every log line."""

from __future__ import annotations

import logging


class RedactFilter(logging.Filter):
    """Replaces a secret wherever it would appear in a formatted record (message, args, traceback)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secret:
            return True
        message = record.getMessage()
        if self.secret in message:
            record.msg = message.replace(self.secret, "[redacted]")
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self.secret, "[redacted]")
        return True


def setup_logging(level: str, secret: str = "") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
    handler.addFilter(RedactFilter(secret))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's HTTP debug lines are noisy even at DEBUG; keep them at INFO unless asked.
    logging.getLogger("discord.http").setLevel(max(logging.INFO, root.level))
    # APScheduler logs every job added and run at INFO; Podium logs what its jobs did instead.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
