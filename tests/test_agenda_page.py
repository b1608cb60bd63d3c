"""The public agenda page: what a visitor sees in headless Chromium, and an offline accessibility check."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date

from bot.web import page_language
from tests.emulator import DiscordEmulator
from tests.harness import PROJECT_ROOT, School
from tests.web_helpers import WebSide, create_talk, dst_start, local, set_up, web_bot

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
VISITOR_ZONE = ZoneInfo("America/New_York")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (CI installs it)"
)

TRICKY_TITLE = 'Brains & <b>Machines</b> "2027"'


@pytest.fixture
async def web(emu: DiscordEmulator, school: School, tmp_path: Path) -> AsyncIterator[WebSide]:
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as side:
        yield side


async def programme(school: School) -> dict[str, int]:
    """Four talks: a DST-crossing one with markup in its title, an online one, a cancelled one, a hidden one."""
    await set_up(school, public_calendar=True)
    soon = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    talks = {
        "night": await create_talk(
            school,
            title=TRICKY_TITLE,
            speaker="Dr. Zoë Ångström",
            speaker_bio="Neuroscientist at the <i>Institut</i>.",
            description="Part one: how neurons fire.\nPart two: <script>alert(1)</script> and machines.",
            location="Amphi A",
            start=local(dst_start()),
            duration=180,
            capacity=2,
        ),
        "online": await create_talk(
            school,
            title="Vaccines 101",
            speaker="Prof. Jenner",
            location="https://meet.example.org/vaccines",
            start=local(soon),
            duration=45,
        ),
        "cancelled": await create_talk(
            school, title="Quantum cooking", speaker="Chef Planck", start=local(soon + timedelta(days=1))
        ),
        "hidden": await create_talk(
            school,
            title="Not yet announced",
            speaker="Dr. Later",
            start=local(soon + timedelta(days=9)),
            announce_at=local(soon + timedelta(days=8)),
        ),
    }
    await school.run(school.students["alice"], "register", {"talk": talks["night"]})
    await school.run(school.organizer, "talk cancel", {"talk": talks["cancelled"], "reason": "Oven on fire"})
    return talks


# --- headless Chromium ---------------------------------------------------------------------------------------


async def chromium(tmp_path: Path, *args: str) -> bytes:
    """Runs Chromium as a subprocess without blocking the loop: the bot under test serves the page on it."""
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--lang=en-US",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TZ": VISITOR_ZONE.key, "LANG": "en_US.UTF-8"},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


class Visible(HTMLParser):
    """The text of a DOM dump, per talk (article), plus every link."""

    BLOCKS = frozenset({"p", "div", "dt", "dd", "h1", "h2", "li"})

    def __init__(self) -> None:
        super().__init__()
        self.articles: list[str] = []
        self.text: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._article: list[str] | None = None
        self._link: tuple[str, list[str]] | None = None
        self.body_attrs: dict[str, str | None] = {}
        self.html_attrs: dict[str, str | None] = {}
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "body":
            self.body_attrs = dict(attrs)
        if tag == "html":
            self.html_attrs = dict(attrs)
        if tag == "article":
            self._article = []
        if tag == "a":
            self._link = (dict(attrs).get("href") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        if tag in self.BLOCKS:
            self.handle_data(" ")  # what a browser lays out apart is read apart
        if tag == "article" and self._article is not None:
            self.articles.append(_squash("".join(self._article)))
            self._article = None
        if tag == "a" and self._link is not None:
            self.links.append((self._link[0], _squash("".join(self._link[1]))))
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._article is not None:
            self._article.append(data)
        if self._link is not None:
            self._link[1].append(data)


def _squash(text: str) -> str:
    # Intl puts narrow no-break spaces before AM/PM; compare as plain spaces.
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\xa0", " ")).strip()


def us_date(moment: datetime) -> str:
    return f"{moment:%A}, {moment:%B} {moment.day}, {moment.year}"


def us_time(moment: datetime) -> str:
    return f"{moment.hour % 12 or 12}:{moment:%M} {moment:%p} {moment:%Z}"


@needs_chromium
async def test_a_visitor_sees_the_programme_in_their_time_zone(
    emu: DiscordEmulator, school: School, web: WebSide, tmp_path: Path
) -> None:
    talks = await programme(school)
    url = f"{web.base}{await web.agenda_path(school.guild_id)}"
    dom = (await chromium(tmp_path, "--dump-dom", url)).decode()
    page = Visible()
    page.feed(dom)
    text = _squash(" ".join(page.text))

    # The script ran (so the CSP hash matches it) and moved every time to the visitor's zone.
    assert page.body_attrs.get("data-shown-in") == VISITOR_ZONE.key
    assert f"Times are shown in your time zone ({VISITOR_ZONE.key})" in text
    assert "Talks at Faculty of Medicine" in text

    # Soonest first; the talk across the DST night is months away, so it comes last.
    assert len(page.articles) == 3
    online, cancelled, night = page.articles
    start = dst_start().astimezone(UTC)
    end = start + timedelta(hours=3)
    # In Paris 01:30 CEST to 03:30 CET; in New York the evening before, 3 hours apart.
    expected = f"{us_date(start.astimezone(VISITOR_ZONE))}, {us_time(start.astimezone(VISITOR_ZONE))} – "
    expected += us_time(end.astimezone(VISITOR_ZONE))
    assert expected in night, night
    assert TRICKY_TITLE in night  # shown as text, not as markup
    assert "<script>alert(1)</script>" in night
    assert "Dr. Zoë Ångström" in night and "Neuroscientist at the <i>Institut</i>." in night
    assert "Duration 3 hours" in night and "Location Amphi A" in night and "Seats 1 of 2 left" in night
    assert "Vaccines 101" in online and "Prof. Jenner" in online and "Seats No limit" in online
    assert "Duration 45 minutes" in online
    assert "Cancelled Oven on fire" in cancelled and "Seats" not in cancelled
    assert "Not yet announced" not in text and "Dr. Later" not in text

    links = dict((text, href) for href, text in page.links)
    assert (
        links[f"Add to calendar: {TRICKY_TITLE}"] == await web.talk_path(school.guild_id, talks["night"]) + "?lang=en"
    )
    assert links["Add to calendar: Vaccines 101"] == await web.talk_path(school.guild_id, talks["online"]) + "?lang=en"
    assert (
        links["Mark it cancelled in your calendar: Quantum cooking"]
        == await web.talk_path(school.guild_id, talks["cancelled"]) + "?lang=en"
    )
    assert links["https://meet.example.org/vaccines"] == "https://meet.example.org/vaccines"
    feed = f"127.0.0.1:{web.base.rsplit(':', 1)[1]}{await web.feed_path(school.guild_id)}"
    assert links["Subscribe to this calendar"] == f"webcal://{feed}"
    assert links["Feed link for Google Calendar and Outlook"] == f"http://{feed}"
    assert (await web.get(links[f"Add to calendar: {TRICKY_TITLE}"]))[0] == 200

    # A phone-sized screenshot, kept for people to look at.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "agenda-phone.png"
    shot.unlink(missing_ok=True)
    await chromium(tmp_path, f"--screenshot={shot}", "--window-size=390,844", url)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (390, 844)


@needs_chromium
async def test_a_french_visitor_reads_the_programme_in_french(
    emu: DiscordEmulator, school: School, web: WebSide, tmp_path: Path
) -> None:
    talks = await programme(school)
    url = f"{web.base}{await web.agenda_path(school.guild_id)}?lang=fr"
    dom = (await chromium(tmp_path, "--dump-dom", url)).decode()
    page = Visible()
    page.feed(dom)
    text = _squash(" ".join(page.text))

    assert page.html_attrs.get("lang") == "fr"
    assert page.body_attrs.get("data-shown-in") == VISITOR_ZONE.key
    assert f"Les horaires sont indiqués dans votre fuseau horaire ({VISITOR_ZONE.key})" in text
    assert "Conférences — Faculty of Medicine" in text
    assert "S’abonner à ce calendrier" in text

    # The script writes the visitor's times in the page's language, not the browser's (en-US here).
    online, cancelled, night = page.articles
    start = dst_start().astimezone(VISITOR_ZONE)
    end = start + timedelta(hours=3)
    assert format_date(start.date(), "EEEE d MMMM y", locale="fr") in night, night
    assert f"{start:%H:%M}" in night and f"{end:%H:%M}" in night
    assert "Durée 3 heures" in night and "Lieu Amphi A" in night and "Places 1 place restante sur 2" in night
    assert "Intervenant·e : Dr. Zoë Ångström" in night
    assert "Places Sans limite" in online and "Durée 45 minutes" in online
    assert "Annulée Oven on fire" in cancelled

    links = dict((text, href) for href, text in page.links)
    assert (
        links[f"Ajouter à mon agenda : {TRICKY_TITLE}"]
        == await web.talk_path(school.guild_id, talks["night"]) + "?lang=fr"
    )
    assert (
        links["Marquer l’annulation dans votre agenda : Quantum cooking"]
        == await web.talk_path(school.guild_id, talks["cancelled"]) + "?lang=fr"
    )


# --- the page's language over HTTP ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ("fr", "en-US,en;q=0.9", "fr"),  # ?lang= first
        ("de", "fr-CA", "fr"),  # a language Podium does not speak is ignored
        (None, "de-DE, fr;q=0.8, en;q=0.5", "fr"),  # the best one Podium speaks
        (None, "fr;q=0.2, en-GB;q=0.9", "en"),  # by weight, not by order
        (None, "en;q=0, fr;q=0", "server"),  # q=0 means "not this one"
        (None, "", "server"),
    ],
)
def test_the_page_language_is_asked_then_accepted_then_the_servers(
    query: str | None, accept: str, expected: str
) -> None:
    assert page_language(query, accept, "server") == expected


async def test_the_page_in_french_over_http(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    await set_up(school, public_calendar=True)
    await web.bot.service.update_settings(school.guild_id, language="fr")
    agenda = await web.agenda_path(school.guild_id)
    status, body, headers = await web.get(agenda)
    assert status == 200
    assert "Aucune conférence à venir pour le moment." in body.decode()

    await programme(school)
    # Announcing writes the message ids back afterwards, which moves the programme's counters: let it land.
    await web.bot.announcer.drain()
    await web.bot.courier.drain()
    status, body, headers = await web.get(agenda)
    html = body.decode()
    check = AccessibilityCheck()
    check.feed(html)
    assert check.report() == []
    assert check.lang == "fr"
    assert check.title == "Conférences — Faculty of Medicine"
    assert "<h1>Conférences — Faculty of Medicine</h1>" in html
    assert "Accept-Language" in headers["Vary"] and "Accept-Encoding" in headers["Vary"]
    # Dates written out by Babel in the server's zone, French typography, escaped talk text inside French.
    night = dst_start()
    assert f'data-local="date">{format_date(night.date(), "full", locale="fr")}</time>' in html
    assert "<dt>Durée</dt><dd>3\u00a0heures</dd>" in html
    assert "<dd>1 place restante sur 2</dd>" in html
    assert "Intervenant·e\u00a0: <strong>Dr. Zoë Ångström</strong>" in html
    assert 'Ajouter à mon agenda<span class="visually-hidden">\u00a0: Brains &amp; &lt;b&gt;Machines' in html
    assert re.search(r"avec <code>/[^<]+</code> ou avec le bouton de chaque annonce", html)
    assert "Times are shown" not in html and "Add to calendar" not in html
    french_etag = headers["ETag"]

    # ?lang=en switches back; Accept-Language wins over the server's language; ?lang= over Accept-Language.
    status, body, headers = await web.get(agenda + "?lang=en")
    english = body.decode()
    assert '<html lang="en">' in english and "<h1>Talks at Faculty of Medicine</h1>" in english
    assert f'data-local="date">{format_date(night.date(), "full", locale="en")}</time>' in english
    assert "Add to calendar" in english and "Ajouter" not in english
    assert headers["ETag"] != french_etag
    assert (await web.get(agenda + "?lang=en", {"If-None-Match": french_etag}))[0] == 200
    accepted = (await web.get(agenda, {"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"}))[1].decode()
    assert accepted == english
    asked = (await web.get(agenda + "?lang=fr", {"Accept-Language": "en-GB"}))[1].decode()
    assert asked == html

    # Each language is rendered once and then served from the cache; a 304 per language still works.
    renders = web.bot.web.renders["agenda"] if web.bot.web else 0
    for _round in range(2):
        assert (await web.get(agenda))[1].decode() == html
        assert (await web.get(agenda, {"Accept-Language": "en"}))[1].decode() == english
        assert (await web.get(agenda + "?lang=en"))[1].decode() == english
    assert web.bot.web is not None and web.bot.web.renders["agenda"] == renders
    assert (await web.get(agenda, {"If-None-Match": french_etag}))[0] == 304


# --- offline accessibility and security checks -----------------------------------------------------------


class AccessibilityCheck(HTMLParser):
    """A small offline checker: lang, one h1, headings in order, landmarks, link text, alt text, ids."""

    LANDMARKS = frozenset({"header", "main", "footer", "nav"})

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.lang: str | None = None
        self.viewport = False
        self.headings: list[int] = []
        self.landmarks: set[str] = set()
        self.ids: list[str] = []
        self.labelled_by: list[str] = []
        self.title = ""
        self._in_title = False
        self._link: tuple[str | None, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "meta" and a.get("name") == "viewport":
            self.viewport = "width=device-width" in (a.get("content") or "")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag in self.LANDMARKS:
            self.landmarks.add(tag)
        if "id" in a:
            self.ids.append(a["id"] or "")
        if "aria-labelledby" in a:
            self.labelled_by.append(a["aria-labelledby"] or "")
        if tag == "img" and not a.get("alt"):
            self.problems.append(f"image without alt text: {a.get('src')}")
        if tag == "title":
            self._in_title = True
        if tag == "a":
            if not a.get("href"):
                self.problems.append("link without href")
            self._link = (a.get("aria-label"), [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag == "a" and self._link is not None:
            label, text = self._link
            if not (label or "".join(text).strip()):
                self.problems.append("link without text")
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._link is not None:
            self._link[1].append(data)

    def report(self) -> list[str]:
        problems = list(self.problems)
        if not self.lang:
            problems.append("no lang attribute on <html>")
        if not self.viewport:
            problems.append("no viewport meta: unreadable on a phone")
        if not self.title.strip():
            problems.append("no <title>")
        if self.headings.count(1) != 1 or self.headings[:1] != [1]:
            problems.append(f"want exactly one h1, first: {self.headings}")
        for before, after in zip(self.headings, self.headings[1:], strict=False):
            if after > before + 1:
                problems.append(f"heading level jumps from h{before} to h{after}")
        if not {"header", "main", "footer"} <= self.landmarks:
            problems.append(f"landmarks missing: {sorted({'header', 'main', 'footer'} - self.landmarks)}")
        if len(set(self.ids)) != len(self.ids):
            problems.append("duplicate ids")
        problems += [f"aria-labelledby points nowhere: {ref}" for ref in self.labelled_by if ref not in self.ids]
        return problems


def luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(one: str, two: str) -> float:
    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# Text colour on the backgrounds it is drawn on, in the light and the dark palette.
COLOUR_PAIRS = [
    ("fg", "bg"),
    ("fg", "card"),
    ("muted", "bg"),
    ("muted", "card"),
    ("link", "bg"),
    ("link", "card"),
    ("button-fg", "button-bg"),
    ("cancel-fg", "cancel-bg"),
]


def palettes(css: str) -> list[dict[str, str]]:
    blocks = re.findall(r":root\s*\{([^}]*)\}", css)
    return [dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", block)) for block in blocks]


async def test_the_page_passes_an_offline_accessibility_check(
    emu: DiscordEmulator, school: School, web: WebSide
) -> None:
    await programme(school)
    agenda = await web.agenda_path(school.guild_id)
    status, body, headers = await web.get(agenda)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    html = body.decode()

    check = AccessibilityCheck()
    check.feed(html)
    assert check.report() == []
    assert check.lang == "en"
    assert check.headings == [1, 2, 2, 2]

    [css] = re.findall(r"<style>(.*?)</style>", html, re.S)
    light, dark = palettes(css)
    for palette in (light, dark):
        for text, background in COLOUR_PAIRS:
            ratio = contrast(palette[text], palette[background])
            assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f}"
    # Every colour goes through the palettes above, so the pairs cover what the page draws.
    assert re.findall(r"#[0-9a-fA-F]{3,8}\b", re.sub(r":root\s*\{[^}]*\}", "", css)) == []
    assert "@media (prefers-color-scheme: dark)" in css
    assert "max-width" in css

    # Talk text is escaped by the template; only our own script is on the page, allowed by its hash.
    assert "<b>Machines</b>" not in html and "&lt;b&gt;Machines&lt;/b&gt;" in html
    assert "<script>alert(1)</script>" not in html
    [script] = re.findall(r"<script>(.*?)</script>", html, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = headers["Content-Security-Policy"]
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"

    # Times are there without the script too, in the server's zone, with machine-readable instants.
    night = dst_start()
    utc = night.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f'<time datetime="{utc}" data-local="date">' in html
    assert "01:30 CEST</time> – <time" in html and "03:30 CET</time>" in html

    # Conditional requests work on the page as on the feeds; without a trailing slash it redirects.
    assert (await web.get(agenda, {"If-None-Match": headers["ETag"]}))[0] == 304
    status, _, moved = await web.get(agenda.rstrip("/"))
    assert (status, moved["Location"]) == (308, agenda)
