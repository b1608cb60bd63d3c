"""The web side: calendar feeds and the public agenda page, served by aiohttp on the bot's own event loop.

On only when PUBLIC_URL and WEB_PORT are set. Routes:
  GET /u/<token>.ics          a member's personal feed (the talks they registered for in one server)
  GET /g/<guild_id>/calendar.ics  a server's feed, when the server turned on /setup public_calendar
  GET /g/<guild_id>/          the server's agenda page (same switch)
  GET /t/<talk_id>.ics        one talk ("Add to calendar" on the agenda page; same switch)
  GET|POST /unsubscribe/<token>  the one-click unsubscribe of every email (bot/web_unsubscribe.py)
Every miss answers the same 404, so nobody learns whether a token or a server exists.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from markupsafe import Markup

from bot import web_unsubscribe
from bot.feeds import AgendaItem, FeedService, member_calendar, public_calendar, talk_calendar
from bot.settings import Settings
from bot.unsubscribe import Unsubscribes

log = logging.getLogger(__name__)
access_log = logging.getLogger("bot.web.access")

NOT_FOUND = b"Not found.\n"
_MAX_ID = 2**63 - 1  # SQLite integers; a longer number cannot name anything
_TOKEN_PATH = re.compile(r"^/(u|unsubscribe)/[^/]*")
_VALIDATOR_CACHE = 4096

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerName = Callable[[int], "str | None"]


# --- links ---------------------------------------------------------------------------------------------------


def member_feed_url(public_url: str, token: str) -> str:
    return f"{public_url}/u/{token}.ics"


def server_feed_url(public_url: str, guild_id: int) -> str:
    return f"{public_url}/g/{guild_id}/calendar.ics"


def agenda_url(public_url: str, guild_id: int) -> str:
    return f"{public_url}/g/{guild_id}/"


def webcal(url: str) -> str:
    """The same feed for apps that subscribe when a webcal:// link is opened (Apple Calendar, Outlook)."""
    return re.sub(r"^https?://", "webcal://", url)


# --- the agenda page's view of a talk --------------------------------------------------------------------


@dataclass(frozen=True)
class AgendaEntry:
    id: int
    title: str
    speaker: str
    bio: str | None
    abstract: str | None
    location: str | None
    location_url: str | None
    cancelled: bool
    cancel_reason: str | None
    start_iso: str
    end_iso: str
    date_text: str
    start_text: str
    end_text: str
    duration_text: str
    seats_text: str | None
    ics_url: str
    announcement_url: str | None


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" if not rest else f"{hours} h {rest} min"


def seats_text(item: AgendaItem) -> str | None:
    if item.talk.cancelled:
        return None
    seats = item.seats
    if seats.capacity is None:
        return "No limit"
    if seats.left:
        return f"{seats.left} of {seats.capacity} left"
    waiting = f", {seats.waitlisted} on the waitlist" if seats.waitlisted else ""
    return f"Full ({seats.capacity} seats{waiting}); registering puts you on the waitlist"


def agenda_entry(item: AgendaItem, tz: ZoneInfo) -> AgendaEntry:
    talk = item.talk
    start, end = talk.start_at.astimezone(tz), talk.end_at.astimezone(tz)
    location = talk.location
    # Only web links become clickable: a "javascript:" location must stay plain text.
    link = location if location and re.match(r"^https?://\S+$", location) else None
    return AgendaEntry(
        id=talk.id,
        title=talk.title,
        speaker=talk.speaker,
        bio=talk.speaker_bio,
        abstract=talk.description,
        location=location,
        location_url=link,
        cancelled=talk.cancelled,
        cancel_reason=talk.cancel_reason,
        start_iso=_iso_utc(talk.start_at),
        end_iso=_iso_utc(talk.end_at),
        date_text=f"{start:%A} {start.day} {start:%B %Y}",
        start_text=f"{start:%H:%M %Z}",
        end_text=f"{end:%H:%M %Z}",
        duration_text=duration_text(talk.duration_min),
        seats_text=seats_text(item),
        ics_url=f"/t/{talk.id}.ics",
        announcement_url=talk.announcement_url(),
    )


