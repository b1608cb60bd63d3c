"""The web side: calendar feeds and the public agenda page, served by aiohttp on the bot's own event loop.

On only when PUBLIC_URL and WEB_PORT are set. Routes:
  GET /u/<token>.ics              a member's personal feed (the talks they registered for in one server)
  GET /g/<public_id>/calendar.ics a server's feed, when the server turned on /setup public_calendar
  GET /g/<public_id>/             the server's agenda page (same switch)
  GET /t/<public_id>.ics          one talk ("Add to calendar" on the agenda page; same switch)
  GET|POST /unsubscribe/<token>   the one-click unsubscribe of every email (bot/web_unsubscribe.py)
  GET /verify/<code>              whether an attendance certificate is genuine (bot/web_verify.py)
  GET /healthz                    gateway, database and scheduler state, for health checks (bot/web_health.py)
Public ids are random (migration 0008), so URLs cannot be counted through. Every miss answers the same 404,
so nobody learns whether a token, a server or a talk exists, or is only held back.

Each rendering is kept (bot/pagecache.py) until its server's data changes (bot/versions.py) or the clock
moves a talk in or out; a poll, a HEAD or a conditional request then costs no database read and no
rendering, and a rendering that is needed runs in a thread, outside the database lock. bot/webguard.py
bounds what one client can hold (connections per address, time to send its headers or to read its answer)
and how much of each turn of the event loop the web side may take, so the bot's own work never queues
behind a crowd of polls.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import logging
import re
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable
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
from babel.dates import format_date
from markupsafe import Markup, escape

from bot import web_health, web_unsubscribe, web_verify
from bot.certificates import Certificates
from bot.feeds import (
    TOUCH_EVERY,
    AgendaItem,
    FeedService,
    Version,
    hash_token,
    member_calendar,
    public_calendar,
    talk_calendar,
)
from bot.i18n import DEFAULT_LANGUAGE, Text, _, _n, _p, duration, languages, render
from bot.languages import Languages
from bot.pagecache import Build, Page, PageCache
from bot.settings import Settings
from bot.unsubscribe import Unsubscribes
from bot.webguard import ConnectionGuard, GuardedSite, Limits, LoopShare, ProtocolLog, is_loopback

log = logging.getLogger(__name__)
access_log = logging.getLogger("bot.web.access")

NOT_FOUND = b"Not found.\n"
PUBLIC_ID = "[0-9a-f]{32}"  # bot.store.new_public_id
_TOKEN_PATH = re.compile(r"^/(u|unsubscribe)/[^/]*")
_VALIDATOR_CACHE = 4096
MAX_CONNECTIONS = 512  # open connections in all: file descriptors stay free for Discord, SMTP and the database
IDLE_TIMEOUT = 15.0  # seconds a keep-alive connection may sit idle between requests
READ_TIMEOUT = 30.0  # seconds a client may read nothing of an answer (a full send buffer) before it is cut off
MAX_REQUEST_BODY = 64 * 1024  # nothing here takes more than a small form
ANSWERS_PER_TURN = 2  # answers started per turn of the event loop (see webguard.LoopShare)
GZIP_FROM = 1024  # bodies at least this long are also kept gzip-compressed (a feed shrinks about tenfold)
GZIP_SUFFIX = "-gzip"  # the compressed representation's ETag: the plain one's plus this

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerName = Callable[[int], "str | None"]


# --- links ---------------------------------------------------------------------------------------------------


def member_feed_url(public_url: str, token: str) -> str:
    return f"{public_url}/u/{token}.ics"


def server_feed_url(public_url: str, public_id: str) -> str:
    """``public_id`` is the server's (GuildSettings.public_id), never its Discord id."""
    return f"{public_url}/g/{public_id}/calendar.ics"


def agenda_url(public_url: str, public_id: str) -> str:
    return f"{public_url}/g/{public_id}/"


def talk_file_path(public_id: str, language: str | None = None) -> str:
    """The "Add to calendar" file; with ``language``, its texts in that language (the page's own)."""
    path = f"/t/{public_id}.ics"
    return f"{path}?lang={language}" if language else path


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


