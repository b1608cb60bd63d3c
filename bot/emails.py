"""The emails Podium sends: confirmation codes, and calendar invitations that keep members' calendars in sync.

Every email is from the operator (MAIL_FROM_NAME <SMTP_FROM>), never from a server: whoever creates a server
picks its name, so the name appears only in the text, as the server's. Every email carries a one-click
unsubscribe (RFC 8058) when the web side runs.

An invitation is multipart/mixed: a multipart/alternative (text, HTML, ``text/calendar; method=...``) that
calendar-aware clients act on, plus the same .ics as an ``application/ics`` attachment, the way Google
Calendar sends its own invitations, for clients that only offer attachments.

Every email is in its recipient's language (subject, both bodies, the .ics texts), says so in Content-Language
and ``<html lang>``, and its links open the unsubscribe page in the same language.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from babel.dates import format_time, get_timezone_name
from icalendar import vCalAddress

from bot.calendar import Method, finish, invite_filename, new_calendar, talk_event
from bot.command_names import command
from bot.i18n import Text, _, _n, _p, long_datetime, render
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


def server_label(parties: Parties) -> Text:
    """The server as the text names it: quoted, and marked as a name someone chose."""
    name = plain_name(parties.server_name or "")
    return _("the Discord server “{name}”", name=name) if name else _("a Discord server")


def sender_label(parties: Parties) -> str:
    return plain_name(parties.sender_name) or DEFAULT_ORGANIZER


def plain_name(name: str) -> str:
    """A display name safe in a header and an iCalendar parameter (no quotes or control characters)."""
    cleaned = "".join(char for char in name if char.isprintable() and char not in '"\\').strip()
    return cleaned[:100]


def invite_method(talk: Talk, kind: DeliveryKind) -> Method:
    return Method.CANCEL if kind in _WITHDRAWING or talk.cancelled else Method.REQUEST


def invite_calendar(
    talk: Talk, kind: DeliveryKind, parties: Parties, *, tz: ZoneInfo, now: datetime, language: str
) -> bytes:
    """The iTIP message (RFC 5546): the talk's VEVENT with the same UID and SEQUENCE as the DM invite."""
    method = invite_method(talk, kind)
    calendar = new_calendar(method)
    event = talk_event(talk, tz=tz, now=now, language=language, cancelled=method is Method.CANCEL)
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


def localised_link(url: str, language: str) -> str:
    """A link to one of Podium's pages that opens in the email's language (the page honours ``?lang=``)."""
    return f"{url}?lang={language}"


def typed_command(path: str, language: str, **options: object) -> str:
    """A slash command as the reader types it (« /courriel supprimer »), without Discord's code span."""
    return render(command(path, **options), language).strip("`")


def _when(talk: Talk, tz: ZoneInfo, language: str) -> Text:
    """E.g. « dimanche 29 mars 2026 à 10:00, jusqu'à 11:30 (heure d'été d'Europe centrale) »."""
    start, end = talk.start_at.astimezone(tz), talk.end_at.astimezone(tz)
    # A talk that ends on another day says which; most end the same day and only need the time.
    until = format_time(end, "HH:mm", locale=language) if end.date() == start.date() else None
    return _(
        "{start}, until {end} ({zone})",
        start=long_datetime(start, tz, language),
        end=until or long_datetime(end, tz, language),
        # The zone's name for the talk's own date: summer or winter time.
        zone=get_timezone_name(start, "long", locale=language),
    )


def _effective(talk: Talk, kind: DeliveryKind) -> DeliveryKind:
    """A confirmation or update that goes out after the talk was cancelled says so."""
    if talk.cancelled and kind is not DeliveryKind.EMAIL_WITHDRAWN:
        return DeliveryKind.EMAIL_CANCELLED
    return kind