# --- HTTP plumbing ---------------------------------------------------------------------------------------------


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _asset(name: str) -> str:
    return resources.files("bot").joinpath("templates", name).read_text(encoding="utf-8")


def redact(path: str) -> str:
    """Personal feed and unsubscribe paths carry a secret: it never reaches a log line."""
    return _TOKEN_PATH.sub(lambda match: f"/{match.group(1)}/<token>", path)


class RedactingAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("%s %s %s %.1f ms", request.method, redact(request.path), response.status, time * 1000)


class Validators:
    """When each resource's current body was first served, so Last-Modified moves only when the body changes.

    Bodies are rebuilt from the database on each request (cheap); the ETag is their hash. Membership
    changes such as a waitlist move leave no timestamp in the database, so the time is taken here, the
    first time a new body is seen. After a restart every resource counts as new once: clients refetch.
    """

    def __init__(self, size: int = _VALIDATOR_CACHE) -> None:
        self._seen: OrderedDict[str, tuple[str, datetime]] = OrderedDict()
        self._size = size

    def last_modified(self, key: str, etag: str, now: datetime) -> datetime:
        previous = self._seen.get(key)
        if previous is not None and previous[0] == etag:
            self._seen.move_to_end(key)
            return previous[1]
        stamp = now.replace(microsecond=0)
        if previous is not None and stamp <= previous[1]:
            # Two versions in one second: HTTP dates have whole seconds, so keep them apart.
            stamp = previous[1] + timedelta(seconds=1)
        self._seen[key] = (etag, stamp)
        self._seen.move_to_end(key)
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return stamp


def _not_modified(request: web.Request, etag: str, modified: datetime) -> bool:
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110, 13.2.2).
    tags = request.if_none_match
    if tags is not None:
        return any(tag.value in (etag, "*") for tag in tags)
    since = request.if_modified_since
    return since is not None and modified <= since