def seats_text(item: AgendaItem) -> Text | None:
    if item.talk.cancelled:
        return None
    seats = item.seats
    if seats.capacity is None:
        return _("No limit")
    if seats.left:
        return _n("{count} of {capacity} left", "{count} of {capacity} left", seats.left, capacity=seats.capacity)
    if not seats.waitlisted:
        return _n(
            "Full ({count} seat); registering puts you on the waitlist",
            "Full ({count} seats); registering puts you on the waitlist",
            seats.capacity,
        )
    return _n(
        "Full ({seats}, {count} on the waitlist); registering puts you on the waitlist",
        "Full ({seats}, {count} on the waitlist); registering puts you on the waitlist",
        seats.waitlisted,
        seats=_n("{count} seat", "{count} seats", seats.capacity),
    )


def agenda_entry(item: AgendaItem, tz: ZoneInfo, language: str) -> AgendaEntry:
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
        # The date as long_datetime writes it; the times apart, each with its zone (a talk may cross a DST change).
        date_text=format_date(start.date(), "full", locale=language),
        start_text=f"{start:%H:%M %Z}",
        end_text=f"{end:%H:%M %Z}",
        duration_text=duration(talk.duration_min, language),
        seats_text=render(seats_text(item), language) or None,
        ics_url=talk_file_path(talk.public_id or "", language),
        announcement_url=talk.announcement_url(),
    )


# --- the page's language ----------------------------------------------------------------------------------


def page_language(query: str | None, accept_language: str, server_language: str) -> str:
    """``?lang=`` first, then the browser's Accept-Language (RFC 9110, 12.5.4), then the server's language."""
    if query:
        chosen = _known_language(query)
        if chosen is not None:
            return chosen
    weighted: list[tuple[float, int, str]] = []
    for order, part in enumerate(accept_language.split(",")):
        tag, _sep, params = part.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        known = _known_language(tag)
        if known is not None and weight > 0:
            weighted.append((-weight, order, known))
    return min(weighted)[2] if weighted else server_language


def _known_language(tag: str) -> str | None:
    language = tag.strip().replace("_", "-").split("-")[0].lower()
    return language if language in languages() else None


def _page_text(language: str, text: Text) -> Markup:
    """A catalogue text for the page. Its values are escaped unless they are markup already (our own tags,
    written in the template), so a talk's title stays text whatever the translation around it."""
    values = tuple(
        (name, escape(render(value, language)) if isinstance(value, Text) else escape(value))
        for name, value in text.params
    )
    return Markup(Text(text.msgid, values, text.plural, text.count, text.context).render(language))  # noqa: S704


@jinja2.pass_context
def _template_gettext(context: jinja2.runtime.Context, msgid: str, /, **params: Any) -> Markup:
    return _page_text(context["language"], _(msgid, **params))


@jinja2.pass_context
def _template_ngettext(
    context: jinja2.runtime.Context, singular: str, plural: str, count: int, /, **params: Any
) -> Markup:
    return _page_text(context["language"], _n(singular, plural, count, **params))


@jinja2.pass_context
def _template_pgettext(context: jinja2.runtime.Context, msgctxt: str, msgid: str, /, **params: Any) -> Markup:
    return _page_text(context["language"], _p(msgctxt, msgid, **params))


