"""The unsubscribe page: GET asks (link checkers and previews open links), POST stops (RFC 8058 one-click).

  GET  /unsubscribe/<token>   a page with one button
  POST /unsubscribe/<token>   body List-Unsubscribe=One-Click: stops the server's emails to that address
An unknown or altered token gets the web side's one 404, like every other miss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp_jinja2
from aiohttp import web

from bot.unsubscribe import Stopped, Target, Unsubscribes

log = logging.getLogger(__name__)

ONE_CLICK = ("List-Unsubscribe", "One-Click")
# The page's own form posts back to it; nothing else may load or run.
CSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Content-Security-Policy": CSP}
SERVER = "the Discord server “{name}”"
SOME_SERVER = "a Discord server"

ServerName = Callable[[int], "str | None"]


def _server(server_name: ServerName, target: Target) -> str:
    name = server_name(target.guild_id)
    return SERVER.format(name=name) if name else SOME_SERVER


def ask_lines(server: str) -> list[str]:
    return [
        f"You get emails from Podium because someone gave this address in {server}.",
        "Stop every email from that server to this address? Calendar invitations already in your calendar stay "
        "there; you will not get updates or cancellations by email.",
    ]


def done_lines(server: str, stopped: Stopped) -> list[str]:
    lines = [f"Done: Podium will send no more email from {server} to this address."]
    if stopped.missed:
        lines.append(f"{stopped.missed} email(s) that were about to go out were cancelled.")
    lines.append(
        "If you want these emails again, run /email set in that server. Calendar invites still come by Discord DM."
    )
    return lines


class UnsubscribePages:
    def __init__(self, unsubscribes: Unsubscribes, server_name: ServerName) -> None:
        self.unsubscribes = unsubscribes
        self.server_name = server_name

    def _page(self, request: web.Request, title: str, lines: list[str], *, ask: bool) -> web.Response:
        body = aiohttp_jinja2.render_string("unsubscribe.html", request, {"title": title, "lines": lines, "ask": ask})
        return web.Response(text=body, content_type="text/html", charset="utf-8", headers=HEADERS)

    async def confirm_page(self, request: web.Request) -> web.Response:
        target = await self.unsubscribes.target(request.match_info["token"])
        if target is None:
            raise web.HTTPNotFound
        return self._page(request, "Stop these emails?", ask_lines(_server(self.server_name, target)), ask=True)

    async def one_click(self, request: web.Request) -> web.Response:
        # Checked before the token, so a wrong body says nothing about whether a token exists.
        form = await request.post()
        if form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
            return web.Response(status=400, text="Send List-Unsubscribe=One-Click, as the button on this page does.\n")
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
        server = _server(self.server_name, stopped.target)
        return self._page(request, "Unsubscribed", done_lines(server, stopped), ask=False)


def add_routes(app: web.Application, unsubscribes: Unsubscribes, server_name: ServerName) -> None:
    pages = UnsubscribePages(unsubscribes, server_name)
    path = "/unsubscribe/{token:[A-Za-z0-9_-]{1,128}}"
    app.router.add_get(path, pages.confirm_page)
    app.router.add_post(path, pages.one_click)