def invite_subject(talk: Talk, kind: DeliveryKind, tz: ZoneInfo, language: str) -> str:
    values = {"title": talk.title, "when": long_datetime(talk.start_at, tz, language)}
    effective = _effective(talk, kind)
    if effective is DeliveryKind.EMAIL_CONFIRMED:
        subject = _("Registered: {title} ({when})", **values)
    elif effective is DeliveryKind.EMAIL_PROMOTED:
        subject = _("A seat opened up, you're confirmed: {title} ({when})", **values)
    elif effective is DeliveryKind.EMAIL_UPDATED:
        subject = _("Updated: {title} is now {when}", **values)
    elif effective is DeliveryKind.EMAIL_CANCELLED:
        subject = _("Cancelled: {title} ({when})", **values)
    else:
        subject = _("Unregistered: {title} ({when})", **values)
    return render(subject, language)


def _headline(talk: Talk, kind: DeliveryKind) -> Text:
    values = {"title": talk.title, "speaker": talk.speaker}
    effective = _effective(talk, kind)
    if effective is DeliveryKind.EMAIL_CONFIRMED:
        return _("You're registered for {title} with {speaker}.", **values)
    if effective is DeliveryKind.EMAIL_PROMOTED:
        return _("Good news: a seat opened up and you're now confirmed for {title} with {speaker}.", **values)
    if effective is DeliveryKind.EMAIL_UPDATED:
        return _("{title} with {speaker} has changed. Here are the new details.", **values)
    if effective is DeliveryKind.EMAIL_CANCELLED:
        reason = _(" Reason: {reason}", reason=talk.cancel_reason) if talk.cancel_reason else ""
        return _("{title} with {speaker} has been cancelled.{reason}", reason=reason, **values)
    return _("You're no longer registered for {title}.", title=talk.title)


def _calendar_note(method: Method) -> Text:
    if method is Method.CANCEL:
        return _("This email removes the talk from your calendar (most calendar apps do it on their own).")
    return _(
        "This email is a calendar invitation: your calendar app adds the talk and updates it if the talk "
        "changes. If it does not, open the attached .ics file."
    )


def _details(talk: Talk, tz: ZoneInfo, language: str) -> list[tuple[str, str]]:
    """(label, value) rows of the talk, in the email's language; the values typed by organizers as they are."""
    rows: list[tuple[Text, Text | str]] = [
        (_p("email details", "When"), _when(talk, tz, language)),
        (_p("email details", "Speaker"), talk.speaker),
    ]
    if talk.location:
        rows.append((_p("email details", "Where"), talk.location))
    url = talk.announcement_url()
    if url:
        rows.append((_p("email details", "Announcement"), url))
    return [(render(label, language), render(value, language)) for label, value in rows]


def _footer(parties: Parties, language: str) -> str:
    remove = typed_command("email remove", language)
    if parties.unsubscribe_url:
        stop = _(
            "To stop them, open {url} or run {remove} in that server or in a direct message to the bot.",
            url=localised_link(parties.unsubscribe_url, language),
            remove=remove,
        )
    else:
        stop = _("To stop them, run {remove} in that server or in a direct message to the bot.", remove=remove)
    footer = _(
        "You get these emails because you confirmed this address with {sender} in {server}. {stop}",
        sender=sender_label(parties),
        server=server_label(parties),
        stop=stop,
    )
    return render(footer, language)


def _html_unsubscribe(parties: Parties, language: str) -> str:
    if parties.unsubscribe_url is None:
        return ""
    link = html.escape(localised_link(parties.unsubscribe_url, language))
    label = html.escape(render(_p("email link", "Unsubscribe"), language))
    return f"<p><small><a href='{link}'>{label}</a></small></p>"