# The names python -m bot.catalog extracts (jinja2.ext:babel_extract finds these calls in the templates).
# No {% trans %} blocks: they would call "gettext", which the extraction does not look for.
TEMPLATE_TEXTS = {"_": _template_gettext, "_n": _template_ngettext, "_p": _template_pgettext}


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

    The ETag is the body's hash, so a rendering again after a change that did not touch this resource keeps
    its validators. Membership changes such as a waitlist move leave no timestamp in the database, so the
    time is taken here, the first time a new body is seen. After a restart every resource counts as new
    once: clients refetch.
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
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110, 13.2.2). Its comparison is the
    # weak one, so the compressed representation's tag matches the same content too.
    tags = request.if_none_match
    if tags is not None:
        return any(tag.value in (etag, etag + GZIP_SUFFIX, "*") for tag in tags)
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


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110, 12.5.3): listed, or "*", and not with q=0."""
    codings: dict[str, float] = {}
    for part in header.lower().split(","):
        name, _sep, params = part.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name.strip():
            codings[name.strip()] = weight
    return codings.get("gzip", codings.get("x-gzip", codings.get("*", 0.0))) > 0


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    gzipped: bytes | None


def _rendered(render: Callable[..., bytes], *args: object) -> Rendered:
    """Render, fingerprint and compress in one go: all of it in a worker thread, away from the event loop."""
    body = render(*args)
    # mtime=0: the same body always compresses to the same bytes.
    gzipped = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_FROM else None
    return Rendered(body, hashlib.sha256(body).hexdigest()[:32], gzipped)


def _agenda_html(template: jinja2.Template, context: dict[str, Any]) -> bytes:
    return template.render(context).encode("utf-8")


# --- the server ---------------------------------------------------------------------------------------------


class WebServer:
    def __init__(
        self,
        settings: Settings,
        feeds: FeedService,
        server_name: ServerName,
        unsubscribes: Unsubscribes | None = None,
        languages: Languages | None = None,
        certificates: Certificates | None = None,
        health: web_health.Probe | None = None,
    ) -> None:
        assert settings.public_url is not None and settings.web_port is not None
        self.health = health
        self.settings = settings
        self.public_url = settings.public_url
        self.feeds = feeds
        self.server_name = server_name
        self.unsubscribes = unsubscribes
        self.languages = languages
        self.certificates = certificates
        self.validators = Validators()
        self.cache = PageCache()
        self.renders: Counter[str] = Counter()  # renderings done, by kind: what the cache saved is visible
        self.guard = ConnectionGuard(
            Limits(
                header_timeout=settings.web_header_timeout,
                read_timeout=READ_TIMEOUT,
                per_address=settings.web_connections_per_address,
                total=MAX_CONNECTIONS,
            )
        )
        self.share = LoopShare(ANSWERS_PER_TURN)
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
        environment = aiohttp_jinja2.get_env(self.app)
        environment.globals.update(TEMPLATE_TEXTS)
        self._agenda_template = environment.get_template("agenda.html")

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_REQUEST_BODY)
        aiohttp_jinja2.setup(
            app,
            loader=jinja2.PackageLoader("bot", "templates"),
            autoescape=True,  # every talk field is typed by someone; none may become markup
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        public_id = f"{{public_id:{PUBLIC_ID}}}"
        app.router.add_get("/u/{token:[A-Za-z0-9_-]{1,128}}.ics", self.member_feed)
        app.router.add_get(f"/g/{public_id}/calendar.ics", self.server_feed)
        app.router.add_get(f"/g/{public_id}/", self.agenda)
        app.router.add_get(f"/g/{public_id}", self.agenda_slash)
        app.router.add_get(f"/t/{public_id}.ics", self.talk_file)
        if self.unsubscribes is not None:
            web_unsubscribe.add_routes(app, self.unsubscribes, self.server_name, self._member_language, page_language)
        if self.health is not None:
            web_health.add_routes(app, self.health)
        if self.certificates is not None:
            web_verify.add_routes(app, self.certificates, self._member_language, page_language, self.feeds.talks.zone)
        return app

    async def start(self) -> None:
        """Listen; a port already taken leaves the bot running without its web side (and says so)."""
        host, port = self.settings.web_host, self.settings.web_port
        assert port is not None
        if not is_loopback(host):
            log.warning(
                "WEB_HOST is %s, not a loopback address: the web side is reachable without a reverse proxy. "
                "It serves no TLS and its limits count connections per client address; put a proxy such as "
                "nginx or Caddy in front and set WEB_HOST=127.0.0.1.",
                host or "every interface",
            )
        await self.feeds.changes.watch(self.feeds.talks.db)
        runner = web.AppRunner(
            self.app,
            access_log_class=RedactingAccessLogger,
            access_log=access_log,
            shutdown_timeout=2.0,
            keepalive_timeout=IDLE_TIMEOUT,
            logger=ProtocolLog(logging.getLogger("bot.web.http"), {}),
        )
        await runner.setup()
        site = GuardedSite(runner, host, port, self.guard)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            log.error(
                "Calendar feeds are off: cannot listen on %s:%s (%s). Free the port or change WEB_PORT.",
                host,
                port,
                error.strerror or error,
            )
            return
        self._runner = runner
        self.running = True
        log.info("Calendar feeds and agenda pages on %s:%s, published as %s", host, port, self.public_url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.running = False

    # --- middleware: one 404, security headers, no secrets in logs ---------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        await self.share.turn()
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
        headers["Server"] = "Podium"  # not the versions of Python and aiohttp
        return response

    # --- the cache ------------------------------------------------------------------------------------------

    def _name(self, guild_id: int) -> str:
        return self.server_name(guild_id) or "Podium"

    def _server_language(self, chosen: str | None, guild_id: int) -> str:
        """/setup language:, else the server's preferred locale (``chosen`` is GuildSettings.language)."""
        return self.languages.of_server(chosen, guild_id) if self.languages is not None else DEFAULT_LANGUAGE

    async def _member_language(self, guild_id: int, user_id: int) -> str:
        return await self.languages.member(guild_id, user_id) if self.languages is not None else DEFAULT_LANGUAGE

    def _stamp(self, guild_id: int, *, people: bool, version: Version | None = None) -> Hashable:
        """What a page of this server is rendered from, as far as can be told without reading the database:
        its change counters (with ``people``, the registrations' too: seats, waitlists, tokens), its name and
        its preferred locale (the language of a server without /setup language:; a chosen one is a setting,
        so it moves the counters)."""
        programme, registrations = self.feeds.changes.version(guild_id) if version is None else version
        return (
            (programme, registrations if people else None),
            self._name(guild_id),
            self._server_language(None, guild_id),
        )

    async def _cached(self, key: Hashable, guild_id: int | None, build: Build, *, people: bool) -> Page:
        """The page under ``key``: the stored one while still fresh, else rendered again (once for everyone)."""
        if guild_id is None:
            # A page not seen yet, or no longer known: render it for this request alone, so that it cannot be
            # handed a rendering that started before a change this client already saw.
            page = await self.cache.build(key, build)
        else:
            stamp = self._stamp(guild_id, people=people)
            page = self.cache.fresh(key, stamp, self.feeds.now()) or await self.cache.build_once(key, stamp, build)
        if page is None:
            raise _NotFoundError
        return page

    async def _render(self, kind: str, render: Callable[..., bytes], *args: object) -> Rendered:
        self.renders[kind] += 1
        return await asyncio.to_thread(_rendered, render, *args)

    def _page(
        self,
        key: Hashable,
        rendered: Rendered,
        *,
        guild_id: int,
        stamp: Hashable,
        valid_until: datetime | None,
        content_type: str,
        cache: str,
        extra: dict[str, str] | None = None,
    ) -> Page:
        etag = rendered.etag
        modified = self.validators.last_modified(str(key), etag, self.feeds.now())
        headers = {
            "ETag": f'"{etag}"',
            "Last-Modified": format_datetime(modified, usegmt=True),
            "Cache-Control": cache,
            "Vary": "Accept-Encoding",
            **(extra or {}),
        }
        gzip_headers = {**headers, "ETag": f'"{etag}{GZIP_SUFFIX}"', "Content-Encoding": "gzip"}
        return Page(
            rendered.body,
            etag,
            modified,
            content_type,
            headers,
            guild_id,
            stamp,
            valid_until,
            gzipped=rendered.gzipped,
            gzip_headers=gzip_headers if rendered.gzipped is not None else None,
        )

    def _answer(self, request: web.Request, page: Page) -> web.Response:
        body, headers = page.body, page.headers
        if (
            page.gzipped is not None
            and page.gzip_headers is not None
            and accepts_gzip(request.headers.get("Accept-Encoding", ""))
        ):
            body, headers = page.gzipped, page.gzip_headers
        if _not_modified(request, page.etag, page.last_modified):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=page.content_type, charset="utf-8", headers=headers)

    # --- routes ---------------------------------------------------------------------------------------------

    async def member_feed(self, request: web.Request) -> web.Response:
        digest = hash_token(request.match_info["token"])
        key = ("u", digest)

        async def build() -> Page | None:
            feed = await self.feeds.member_feed_by_hash(digest)
            if feed is None:
                return None
            language = await self._member_language(feed.guild_id, feed.user_id)
            page = self._page(
                key,
                await self._render("member_feed", member_calendar, feed, self._name(feed.guild_id), language),
                guild_id=feed.guild_id,
                stamp=self._stamp(feed.guild_id, people=True, version=feed.version),
                valid_until=feed.changes_at,
                content_type="text/calendar",
                # Personal: shared caches must not keep it, and the member's app revalidates every time.
                cache="private, no-cache",
                extra={"X-Robots-Tag": "noindex"},
            )
            page.touched_at = feed.last_used_at
            return page

        known = self.cache.peek(key)
        page = await self._cached(key, known.guild_id if known else None, build, people=True)
        now = self.feeds.now()
        if page.touched_at is None or page.touched_at < now - TOUCH_EVERY:
            page.touched_at = now
            await self.feeds.touch(digest)
        return self._answer(request, page)

    async def _published_guild(self, public_id: str, key: Hashable) -> int:
        known = self.cache.peek(key)
        if known is not None:
            return known.guild_id
        guild_id = await self.feeds.published_guild(public_id)
        if guild_id is None:
            raise _NotFoundError
        return guild_id

    async def server_feed(self, request: web.Request) -> web.Response:
        public_id = request.match_info["public_id"]
        key = ("g", public_id)
        guild_id = await self._published_guild(public_id, key)

        async def build() -> Page | None:
            feed = await self.feeds.public_feed(guild_id)
            if feed is None:
                return None
            return self._page(
                key,
                await self._render(
                    "server_feed",
                    public_calendar,
                    feed,
                    self._name(guild_id),
                    self._server_language(feed.settings.language, guild_id),
                ),
                guild_id=guild_id,
                # The feed shows no seats: registrations leave it (and its ETag) as it is.
                stamp=self._stamp(guild_id, people=False, version=feed.version),
                valid_until=feed.changes_at,
                content_type="text/calendar",
                cache="public, max-age=300",
            )

        return self._answer(request, await self._cached(key, guild_id, build, people=False))

    async def talk_file(self, request: web.Request) -> web.Response:
        public_id = request.match_info["public_id"]
        # In the language the agenda page links it in (?lang=), else as the page itself picks one.
        wanted = page_language(request.query.get("lang"), request.headers.get("Accept-Language", ""), "")
        key = ("t", public_id, wanted or None)

        async def build() -> Page | None:
            found = await self.feeds.public_talk(public_id)
            if found is None:
                return None
            talk = found.talk
            language = wanted or self._server_language(found.chosen_language, talk.guild_id)
            return self._page(
                key,
                await self._render("talk_file", talk_calendar, talk, found.tz, language),
                guild_id=talk.guild_id,
                stamp=self._stamp(talk.guild_id, people=False, version=found.version),
                valid_until=None,  # once announced, a talk stays announced
                content_type="text/calendar",
                cache="public, max-age=300",
                extra={
                    "Content-Disposition": f'attachment; filename="podium-talk-{public_id}.ics"',
                    "Vary": "Accept-Encoding, Accept-Language",
                },
            )

        known = self.cache.peek(key)
        guild_id = known.guild_id if known else None
        return self._answer(request, await self._cached(key, guild_id, build, people=False))

    async def agenda_slash(self, request: web.Request) -> web.Response:
        # The same answer for every well-formed id, known or not: nothing is looked up.
        return web.Response(status=308, headers={"Location": f"/g/{request.match_info['public_id']}/"})

    async def agenda(self, request: web.Request) -> web.Response:
        public_id = request.match_info["public_id"]
        asked = request.query.get("lang")
        accepted = request.headers.get("Accept-Language", "")
        # The server's own language is only known once its settings are read; until then the page is looked up
        # under what the request asks for, and a request that asks for nothing Podium speaks under None.
        wanted = page_language(asked, accepted, "")
        key = ("p", public_id, wanted or None)
        guild_id = await self._published_guild(public_id, key)

        async def build() -> Page | None:
            found = await self.feeds.agenda(guild_id)
            if found is None:
                return None
            feed, items = found
            language = wanted or self._server_language(feed.settings.language, guild_id)
            name = self._name(guild_id)
            feed_https = server_feed_url(self.public_url, public_id)
            context: dict[str, Any] = {
                "language": language,
                "server": name,
                # The command as Discord shows it to a reader of this language (the command tree's own entry).
                "register_command": render(Text("register", context="command name"), language),
                "zone": feed.tz.key,
                "talks": [agenda_entry(item, feed.tz, language) for item in items],
                "feed_https": feed_https,
                "feed_webcal": webcal(feed_https),
                "css": Markup(self._css),  # noqa: S704 - our own file, its hash is in the CSP
                "script": Markup(self._script),  # noqa: S704 - our own file, its hash is in the CSP
            }
            return self._page(
                key,
                await self._render("agenda", _agenda_html, self._agenda_template, context),
                guild_id=guild_id,
                stamp=self._stamp(guild_id, people=True, version=feed.version),
                valid_until=feed.changes_at,
                content_type="text/html",
                cache="public, max-age=300",
                extra={"Content-Security-Policy": self._page_csp, "Vary": "Accept-Encoding, Accept-Language"},
            )

        return self._answer(request, await self._cached(key, guild_id, build, people=True))
