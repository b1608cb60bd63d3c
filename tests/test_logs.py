"""Secrets out of log lines: the filter on a real handler, for messages, arguments, tracebacks and stacks."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import RedactFilter, secret_forms, setup_logging

TOKEN = "MTIz.bot-token.XYZ"
PASSWORD = "smtp-Pa55word!"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the bot's own handler (setup_logging) writes, captured in memory."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("INFO", TOKEN, *secret_forms(PASSWORD, "podium"))
    stream = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)


def test_the_smtp_password_is_redacted_from_messages_arguments_and_tracebacks(logged: io.StringIO) -> None:
    log = logging.getLogger("bot.test.logs")
    log.error("SMTP said: 535 bad password %r", PASSWORD)
    log.warning("login was %s", base64.b64encode(f"\0podium\0{PASSWORD}".encode()).decode())
    try:
        raise RuntimeError(f"auth failed with {PASSWORD} for token {TOKEN}")
    except RuntimeError:
        log.exception("sending failed")
    log.info("here is %s", PASSWORD, stack_info=True)
    text = logged.getvalue()
    assert PASSWORD not in text
    assert TOKEN not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text
    assert "SMTP said: 535 bad password '[redacted]'" in text
    assert "RuntimeError: auth failed with [redacted] for token [redacted]" in text
    assert "Traceback" in text and "Stack (most recent call last)" in text
    assert text.count("[redacted]") >= 5


def test_short_or_empty_secrets_blank_nothing_else() -> None:
    assert secret_forms("", "podium") == []
    assert secret_forms("abc") == []
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a b c %s", ("d",), None)
    assert RedactFilter("", *secret_forms("")).filter(record)
    assert record.getMessage() == "a b c d"
