"""The emails Podium sends: confirmation codes, and calendar invitations that keep members' calendars in sync.

Every email is from the operator (MAIL_FROM_NAME <SMTP_FROM>), never from a server: whoever creates a server
picks its name, so the name appears only in the text, as the server's. Every email carries a one-click
unsubscribe (RFC 8058) when the web side runs.

An invitation is multipart/mixed: a multipart/alternative (text, HTML, ``text/calendar; method=...``) that
calendar-aware clients act on, plus the same .ics as an ``application/ics`` attachment, the way Google
Calendar sends its own invitations, for clients that only offer attachments.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from icalendar import vCalAddress

from bot.calendar import Method, finish, invite_filename, new_calendar, talk_event
from bot.models import DeliveryKind, Talk

_WITHDRAWING = frozenset({DeliveryKind.EMAIL_CANCELLED, DeliveryKind.EMAIL_WITHDRAWN})
DEFAULT_ORGANIZER = "Podium"


@dataclass(frozen=True)
class Parties:
    """Who an invitation is from and to."""

    sender: str  # SMTP_FROM: the From address and the ORGANIZER
    sender_name: str  # MAIL_FROM_NAME: the From display name and the ORGANIZER's CN
    server_name: str | None  # the Discord server's name, for the text only (None when the bot is not in it)
    address: str  # the member's verified address: the To address and the ATTENDEE
    attendee_name: str
    unsubscribe_url: str | None = None  # the one-click page; None when the web side is off


def unsubscribe_headers(url: str | None) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe with RFC 8058 one-click: mail apps show an Unsubscribe button that POSTs
    List-Unsubscribe=One-Click to the page. Without a web side there is nothing to click: no headers (a mailto:
    would go to SMTP_FROM, which the bot does not read)."""
    if url is None:
        return {}
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def server_label(parties: Parties) -> str:
    """The server as the text names it: quoted, and marked as a name someone chose."""
    name = plain_name(parties.server_name or "")
    return f"the Discord server “{name}”" if name else "a Discord server"


def sender_label(parties: Parties) -> str:
    return plain_name(parties.sender_name) or DEFAULT_ORGANIZER


def plain_name(name: str) -> str:
    """A display name safe in a header and an iCalendar parameter (no quotes or control characters)."""
    cleaned = "".join(char for char in name if char.isprintable() and char not in '"\\').strip()
    return cleaned[:100]


def invite_method(talk: Talk, kind: DeliveryKind) -> Method:
    return Method.CANCEL if kind in _WITHDRAWING or talk.cancelled else Method.REQUEST


def invite_calendar(talk: Talk, kind: DeliveryKind, parties: Parties, *, tz: ZoneInfo, now: datetime) -> bytes:
    """The iTIP message (RFC 5546): the talk's VEVENT with the same UID and SEQUENCE as the DM invite."""
    method = invite_method(talk, kind)
    calendar = new_calendar(method)
    event = talk_event(talk, tz=tz, now=now, cancelled=method is Method.CANCEL)
    organizer = vCalAddress(f"mailto:{parties.sender}")
    # The CN is shown as who sent the invitation: the operator's name, like From.
    organizer.params["CN"] = sender_label(parties)
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{parties.address}")
    name = plain_name(parties.attendee_name)
    if name:
        attendee.params["CN"] = name
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "NEEDS-ACTION"
    # Podium keeps the seat list itself: replies to the organizer address would go nowhere useful.
    attendee.params["RSVP"] = "FALSE"
    event.add("attendee", attendee)
    calendar.add_component(event)
    return finish(calendar, [talk])


def _local(moment: datetime, tz: ZoneInfo, pattern: str) -> str:
    return moment.astimezone(tz).strftime(pattern)


def _when(talk: Talk, tz: ZoneInfo) -> str:
    start = _local(talk.start_at, tz, "%A %d %B %Y, %H:%M")
    end = _local(talk.end_at, tz, "%H:%M %Z")
    return f"{start}–{end}"


def _effective(talk: Talk, kind: DeliveryKind) -> DeliveryKind:
    """A confirmation or update that goes out after the talk was cancelled says so."""
    if talk.cancelled and kind is not DeliveryKind.EMAIL_WITHDRAWN:
        return DeliveryKind.EMAIL_CANCELLED
    return kind


def invite_subject(talk: Talk, kind: DeliveryKind, tz: ZoneInfo) -> str:
    short = _local(talk.start_at, tz, "%a %d %b %Y %H:%M %Z")
    subjects = {
        DeliveryKind.EMAIL_CONFIRMED: f"Registered: {talk.title} ({short})",
        DeliveryKind.EMAIL_PROMOTED: f"A seat opened up, you're confirmed: {talk.title} ({short})",
        DeliveryKind.EMAIL_UPDATED: f"Updated: {talk.title} is now {short}",
        DeliveryKind.EMAIL_CANCELLED: f"Cancelled: {talk.title} ({short})",
        DeliveryKind.EMAIL_WITHDRAWN: f"Unregistered: {talk.title} ({short})",
    }
    return subjects[_effective(talk, kind)]