def invite_email(
    talk: Talk,
    kind: DeliveryKind,
    parties: Parties,
    *,
    tz: ZoneInfo,
    now: datetime,
    message_id: str,
    language: str,
) -> EmailMessage:
    """The invitation in the member's ``language``: subject, both bodies and the calendar's own texts."""
    method = invite_method(talk, kind)
    ics = invite_calendar(talk, kind, parties, tz=tz, now=now, language=language)
    headline = render(_headline(talk, kind), language)
    details = _details(talk, tz, language)
    note = render(_calendar_note(method), language)
    footer = _footer(parties, language)

    message = _envelope(parties, invite_subject(talk, kind, tz, language), now, message_id)
    text_details = "\n".join(
        render(_("{label}: {value}", label=label, value=value), language) for label, value in details
    )
    abstract = f"\n\n{talk.description}" if talk.description and method is Method.REQUEST else ""
    message.set_content(f"{headline}\n\n{text_details}{abstract}\n\n{note}\n\n-- \n{footer}\n")
    html_rows = "".join(
        f"<tr><th align='left' style='padding-right:1em'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in details
    )
    html_abstract = f"<p>{html.escape(talk.description)}</p>" if talk.description and method is Method.REQUEST else ""
    message.add_alternative(
        f"<!DOCTYPE html><html lang='{html.escape(language)}'><body>"
        f"<p><strong>{html.escape(headline)}</strong></p><table>{html_rows}</table>{html_abstract}"
        f"<p>{html.escape(note)}</p><hr><p><small>{html.escape(footer)}</small></p>"
        f"{_html_unsubscribe(parties, language)}"
        "</body></html>",
        subtype="html",
    )
    # Bytes keep icalendar's CRLF line endings and folding exactly as generated.
    message.add_alternative(
        ics, maintype="text", subtype="calendar", params={"method": method.value, "charset": "utf-8"}
    )
    message.add_attachment(ics, maintype="application", subtype="ics", filename=invite_filename(talk))
    return _in_language(message, language)


def code_email(
    *,
    code: str,
    parties: Parties,
    expires_in: timedelta,
    now: datetime,
    message_id: str,
    language: str,
) -> EmailMessage:
    """The confirmation code, in the ``language`` of the member who asked for it; the subject carries the code
    too, so it shows in a notification."""
    minutes = int(expires_in.total_seconds() // 60)
    sender = sender_label(parties)
    subject = render(_("{code} is your {sender} confirmation code", code=code, sender=sender), language)
    message = _envelope(parties, subject, now, message_id)
    name = plain_name(parties.attendee_name)
    lines: list[Text] = [
        _("Hello {name},", name=name) if name else _("Hello there,"),
        _(
            "Someone, hopefully you, asked {sender} (a Discord bot) in {server} to email calendar invitations "
            "for the talks they register for to this address.",
            sender=sender,
            server=server_label(parties),
        ),
        _("Your confirmation code: {code}", code=code),
        _("In Discord, run: {confirm}", confirm=typed_command("email confirm", language, code=code)),
        _n("The code works for {count} minute.", "The code works for {count} minutes.", minutes),
        _("If this wasn't you, ignore this email: nothing is sent to this address without the code."),
    ]
    if parties.unsubscribe_url:
        lines.append(
            _(
                "To get no more email about this from that server: {url}",
                url=localised_link(parties.unsubscribe_url, language),
            )
        )
    greeting, request, code_line, run, expiry, ignore, *stop = (render(line, language) for line in lines)
    message.set_content("\n\n".join([greeting, request, code_line, f"{run}\n{expiry}", ignore, *stop]) + "\n")
    return _in_language(message, language)


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


def _in_language(message: EmailMessage, language: str) -> EmailMessage:
    """RFC 3282's Content-Language: mail apps offer to translate, screen readers pick a voice. Set once the
    body is built: making a message multipart moves its Content- headers into the first part."""
    message["Content-Language"] = language
    return message


def plain_subject(subject: str) -> str:
    """Titles are typed by organizers: no line breaks in a header. French typography's no-break spaces (before
    « : », inside guillemets) are kept: they are not line breaks, and they keep the colon on its word's line."""
    return re.sub(r"[^\S\u00a0\u202f]+", " ", subject).strip()[:200]
