"""The certificate check: GET /verify/<code> says whether an attendance certificate is genuine.

A genuine code gets a page with what the certificate lists (server, member's name, academic year, talks,
total hours, date of issue) and nothing else: no Discord id, no link into the server. Any other code gets the
same "not genuine" page, answered 404, whether it is mistyped, forged or was never issued.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from babel.dates import format_date

from bot.certificate_pdf import hours
from bot.certificates import Certificate, Certificates
from bot.i18n import DEFAULT_LANGUAGE, _, _n, render

CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept-Language",
}
HEADINGS = (_("Date"), _("Talk"), _("Speaker"), _("Duration (h)"))
PATH = "/verify/{code:[A-Za-z0-9-]{1,64}}"

MemberLanguage = Callable[[int, int], Awaitable[str]]
PageLanguage = Callable[["str | None", str, str], str]
Zone = Callable[[int], Awaitable[ZoneInfo]]


class VerifyPages:
    def __init__(
        self, certificates: Certificates, member_language: MemberLanguage, page_language: PageLanguage, zone: Zone
    ) -> None:
        self.certificates = certificates
        self.member_language = member_language
        self.page_language = page_language
        self.zone = zone

    async def check(self, request: web.Request) -> web.Response:
        certificate = await self.certificates.verify(request.match_info["code"])
        fallback = (
            DEFAULT_LANGUAGE
            if certificate is None
            else await self.member_language(certificate.guild_id, certificate.user_id)
        )
        language = self.page_language(request.query.get("lang"), request.headers.get("Accept-Language", ""), fallback)
        if certificate is None:
            context: dict[str, object] = {
                "language": language,
                "title": render(_("Certificate not found"), language),
                "lines": [
                    render(
                        _(
                            "No attendance certificate has this code: it is not genuine, or the code was mistyped. "
                            "Check the code printed at the bottom of the certificate."
                        ),
                        language,
                    )
                ],
                "certificate": None,
            }
            return self._page(request, context, status=404)
        return self._page(request, await self._genuine(certificate, language), status=200)

    async def _genuine(self, certificate: Certificate, language: str) -> dict[str, object]:
        zone = await self.zone(certificate.guild_id)
        first = format_date(certificate.first_day, "long", locale=language)
        last = format_date(certificate.last_day, "long", locale=language)
        issued = format_date(certificate.issued_at.astimezone(zone).date(), "long", locale=language)
        lines = [
            _(
                "This attendance certificate is genuine: it was issued by Podium for {server}.",
                server=certificate.server_name,
            ),
            _(
                "It certifies that {name} attended the talks below during the academic year from {first} to {last}.",
                name=certificate.display_name,
                first=first,
                last=last,
            ),
            _n(
                "Total: {hours} h, {count} talk. Issued on {day}.",
                "Total: {hours} h, {count} talks. Issued on {day}.",
                len(certificate.talks),
                hours=hours(certificate.total_minutes, language),
                day=issued,
            ),
        ]
        return {
            "language": language,
            "title": render(_("Genuine attendance certificate"), language),
            "lines": [render(line, language) for line in lines],
            "certificate": {
                "headings": [
                    render(text, language) for text in (_("Date"), _("Talk"), _("Speaker"), _("Duration (h)"))
                ],
                "rows": [
                    (
                        format_date(talk.start_at.astimezone(zone).date(), "long", locale=language),
                        talk.title,
                        talk.speaker,
                        hours(talk.duration_min, language),
                    )
                    for talk in certificate.talks
                ],
            },
        }

    @staticmethod
    def _page(request: web.Request, context: dict[str, object], *, status: int) -> web.Response:
        body = aiohttp_jinja2.render_string("verify.html", request, context)
        return web.Response(status=status, text=body, content_type="text/html", charset="utf-8", headers=HEADERS)


def add_routes(
    app: web.Application,
    certificates: Certificates,
    member_language: MemberLanguage,
    page_language: PageLanguage,
    zone: Zone,
) -> None:
    app.router.add_get(PATH, VerifyPages(certificates, member_language, page_language, zone).check)