def _headline(talk: Talk, kind: DeliveryKind) -> str:
    effective = _effective(talk, kind)
    if effective is DeliveryKind.EMAIL_CONFIRMED:
        return f"You're registered for {talk.title} with {talk.speaker}."
    if effective is DeliveryKind.EMAIL_PROMOTED:
        return f"Good news: a seat opened up and you're now confirmed for {talk.title} with {talk.speaker}."
    if effective is DeliveryKind.EMAIL_UPDATED:
        return f"{talk.title} with {talk.speaker} has changed. Here are the new details."
    if effective is DeliveryKind.EMAIL_CANCELLED:
        reason = f" Reason: {talk.cancel_reason}" if talk.cancel_reason else ""
        return f"{talk.title} with {talk.speaker} has been cancelled.{reason}"
    return f"You're no longer registered for {talk.title}."


def _calendar_note(method: Method) -> str:
    if method is Method.CANCEL:
        return "This email removes the talk from your calendar (most calendar apps do it on their own)."
    return (
        "This email is a calendar invitation: your calendar app adds the talk and updates it if the talk "
        "changes. If it does not, open the attached .ics file."
    )


def _details(talk: Talk, tz: ZoneInfo) -> list[tuple[str, str]]:
    rows = [("When", _when(talk, tz)), ("Speaker", talk.speaker)]
    if talk.location:
        rows.append(("Where", talk.location))
    url = talk.announcement_url()
    if url:
        rows.append(("Announcement", url))
    return rows


def _footer(parties: Parties) -> str:
    stop = f"To stop them, open {parties.unsubscribe_url} or run" if parties.unsubscribe_url else "To stop them, run"
    return (
        f"You get these emails because you confirmed this address with {sender_label(parties)} in "
        f"{server_label(parties)}. {stop} /email remove in that server or in a direct message to the bot."
    )


def _html_unsubscribe(parties: Parties) -> str:
    if parties.unsubscribe_url is None:
        return ""
    return f"<p><small><a href='{html.escape(parties.unsubscribe_url)}'>Unsubscribe</a></small></p>"


def invite_email(
    talk: Talk,
    kind: DeliveryKind,
    parties: Parties,
    *,
    tz: ZoneInfo,
    now: datetime,
    message_id: str,
) -> EmailMessage:
    method = invite_method(talk, kind)
    ics = invite_calendar(talk, kind, parties, tz=tz, now=now)
    headline = _headline(talk, kind)
    details = _details(talk, tz)
    note = _calendar_note(method)
    footer = _footer(parties)

    message = _envelope(parties, invite_subject(talk, kind, tz), now, message_id)
    text_details = "\n".join(f"{label}: {value}" for label, value in details)
    abstract = f"\n\n{talk.description}" if talk.description and method is Method.REQUEST else ""
    message.set_content(f"{headline}\n\n{text_details}{abstract}\n\n{note}\n\n-- \n{footer}\n")
    html_rows = "".join(
        f"<tr><th align='left' style='padding-right:1em'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in details
    )
    html_abstract = f"<p>{html.escape(talk.description)}</p>" if talk.description and method is Method.REQUEST else ""
    message.add_alternative(
        "<!DOCTYPE html><html lang='en'><body>"
        f"<p><strong>{html.escape(headline)}</strong></p><table>{html_rows}</table>{html_abstract}"
        f"<p>{html.escape(note)}</p><hr><p><small>{html.escape(footer)}</small></p>{_html_unsubscribe(parties)}"
        "</body></html>",
        subtype="html",
    )
    # Bytes keep icalendar's CRLF line endings and folding exactly as generated.
    message.add_alternative(
        ics, maintype="text", subtype="calendar", params={"method": method.value, "charset": "utf-8"}
    )
    message.add_attachment(ics, maintype="application", subtype="ics", filename=invite_filename(talk))
    return message


def code_email(
    *,
    code: str,
    parties: Parties,
    expires_in: timedelta,
    now: datetime,
    message_id: str,
) -> EmailMessage:
    """The confirmation code; the subject carries it too, so it shows in a notification."""
    minutes = int(expires_in.total_seconds() // 60)
    sender = sender_label(parties)
    message = _envelope(parties, f"{code} is your {sender} confirmation code", now, message_id)
    stop = (
        f"\nTo get no more email about this from that server: {parties.unsubscribe_url}\n"
        if parties.unsubscribe_url
        else ""
    )
    message.set_content(
        f"Hello {plain_name(parties.attendee_name) or 'there'},\n\n"
        f"Someone, hopefully you, asked {sender} (a Discord bot) in {server_label(parties)} to email "
        "calendar invitations for the talks they register for to this address.\n\n"
        f"Your confirmation code: {code}\n\n"
        f"In Discord, run: /email confirm code:{code}\n"
        f"The code works for {minutes} minutes.\n\n"
        "If this wasn't you, ignore this email: nothing is sent to this address without the code.\n"
        f"{stop}"
    )
    return message


def _envelope(parties: Parties, subject: str, now: datetime, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = plain_subject(subject)
    message["From"] = Address(display_name=sender_label(parties), addr_spec=parties.sender)
    message["To"] = Address(display_name=plain_name(parties.attendee_name), addr_spec=parties.address)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    # RFC 3834: out-of-office robots must not answer these.
    message["Auto-Submitted"] = "auto-generated"
    for name, value in unsubscribe_headers(parties.unsubscribe_url).items():
        message[name] = value
    return message


def plain_subject(subject: str) -> str:
    """Titles are typed by organizers: no line breaks in a header."""
    return " ".join(subject.split())[:200]
