"""The attendance certificate as sent: the PDF (fpdf2) and its DM, in the member's language.

The text is set in DejaVu Sans, embedded (bot/fonts/, with its licence): it covers Latin with every accent,
Greek, Cyrillic, Armenian, Georgian and more, so a name prints as the member typed it. Dates are written out in
the server's time zone; the verification code and, when the web side is on, the page that checks it close the
document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bot.certificates import Certificate
from bot.i18n import Text, _, _n, render

FONTS = Path(__file__).resolve().parent / "fonts"
FAMILY = "DejaVu"


def hours(minutes: int, language: str) -> str:
    """Hours with up to two decimals, as the reader writes numbers: « 4,5 », "4.5"."""
    return format_decimal(minutes / 60, "#,##0.##", locale=language)


@dataclass(frozen=True)
class Hours(Text):
    """A number of hours as a placeholder, written in the language of the text it fills."""

    minutes: int = 0

    def render(self, language: str) -> str:
        return hours(self.minutes, language)


def day(moment: datetime, zone: ZoneInfo, language: str) -> str:
    return format_date(moment.astimezone(zone).date(), "long", locale=language)


def certificate_pdf(certificate: Certificate, *, zone: ZoneInfo, language: str, verify_url: str | None) -> bytes:
    def say(text: Text) -> str:
        return render(text, language)

    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_font(FAMILY, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FAMILY, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    title = say(_("Attendance certificate"))
    pdf.set_title(title)
    pdf.set_author(certificate.server_name)
    pdf.set_creation_date(certificate.issued_at)
    pdf.add_page()

    pdf.set_font(FAMILY, "B", 20)
    pdf.multi_cell(0, 10, title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 13)
    pdf.multi_cell(0, 8, certificate.server_name, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)

    pdf.set_font(FAMILY, "", 11)
    first = format_date(certificate.first_day, "long", locale=language)
    last = format_date(certificate.last_day, "long", locale=language)
    statement = say(
        _(
            "{server} certifies that {name} attended the following talks during the academic year from {first} "
            "to {last}:",
            server=certificate.server_name,
            name=certificate.display_name,
            first=first,
            last=last,
        )
    )
    pdf.multi_cell(0, 6, statement, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    pdf.set_font(FAMILY, "", 9.5)
    with pdf.table(col_widths=(28, 70, 46, 26), text_align=("LEFT", "LEFT", "LEFT", "RIGHT")) as table:
        header = table.row()
        for heading in (_("Date"), _("Talk"), _("Speaker"), _("Duration (h)")):
            header.cell(say(heading))
        for talk in certificate.talks:
            row = table.row()
            row.cell(format_date(talk.start_at.astimezone(zone).date(), "short", locale=language))
            row.cell(talk.title)
            row.cell(talk.speaker)
            row.cell(hours(talk.duration_min, language))
    pdf.ln(4)

    pdf.set_font(FAMILY, "B", 11)
    total = say(
        _n(
            "Total: {hours} h, {count} talk",
            "Total: {hours} h, {count} talks",
            len(certificate.talks),
            hours=hours(certificate.total_minutes, language),
        )
    )
    pdf.multi_cell(0, 7, total, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 11)
    issued = say(_("Issued on {day}.", day=day(certificate.issued_at, zone, language)))
    pdf.multi_cell(0, 7, issued, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)

    pdf.set_font(FAMILY, "", 10)
    code = say(_("Verification code: {code}", code=certificate.shown_code))
    pdf.multi_cell(0, 6, code, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if verify_url is not None:
        check = say(_("Anyone can check that this certificate is genuine at {url}", url=verify_url))
        pdf.multi_cell(0, 6, check, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def file_name(certificate: Certificate, language: str, marker: str | None = None) -> str:
    """E.g. ``attestation-2026-2027.pdf``; a DM's file also carries its delivery's marker (bot/courier.py)."""
    stem = render(_("attendance-certificate"), language)
    years = f"{certificate.first_day.year}-{certificate.last_day.year}"
    suffix = f"-{marker}" if marker else ""
    return f"{stem}-{years}{suffix}.pdf"


def verify_link(public_url: str | None, certificate: Certificate) -> str | None:
    """The page that checks the certificate, when the web side runs (PUBLIC_URL)."""
    return None if public_url is None else f"{public_url.rstrip('/')}/verify/{certificate.shown_code}"


def certificate_message(certificate: Certificate, language: str, verify_url: str | None) -> str:
    """The DM that carries the PDF."""
    lines = [
        _n(
            "Here is your attendance certificate for {server}: {count} talk, {hours} h this academic year.",
            "Here is your attendance certificate for {server}: {count} talks, {hours} h this academic year.",
            len(certificate.talks),
            server=certificate.server_name,
            hours=hours(certificate.total_minutes, language),
        ),
        _("Its verification code is `{code}`.", code=certificate.shown_code),
    ]
    if verify_url is not None:
        lines.append(_("Whoever receives it can check that it is genuine at <{url}>.", url=verify_url))
    return "\n".join(render(line, language) for line in lines)