def not_found() -> web.Response:
    return web.Response(
        status=404,
        body=NOT_FOUND,
        content_type="text/plain",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


class _NotFoundError(Exception):
    """Any miss; turned into the one 404 response."""


def _id(request: web.Request, name: str) -> int:
    value = int(request.match_info[name])
    if not 0 < value <= _MAX_ID:
        raise _NotFoundError
    return value


# --- the server ---------------------------------------------------------------------------------------------


class WebServer:
    def __init__(
        self,
        settings: Settings,
        feeds: FeedService,
        server_name: ServerName,
        unsubscribes: Unsubscribes | None = None,
    ) -> None:
        assert settings.public_url is not None and settings.web_port is not None
        self.settings = settings
        self.public_url = settings.public_url
        self.feeds = feeds
        self.server_name = server_name
        self.unsubscribes = unsubscribes
        self.validators = Validators()
        self.running = False
        self._runner: web.AppRunner | None = None
        self._css = _asset("agenda.css")
        self._script = _asset("agenda.js")
        # The page's only script and style are inline and allowed by their hash: nothing else may run or load.
        self._page_csp = (
            f"default-src 'none'; script-src {_csp_hash(self._script)}; style-src {_csp_hash(self._css)}; "
            "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(
            app,
            loader=jinja2.PackageLoader("bot", "templates"),
            autoescape=True,  # every talk field is typed by someone; none may become markup
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        digits = "{guild_id:[0-9]{1,19}}"
        app.router.add_get("/u/{token:[A-Za-z0-9_-]{1,128}}.ics", self.member_feed)
        app.router.add_get(f"/g/{digits}/calendar.ics", self.server_feed)
        app.router.add_get(f"/g/{digits}/", self.agenda)
        app.router.add_get(f"/g/{digits}", self.agenda_slash)
        app.router.add_get("/t/{talk_id:[0-9]{1,19}}.ics", self.talk_file)
        if self.unsubscribes is not None:
            web_unsubscribe.add_routes(app, self.unsubscribes, self.server_name)
        return app

    async def start(self) -> None:
        """Listen; a port already taken leaves the bot running without its web side (and says so)."""
        runner = web.AppRunner(
            self.app,
            access_log_class=RedactingAccessLogger,
            access_log=access_log,
            shutdown_timeout=2.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.settings.web_host, self.settings.web_port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            log.error(
                "Calendar feeds are off: cannot listen on %s:%s (%s). Free the port or change WEB_PORT.",
                self.settings.web_host,
                self.settings.web_port,
                error.strerror or error,
            )
            return
        self._runner = runner
        self.running = True
        log.info(
            "Calendar feeds and agenda pages on %s:%s, published as %s",
            self.settings.web_host,
            self.settings.web_port,
            self.public_url,
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.running = False

    # --- middleware: one 404, security headers, no secrets in logs ---------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except (_NotFoundError, web.HTTPNotFound):
            response = not_found()
        except web.HTTPException as error:
            response = web.Response(status=error.status, text=error.text, headers=error.headers)
        except Exception:
            log.exception("Web request %s %s failed", request.method, redact(request.path))
            response = web.Response(status=500, text="Something went wrong; try again later.\n")
        headers = response.headers
        headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        headers["X-Content-Type-Options"] = "nosniff"
        # Personal feed links are secrets: the page and the feeds never pass a Referer on.
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        return response

    # --- routes ---------------------------------------------------------------------------------------------

    def _name(self, guild_id: int) -> str:
        return self.server_name(guild_id) or "Podium"

    def _conditional(
        self,
        request: web.Request,
        body: bytes,
        *,
        key: str,
        content_type: str,
        cache: str,
        extra: dict[str, str] | None = None,
    ) -> web.Response:
        etag = hashlib.sha256(body).hexdigest()[:32]
        modified = self.validators.last_modified(key, etag, self.feeds.now())
        headers = {
            "ETag": f'"{etag}"',
            "Last-Modified": format_datetime(modified, usegmt=True),
            "Cache-Control": cache,
            **(extra or {}),
        }
        if _not_modified(request, etag, modified):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)

    async def member_feed(self, request: web.Request) -> web.Response:
        feed = await self.feeds.member_feed(request.match_info["token"])
        if feed is None:
            raise _NotFoundError
        body = member_calendar(feed, self._name(feed.guild_id))
        return self._conditional(
            request,
            body,
            key=f"u:{feed.guild_id}:{feed.user_id}",
            content_type="text/calendar",
            # Personal: shared caches must not keep it, and the member's app revalidates every time.
            cache="private, no-cache",
            extra={"X-Robots-Tag": "noindex"},
        )

    async def server_feed(self, request: web.Request) -> web.Response:
        guild_id = _id(request, "guild_id")
        feed = await self.feeds.public_feed(guild_id)
        if feed is None:
            raise _NotFoundError
        body = public_calendar(feed, self._name(guild_id))
        return self._conditional(
            request, body, key=f"g:{guild_id}", content_type="text/calendar", cache="public, max-age=300"
        )

    async def talk_file(self, request: web.Request) -> web.Response:
        found = await self.feeds.public_talk(_id(request, "talk_id"))
        if found is None:
            raise _NotFoundError
        talk, tz = found
        return self._conditional(
            request,
            talk_calendar(talk, tz),
            key=f"t:{talk.id}",
            content_type="text/calendar",
            cache="public, max-age=300",
            extra={"Content-Disposition": f'attachment; filename="podium-talk-{talk.id}.ics"'},
        )

    async def agenda_slash(self, request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": f"/g/{_id(request, 'guild_id')}/"})

    async def agenda(self, request: web.Request) -> web.Response:
        guild_id = _id(request, "guild_id")
        found = await self.feeds.agenda(guild_id)
        if found is None:
            raise _NotFoundError
        feed, items = found
        feed_https = server_feed_url(self.public_url, guild_id)
        context: dict[str, Any] = {
            "server": self._name(guild_id),
            "zone": feed.tz.key,
            "talks": [agenda_entry(item, feed.tz) for item in items],
            "feed_https": feed_https,
            "feed_webcal": webcal(feed_https),
            "css": Markup(self._css),  # noqa: S704 - our own file, its hash is in the CSP
            "script": Markup(self._script),  # noqa: S704 - our own file, its hash is in the CSP
        }
        html = aiohttp_jinja2.render_string("agenda.html", request, context)
        return self._conditional(
            request,
            html.encode("utf-8"),
            key=f"p:{guild_id}",
            content_type="text/html",
            cache="public, max-age=300",
            extra={"Content-Security-Policy": self._page_csp},
        )
