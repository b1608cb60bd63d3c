"""The unsubscribe page: GET asks (link checkers and previews open links), POST stops (RFC 8058 one-click).

  GET  /unsubscribe/<token>   a page with one button
  POST /unsubscribe/<token>   body List-Unsubscribe=One-Click: stops the server's emails to that address
An unknown or altered token gets the web side's one 404, like every other miss.

The page speaks the language the email's link names (``?lang=``), else the browser's (Accept-Language), else
the member's own, and says which in ``<html lang>``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp_jinja2
from aiohttp import web

from bot.command_names import command
from bot.i18n import DEFAULT_LANGUAGE, Text, _, _n, render
from bot.unsubscribe import Stopped, Target, Unsubscribes

log = logging.getLogger(__name__)

ONE_CLICK = ("List-Unsubscribe", "One-Click")
# The page's own form posts back to it; nothing else may load or run.
CSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": CSP,
    "Vary": "Accept-Language",
}

ServerName = Callable[[int], "str | None"]
# The member's own language (their last interaction's, else their server's), for the server and member given.
MemberLanguage = Callable[[int, int], Awaitable[str]]
# Picks the page's language the way the agenda page does: ?lang=, then Accept-Language, then the fallback.
PageLanguage = Callable[["str | None", str, str], str]


def _server(server_name: ServerName, target: Target) -> Text:
    name = server_name(target.guild_id)
    return _("the Discord server “{name}”", name=name) if name else _("a Discord server")


def ask_lines(server: Text) -> list[Text]:
    return [
        _("You get emails from Podium because someone gave this address in {server}.", server=server),
        _(
            "Stop every email from that server to this address? Calendar invitations already in your calendar stay "
            "there; you will not get updates or cancellations by email."
        ),
    ]


def done_lines(server: Text, stopped: Stopped, set_command: str) -> list[Text]:
    lines = [_("Done: Podium will send no more email from {server} to this address.", server=server)]
    if stopped.missed:
        lines.append(
            _n(
                "{count} email that was about to go out was cancelled.",
                "{count} emails that were about to go out were cancelled.",
                stopped.missed,
            )
        )
    lines.append(
        _(
            "If you want these emails again, run {command} in that server. Calendar invites still come by Discord DM.",
            command=set_command,
        )
    )
    return lines


class UnsubscribePages:
    def __init__(
        self,
        unsubscribes: Unsubscribes,
        server_name: ServerName,
        member_language: MemberLanguage,
        page_language: PageLanguage,
    ) -> None:
        self.unsubscribes = unsubscribes
        self.server_name = server_name
        self.member_language = member_language
        self.page_language = page_language

    async def _language(self, request: web.Request, target: Target) -> str:
        """The language the email's link asks for (?lang=), else the browser's, else the member's own."""
        fallback = await self.member_language(target.guild_id, target.user_id)
        return self.page_language(request.query.get("lang"), request.headers.get("Accept-Language", ""), fallback)

    def _page(self, request: web.Request, language: str, title: Text, lines: list[Text], *, ask: bool) -> web.Response:
        context = {
            "language": language,
            "title": render(title, language),
            "lines": [render(line, language) for line in lines],
            "ask": ask,
        }
        body = aiohttp_jinja2.render_string("unsubscribe.html", request, context)
        return web.Response(text=body, content_type="text/html", charset="utf-8", headers=HEADERS)

    async def confirm_page(self, request: web.Request) -> web.Response:
        target = await self.unsubscribes.target(request.match_info["token"])
        if target is None:
            raise web.HTTPNotFound
        language = await self._language(request, target)
        lines = ask_lines(_server(self.server_name, target))
        return self._page(request, language, _("Stop these emails?"), lines, ask=True)

    async def one_click(self, request: web.Request) -> web.Response:
        # Checked before the token, so a wrong body says nothing about whether a token exists.
        form = await request.post()
        if form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
            # Only a mail app or a script gets here, never the page's button; no member to ask about.
            language = self.page_language(
                request.query.get("lang"), request.headers.get("Accept-Language", ""), DEFAULT_LANGUAGE
            )
            wrong = _("Send List-Unsubscribe=One-Click, as the button on this page does.")
            return web.Response(status=400, text=render(wrong, language) + "\n")
        stopped = await self.unsubscribes.stop(request.match_info["token"])
        if stopped is None:
            raise web.HTTPNotFound
        log.info(
            "Unsubscribe link followed (guild %s, member %s): address removed %s, code voided %s, %d emails missed",
            stopped.target.guild_id,
            stopped.target.user_id,
            stopped.removed_address,
            stopped.cancelled_code,
            stopped.missed,
        )
        language = await self._language(request, stopped.target)
        server = _server(self.server_name, stopped.target)
        set_command = render(command("email set"), language).strip("`")
        lines = done_lines(server, stopped, set_command)
        return self._page(request, language, _("Unsubscribed"), lines, ask=False)


def add_routes(
    app: web.Application,
    unsubscribes: Unsubscribes,
    server_name: ServerName,
    member_language: MemberLanguage,
    page_language: PageLanguage,
) -> None:
    pages = UnsubscribePages(unsubscribes, server_name, member_language, page_language)
    path = "/unsubscribe/{token:[A-Za-z0-9_-]{1,128}}"
    app.router.add_get(path, pages.confirm_page)
    app.router.add_post(path, pages.one_click)
