"""Invitation emails as built (parsed back with icalendar and vobject) and the SMTP client against a local
aiosmtpd server: accepted, transient and permanent replies, a server that is down or silent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar

from bot.calendar import Method, build_invite, talk_uid
from bot.emails import Parties, code_email, invite_email
from bot.errors import ConfigurationError
from bot.mailer import Mailer, MailError
from bot.models import DeliveryKind, Talk, TalkStatus
from bot.settings import load_settings
from tests.mailbox import Mailbox, free_port

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SENDER = "podium@school.example"
OPERATOR = "Podium at the Faculty"
PARTIES = Parties(SENDER, OPERATOR, "Faculty of Medicine", "ann@uni.example", "Ann Lee")
UNSUBSCRIBE = "https://podium.example.edu/unsubscribe/abc"


def make_talk(**changes: object) -> Talk:
    fields: dict[str, object] = {
        "id": 7,
        "guild_id": 99,
        "title": "CRISPR in the clinic",
        "speaker": "Prof. Doudna",
        "speaker_bio": None,
        "description": "Gene editing, from bench to bedside.",
        "location": "Amphi A",
        # Sunday 29 March 2026, 10:00 in Paris: the first morning of summer time (UTC+2, not +1).
        "start_at": datetime(2026, 3, 29, 8, 0, tzinfo=UTC),
        "duration_min": 90,
        "capacity": 2,
        "reminders": (60,),
        "announce_at": None,
        "status": TalkStatus.SCHEDULED,
        "cancel_reason": None,
        "sequence": 3,
        "announcement_channel_id": None,
        "announcement_message_id": None,
        "created_by": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }
    fields.update(changes)
    return Talk(**fields)  # type: ignore[arg-type]


def parts(message: EmailMessage) -> dict[str, EmailMessage]:
    return {part.get_content_type(): part for part in message.walk()}  # type: ignore[misc]


def calendar_text(message: EmailMessage) -> str:
    return parts(message)["text/calendar"].get_content()


def test_invitation_is_an_itip_request_both_parsers_agree() -> None:
    talk = make_talk()
    message = invite_email(
        talk,
        DeliveryKind.EMAIL_CONFIRMED,
        PARTIES,
        tz=PARIS,
        now=NOW,
        message_id="<podium-delivery-1.5@x>",
        language="en",
    )
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html", "text/calendar"]
    ics_part = parts(message)["text/calendar"]
    assert ics_part.get_param("method") == "REQUEST"
    assert ics_part.get_param("charset") == "utf-8"
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "podium-talk-7.ics"
    assert attachment.get_content() == ics_part.get_content().encode()
    assert "\r\n" in ics_part.get_content()  # icalendar's CRLF line ends survive the trip

    assert message["Subject"] == "Registered: CRISPR in the clinic (Sunday, March 29, 2026 at 10:00)"
    assert message["Content-Language"] == "en"
    assert message["From"].addresses[0].addr_spec == SENDER
    # From is the operator's; the server's name is in the text only, quoted as the server's
    assert message["From"].addresses[0].display_name == OPERATOR
    assert message["To"].addresses[0].addr_spec == "ann@uni.example"
    assert message["Message-ID"] == "<podium-delivery-1.5@x>"
    assert message["Auto-Submitted"] == "auto-generated"
    text = parts(message)["text/plain"].get_content()
    assert "When: Sunday, March 29, 2026 at 10:00, until 11:30 (Central European Summer Time)" in text
    assert "/email remove" in text
    assert "the Discord server “Faculty of Medicine”" in text
    assert "List-Unsubscribe" not in message  # no web side: nothing to click

    calendar = Calendar.from_ical(calendar_text(message))
    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    dm = Calendar.from_ical(build_invite(talk, tz=PARIS, now=NOW, language="en", method=Method.PUBLISH))
    [dm_event] = dm.walk("VEVENT")
    assert str(event["UID"]) == str(dm_event["UID"]) == talk_uid(talk)
    assert event["SEQUENCE"] == dm_event["SEQUENCE"] == 3
    assert event.decoded("DTSTART") == talk.start_at
    assert event.decoded("DTSTART").utcoffset() == timedelta(hours=2)
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["ORGANIZER"]) == f"mailto:{SENDER}"
    assert event["ORGANIZER"].params["CN"] == OPERATOR
    assert str(event["ATTENDEE"]) == "mailto:ann@uni.example"
    assert dict(event["ATTENDEE"].params) == {
        "CN": "Ann Lee",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "FALSE",
    }
    [zone] = calendar.walk("VTIMEZONE")
    assert {c.name for c in zone.subcomponents} == {"STANDARD", "DAYLIGHT"}

    # vobject, written independently, reads the same instant and the same people
    parsed = vobject.readOne(calendar_text(message))
    assert parsed.method.value == "REQUEST"
    assert parsed.vevent.uid.value == talk_uid(talk)
    assert int(parsed.vevent.sequence.value) == 3
    assert parsed.vevent.dtstart.value == talk.start_at
    assert parsed.vevent.dtend.value == talk.end_at
    assert parsed.vevent.organizer.value == f"mailto:{SENDER}"
    assert parsed.vevent.attendee.value == "mailto:ann@uni.example"
    assert parsed.vevent.attendee.params == {
        "CN": ["Ann Lee"],
        "ROLE": ["REQ-PARTICIPANT"],
        "PARTSTAT": ["NEEDS-ACTION"],
        "RSVP": ["FALSE"],
    }


def test_winter_talk_keeps_its_instant_across_the_dst_change() -> None:
    talk = make_talk(start_at=datetime(2026, 3, 28, 9, 0, tzinfo=UTC))  # Saturday 10:00 CET, the day before
    message = invite_email(
        talk, DeliveryKind.EMAIL_UPDATED, PARTIES, tz=PARIS, now=NOW, message_id="<m@x>", language="en"
    )
    assert message["Subject"] == "Updated: CRISPR in the clinic is now Saturday, March 28, 2026 at 10:00"
    assert "10:00, until 11:30 (Central European Standard Time)" in parts(message)["text/plain"].get_content()
    [event] = Calendar.from_ical(calendar_text(message)).walk("VEVENT")
    assert event.decoded("DTSTART") == talk.start_at
    assert event.decoded("DTSTART").utcoffset() == timedelta(hours=1)
    assert vobject.readOne(calendar_text(message)).vevent.dtstart.value == talk.start_at


@pytest.mark.parametrize(
    ("kind", "status", "subject"),
    [
        (DeliveryKind.EMAIL_WITHDRAWN, TalkStatus.SCHEDULED, "Unregistered: CRISPR in the clinic"),
        (DeliveryKind.EMAIL_CANCELLED, TalkStatus.CANCELLED, "Cancelled: CRISPR in the clinic"),
        # a confirmation that could only go out after the talk was cancelled withdraws it instead
        (DeliveryKind.EMAIL_CONFIRMED, TalkStatus.CANCELLED, "Cancelled: CRISPR in the clinic"),
    ],
)
def test_withdrawals_are_method_cancel(kind: DeliveryKind, status: TalkStatus, subject: str) -> None:
    talk = make_talk(status=status, cancel_reason="Speaker ill" if status is TalkStatus.CANCELLED else None)
    message = invite_email(talk, kind, PARTIES, tz=PARIS, now=NOW, message_id="<m@x>", language="en")
    assert message["Subject"].startswith(subject)
    assert parts(message)["text/calendar"].get_param("method") == "CANCEL"
    calendar = Calendar.from_ical(calendar_text(message))
    assert calendar["METHOD"] == "CANCEL"
    [event] = calendar.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"
    assert event["SEQUENCE"] == 3
    assert not event.walk("VALARM")
    parsed = vobject.readOne(calendar_text(message))
    assert parsed.method.value == "CANCEL"
    assert parsed.vevent.status.value == "CANCELLED"
    if status is TalkStatus.CANCELLED:
        assert "Reason: Speaker ill" in parts(message)["text/plain"].get_content()


def test_typed_names_cannot_break_headers_html_or_parameters() -> None:
    talk = make_talk(title='Line\r\nBcc: evil@x <script>alert("x")</script>')
    parties = Parties(
        SENDER, 'Op "A"\r\nBcc: evil@x', 'Club "A"\r\nBcc: evil@x', "ann@uni.example", 'Ann "Ace" \\ Lee\n'
    )
    message = invite_email(
        talk, DeliveryKind.EMAIL_CONFIRMED, parties, tz=PARIS, now=NOW, message_id="<m@x>", language="en"
    )
    headers = message.as_bytes().split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in headers
    assert "Bcc" not in message.keys()  # noqa: SIM118 - header names, not a dict
    assert "<script>" not in parts(message)["text/html"].get_content()
    assert "&lt;script&gt;" in parts(message)["text/html"].get_content()
    [event] = Calendar.from_ical(calendar_text(message)).walk("VEVENT")
    assert event["ATTENDEE"].params["CN"] == "Ann Ace  Lee"
    assert event["ORGANIZER"].params["CN"] == "Op ABcc: evil@x"
    assert "the Discord server “Club ABcc: evil@x”" in parts(message)["text/plain"].get_content()
    assert vobject.readOne(calendar_text(message)).vevent.attendee.params["CN"] == ["Ann Ace  Lee"]


def test_code_email_says_what_to_do() -> None:
    message = code_email(
        code="042137", parties=PARTIES, expires_in=timedelta(minutes=30), now=NOW, message_id="<c@x>", language="en"
    )
    assert message["Subject"] == f"042137 is your {OPERATOR} confirmation code"
    assert message["From"].addresses[0].display_name == OPERATOR
    body = message.get_content()
    assert "/email confirm code:042137" in body
    assert "30 minutes" in body
    assert "in the Discord server “Faculty of Medicine”" in body
    assert "ignore this email" in body


def test_every_email_carries_a_one_click_unsubscribe_when_the_web_side_runs() -> None:
    parties = Parties(SENDER, OPERATOR, "Faculty of Medicine", "ann@uni.example", "Ann", unsubscribe_url=UNSUBSCRIBE)
    code = code_email(
        code="042137", parties=parties, expires_in=timedelta(minutes=30), now=NOW, message_id="<c@x>", language="en"
    )
    invite = invite_email(
        make_talk(), DeliveryKind.EMAIL_CONFIRMED, parties, tz=PARIS, now=NOW, message_id="<i@x>", language="en"
    )
    for message in (code, invite):
        assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert UNSUBSCRIBE in code.get_content()
    assert UNSUBSCRIBE in parts(invite)["text/plain"].get_content()
    # the links in the text open the page in the email's language; the header's is the bare link
    assert f"<a href='{UNSUBSCRIBE}?lang=en'>Unsubscribe</a>" in parts(invite)["text/html"].get_content()


# --- the SMTP client -----------------------------------------------------------------------------------------


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    box = await Mailbox(user="podium", password="s3cret-pw").start()
    yield box
    await box.stop()


def mailer_for(box: Mailbox, **changes: object) -> Mailer:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": box.port,
        "sender": f"Podium <{SENDER}>",
        "user": "podium",
        "password": "s3cret-pw",
        "starttls": False,
        "timeout": 5.0,
    }
    options.update(changes)
    return Mailer(**options)  # type: ignore[arg-type]


def sample() -> EmailMessage:
    return invite_email(
        make_talk(), DeliveryKind.EMAIL_CONFIRMED, PARTIES, tz=PARIS, now=NOW, message_id="<s@x>", language="en"
    )


async def test_accepted_message_arrives_intact(mailbox: Mailbox) -> None:
    mailer = mailer_for(mailbox)
    assert mailer.sender == SENDER
    assert mailer.message_id("podium-delivery-4.1") == "<podium-delivery-4.1@school.example>"
    await mailer.send(sample())
    [received] = await mailbox.wait_for(1)
    assert mailbox.logins == 1
    assert received.sender == SENDER
    assert received.recipients == ["ann@uni.example"]
    assert received.message["Message-ID"] == "<s@x>"
    assert Calendar.from_ical(calendar_text(received.message))["METHOD"] == "REQUEST"


@pytest.mark.parametrize(
    ("set_up", "permanent", "reason"),
    [
        (lambda box: box.data_replies.append("451 4.3.0 Try again later"), False, "451"),
        (lambda box: box.refuse.update({"ann@uni.example": "450 4.2.1 Mailbox busy"}), False, "450"),
        (lambda box: box.refuse.update({"ann@uni.example": "550 5.1.1 No such user"}), True, "550 5.1.1 No such user"),
        (lambda box: box.data_replies.append("554 5.6.0 Message rejected"), True, "554"),
    ],
)
async def test_replies_sorted_into_retry_or_give_up(
    mailbox: Mailbox, set_up: object, permanent: bool, reason: str
) -> None:
    set_up(mailbox)  # type: ignore[operator]
    with pytest.raises(MailError) as error:
        await mailer_for(mailbox).send(sample())
    assert error.value.permanent is permanent
    assert reason in error.value.reason
    assert mailbox.received == []


async def test_server_down_is_transient(mailbox: Mailbox) -> None:
    await mailbox.stop()
    with pytest.raises(MailError) as error:
        await mailer_for(mailbox).send(sample())
    assert error.value.permanent is False
    assert "Connect" in error.value.reason


async def test_silent_server_times_out(caplog: pytest.LogCaptureFixture) -> None:
    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # holds the connection open without a greeting
        writer.close()

    port = free_port()
    server = await asyncio.start_server(say_nothing, "127.0.0.1", port)
    try:
        mailer = Mailer(host="127.0.0.1", port=port, sender=SENDER, starttls=False, timeout=0.3)
        with pytest.raises(MailError) as error:
            await mailer.send(sample())
    finally:
        server.close()
    assert error.value.permanent is False
    assert "Timeout" in error.value.reason


async def test_bad_credentials_and_missing_starttls_wait_for_the_operator(
    mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailError) as error:
        await mailer_for(mailbox, password="wrong-pw").send(sample())
    assert error.value.permanent is False
    assert "535" in error.value.reason
    with pytest.raises(MailError) as error:
        await mailer_for(mailbox, starttls=True).send(sample())
    assert error.value.permanent is False
    assert "STARTTLS" in error.value.reason
    assert mailbox.received == []
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("bot"))
    assert "refused the bot's settings" in logged
    assert "wrong-pw" not in logged
    assert "s3cret-pw" not in logged


def test_settings_and_repr_keep_the_password_out() -> None:
    base = {"DISCORD_TOKEN": "t"}
    assert Mailer.from_settings(load_settings(base, env_file=None)) is None
    settings = load_settings(
        {**base, "SMTP_HOST": "smtp.school.example", "SMTP_USER": "podium", "SMTP_PASSWORD": "s3cret-pw",
         "SMTP_FROM": "Podium <podium@school.example>"},
        env_file=None,
    )  # fmt: skip
    mailer = Mailer.from_settings(settings)
    assert mailer is not None
    assert (mailer.host, mailer.port, mailer.sender) == ("smtp.school.example", 587, SENDER)
    assert "s3cret-pw" not in repr(mailer)
    assert "s3cret-pw" not in repr(settings)
    assert Mailer(host="h", port=465, sender=SENDER)._use_tls  # implicit TLS on the submission-over-TLS port


def test_the_from_name_is_the_operators_setting() -> None:
    base = {"DISCORD_TOKEN": "t", "SMTP_HOST": "smtp.school.example"}
    named = load_settings({**base, "SMTP_FROM": "Podium <podium@school.example>"}, env_file=None)
    assert named.mail_from_name == "Podium"
    own = load_settings({**base, "SMTP_FROM": "Faculty IT <it@school.example>"}, env_file=None)
    assert own.mail_from_name == "Faculty IT"
    chosen = load_settings({**base, "SMTP_FROM": SENDER, "MAIL_FROM_NAME": "Talks of the Faculty"}, env_file=None)
    assert chosen.mail_from_name == "Talks of the Faculty"
    assert load_settings({**base, "SMTP_FROM": SENDER}, env_file=None).mail_from_name == "Podium"
    mailer = Mailer.from_settings(chosen)
    assert mailer is not None and mailer.sender_name == "Talks of the Faculty"
    with pytest.raises(ConfigurationError, match="MAIL_FROM_NAME"):
        load_settings({**base, "SMTP_FROM": SENDER, "MAIL_FROM_NAME": "x" * 101}, env_file=None)


async def test_a_password_the_server_echoes_is_not_kept_in_the_error() -> None:
    box = await Mailbox(user="podium", password="right-pw", echo_failed_password=True).start()
    try:
        mailer = Mailer(
            host="127.0.0.1", port=box.port, sender=SENDER, user="podium", password="wrong-pw-1", starttls=False
        )
        with pytest.raises(MailError) as error:
            await mailer.send(
                code_email(code="1", parties=PARTIES, expires_in=timedelta(1), now=NOW, message_id="<x>", language="en")
            )
    finally:
        await box.stop()
    assert "Wrong password '[redacted]'" in error.value.reason
    assert "wrong-pw-1" not in str(error.value)
    assert not error.value.permanent
