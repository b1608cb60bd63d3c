"""The web side's cache, over real HTTP: polls cost no rendering, every change shows at once, held-back talks
stay hidden everywhere, and no URL can be guessed by counting."""

from __future__ import annotations

import asyncio
import gzip
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from icalendar import Calendar

from bot import store
from bot.database import Database, _migrations, _split_sql
from bot.feeds import FeedService, hash_token
from bot.models import GuildSettings
from bot.talks import TalkInput, TalkService
from bot.versions import ChangeCounters
from bot.web import accepts_gzip
from tests.conftest import Clock
from tests.databases import sqlite_only
from tests.emulator import DiscordEmulator
from tests.harness import School
from tests.web_helpers import WebSide, create_talk, feed_link, local, set_up, web_bot


@pytest.fixture
async def web(emu: DiscordEmulator, school: School, tmp_path: Path) -> AsyncIterator[WebSide]:
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as side:
        yield side


def renders(web: WebSide) -> dict[str, int]:
    assert web.bot.web is not None
    return dict(web.bot.web.renders)


def titles(body: bytes) -> list[str]:
    return [str(event["SUMMARY"]) for event in Calendar.from_ical(body).walk("VEVENT")]


def soon(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(second=0, microsecond=0)


async def test_polls_heads_and_conditional_requests_render_nothing_again(school: School, web: WebSide) -> None:
    alice = school.students["alice"]
    await set_up(school, public_calendar=True)
    talk = await create_talk(school, title="Cached talk", speaker="Dr. Memo", start=local(soon(4)), capacity=5)
    await school.run(alice, "register", {"talk": talk})
    personal, _, _ = await feed_link(school, alice)
    # The announcement's refresh and the invite DM land after the replies, and may move the change counters.
    await web.bot.announcer.drain()
    await web.bot.courier.drain()
    paths = {
        "server_feed": await web.feed_path(school.guild_id),
        "agenda": await web.agenda_path(school.guild_id),
        "talk_file": await web.talk_path(school.guild_id, talk),
        "member_feed": personal.removeprefix(web.base),
    }
    first = {kind: await web.get(path) for kind, path in paths.items()}
    assert {kind: answer[0] for kind, answer in first.items()} == dict.fromkeys(paths, 200)
    assert renders(web) == dict.fromkeys(paths, 1)

    for kind, path in paths.items():
        _, body, headers = first[kind]
        for conditional in ({"If-None-Match": headers["ETag"]}, {"If-Modified-Since": headers["Last-Modified"]}):
            status, empty, again = await web.get(path, conditional)
            assert (status, empty, again["ETag"]) == (304, b"", headers["ETag"]), kind
        status, empty, head = await web.head(path, {"Accept-Encoding": "identity"})
        plain_tag = headers["ETag"].removesuffix('-gzip"').removesuffix('"') + '"'
        assert (status, empty, head["ETag"], head["Content-Length"]) == (200, b"", plain_tag, str(len(body)))
        assert (await web.get(path))[1] == body
    assert renders(web) == dict.fromkeys(paths, 1), "only the first request of each rendered anything"


async def test_feeds_go_compressed_to_clients_that_accept_it(school: School, web: WebSide) -> None:
    await set_up(school, public_calendar=True)
    for number in range(5):
        await create_talk(school, title=f"Talk {number}", speaker="S", start=local(soon(3 + number)))
    path = await web.feed_path(school.guild_id)
    plain_headers = {"Accept-Encoding": "identity"}
    raw = aiohttp.ClientSession(auto_decompress=False)
    async with raw:
        async with raw.get(web.base + path, headers={"Accept-Encoding": "gzip, deflate"}) as response:
            packed, packed_headers = await response.read(), response.headers
        async with raw.get(web.base + path, headers=plain_headers) as response:
            plain, headers = await response.read(), response.headers
        async with raw.get(web.base + path, headers={"Accept-Encoding": "gzip;q=0, identity"}) as response:
            refused = await response.read()
    assert packed_headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in headers
    assert gzip.decompress(packed) == plain == refused and len(packed) < len(plain) / 3
    assert packed_headers["Vary"] == headers["Vary"] == "Accept-Encoding"
    assert packed_headers["ETag"] == headers["ETag"][:-1] + '-gzip"'
    # Either tag names the same content: a calendar that switches encodings still gets its 304.
    for tag in (packed_headers["ETag"], headers["ETag"]):
        assert (await web.get(path, {"If-None-Match": tag, **plain_headers}))[0] == 304
    assert renders(web) == {"server_feed": 1}


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("*;q=0", False),
        ("br, *;q=0.1", True),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


async def test_simultaneous_first_fetches_share_one_rendering(school: School, web: WebSide) -> None:
    await set_up(school, public_calendar=True)
    for number in range(30):
        await create_talk(school, title=f"Talk {number}", speaker="S", start=local(soon(3 + number)))
    path = await web.feed_path(school.guild_id)
    answers = await asyncio.gather(*(web.get(path) for _ in range(15)))  # within the per-address limit
    assert {(status, len(titles(body))) for status, body, _ in answers} == {(200, 30)}
    assert len({headers["ETag"] for _, _, headers in answers}) == 1
    assert renders(web) == {"server_feed": 1}


async def test_every_change_reaches_the_pages_that_show_it(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    alice, bob = school.students["alice"], school.students["bob"]
    await set_up(school, public_calendar=True)
    talk = await create_talk(school, title="Seats talk", speaker="Dr. Count", start=local(soon(5)), capacity=3)
    feed, agenda = await web.feed_path(school.guild_id), await web.agenda_path(school.guild_id)
    talk_file = await web.talk_path(school.guild_id, talk)
    await school.run(alice, "register", {"talk": talk})
    personal, _, _ = await feed_link(school, bob)
    _, feed_body, feed_headers = await web.get(feed)
    _, page, _ = await web.get(agenda)
    assert "2 of 3 left" in page.decode()
    assert titles((await web.get(personal))[1]) == []

    # A registration: the agenda's seats and Bob's own feed change; the public feed shows no seats, so it keeps
    # its rendering (and its ETag: calendars polling it download nothing).
    await school.run(bob, "register", {"talk": talk})
    assert "1 of 3 left" in (await web.get(agenda))[1].decode()
    assert titles((await web.get(personal))[1]) == ["Seats talk — Dr. Count"]
    status, _, headers = await web.get(feed, {"If-None-Match": feed_headers["ETag"]})
    assert status == 304
    assert renders(web)["server_feed"] == 1

    # Unregistering is a change too.
    await school.run(bob, "unregister", {"talk": talk})
    assert "2 of 3 left" in (await web.get(agenda))[1].decode()
    assert titles((await web.get(personal))[1]) == []

    # An edit reaches the feed, the page and the talk's own file at once.
    await school.run(school.organizer, "talk edit", {"talk": talk, "location": "Amphi Z"})
    status, body, headers = await web.get(feed, {"If-None-Match": feed_headers["ETag"]})
    assert status == 200 and headers["ETag"] != feed_headers["ETag"] and b"Amphi Z" in body
    assert "Amphi Z" in (await web.get(agenda))[1].decode()
    assert b"Amphi Z" in (await web.get(talk_file))[1]

    # A server setting (its time zone) changes every page; turning publishing off takes them all down.
    await school.run(school.admin, "setup", {"timezone": "America/New_York"})
    assert b"X-WR-TIMEZONE:America/New_York" in (await web.get(feed))[1]
    await school.run(school.admin, "setup", {"public_calendar": False})
    for path in (feed, agenda, talk_file):
        assert (await web.get(path))[:2] == (404, b"Not found.\n")
    assert feed_body != b""


async def test_a_reset_link_stops_at_once_even_when_its_feed_was_cached(school: School, web: WebSide) -> None:
    alice = school.students["alice"]
    await set_up(school)
    old, _, _ = await feed_link(school, alice)
    for _ in range(2):
        assert (await web.get(old))[0] == 200
    new, _, _ = await feed_link(school, alice, reset=True)
    assert (await web.get(old))[:2] == (404, b"Not found.\n")
    assert (await web.get(new))[0] == 200


async def test_a_talk_held_back_is_nowhere_on_the_web(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    alice = school.students["alice"]
    # No announcement channel yet: talks are created unannounced, and open to registration at once.
    reply = await school.run(
        school.admin,
        "setup",
        {"organizer_role": school.organizer_role, "timezone": "Europe/Paris", "public_calendar": True},
    )
    assert "Settings saved" in reply.all_text(), reply.all_text()
    shown = await create_talk(school, title="Open talk", speaker="Dr. Open", start=local(soon(10)))
    later = await create_talk(school, title="Secret talk", speaker="Dr. Hush", start=local(soon(12)))
    assert "You're registered" in (await school.run(alice, "register", {"talk": later})).all_text()
    personal, _, _ = await feed_link(school, alice)
    feed, agenda = await web.feed_path(school.guild_id), await web.agenda_path(school.guild_id)
    secret_file = await web.talk_path(school.guild_id, later)
    assert "Secret talk — Dr. Hush" in titles((await web.get(feed))[1])
    assert "Secret talk — Dr. Hush" in titles((await web.get(personal))[1])
    assert (await web.get(secret_file))[0] == 200

    # The organizer now holds it back until an announcement date: gone from every page, cached or not,
    # even from the feed of Alice, who registered while it was open.
    announce_at = soon(11)
    edited = await school.run(school.organizer, "talk edit", {"talk": later, "announce_at": local(announce_at)})
    assert "announce" in edited.all_text().lower(), edited.all_text()
    assert titles((await web.get(feed))[1]) == ["Open talk — Dr. Open"]
    assert titles((await web.get(personal))[1]) == []
    page = (await web.get(agenda))[1].decode()
    assert "Open talk" in page and "Secret talk" not in page and "Dr. Hush" not in page
    assert (await web.get(secret_file))[:2] == (404, b"Not found.\n")
    assert (await web.get(await web.talk_path(school.guild_id, shown)))[0] == 200

    # Its announcement time comes: it appears without anything written to the database.
    rendered = renders(web)
    web.bot.service.clock = lambda: announce_at + timedelta(minutes=1)
    assert "Secret talk — Dr. Hush" in titles((await web.get(feed))[1])
    assert "Secret talk — Dr. Hush" in titles((await web.get(personal))[1])
    assert "Secret talk" in (await web.get(agenda))[1].decode()
    assert (await web.get(secret_file))[0] == 200
    assert renders(web)["server_feed"] == rendered["server_feed"] + 1


async def test_walking_ids_finds_nothing_and_every_miss_looks_the_same(
    emu: DiscordEmulator, school: School, web: WebSide
) -> None:
    await set_up(school, public_calendar=True)
    public = await create_talk(school, title="Public", speaker="S", start=local(soon(3)))
    hidden = await create_talk(school, title="Hidden", speaker="S", start=local(soon(6)), announce_at=local(soon(5)))
    # A second server that does not publish: its talks and its ids must look exactly like nothing.
    other = emu.add_guild("Private school")
    async with web.bot.db.transaction() as conn:
        quiet = await store.save_settings(conn, GuildSettings(guild_id=other.id), datetime.now(UTC))
        private = await store.insert_talk(
            conn,
            other.id,
            1,
            datetime.now(UTC),
            {"title": "Private", "speaker": "S", "start_at": soon(4), "duration_min": 60, "reminders": ()},
        )
    assert quiet.public_id is not None and private.public_id is not None

    served = await web.talk_path(school.guild_id, public)
    assert (await web.get(served))[0] == 200
    misses = [f"/t/{number}.ics" for number in range(1, max(public, hidden, private.id) + 3)]
    misses += [f"/g/{school.guild_id}/", f"/g/{school.guild_id}/calendar.ics", f"/g/{other.id}/calendar.ics"]
    misses += [
        await web.talk_path(school.guild_id, hidden),
        f"/t/{private.public_id}.ics",
        f"/g/{quiet.public_id}/",
        f"/g/{quiet.public_id}/calendar.ics",
        f"/t/{secrets.token_hex(16)}.ics",
        f"/g/{secrets.token_hex(16)}/calendar.ics",
        f"/u/{secrets.token_urlsafe(32)}.ics",
    ]
    answers = set()
    for path in misses:
        status, body, headers = await web.get(path)
        answers.add((status, body, tuple(sorted((k, v) for k, v in headers.items() if k != "Date"))))
    assert len(answers) == 1, answers
    [(status, body, headers)] = answers
    assert (status, body) == (404, b"Not found.\n")
    assert dict(headers)["Cache-Control"] == "no-store" and "ETag" not in dict(headers)
    # Nothing public carries a sequential id in its URL.
    assert not re.search(rf"/t/{public}\.ics", served)


# --- the counters and the migration, on the database directly ---------------------------------------------


async def test_every_write_that_a_page_shows_moves_its_servers_counters(
    db: Database, service: TalkService, clock: Clock
) -> None:
    counters = ChangeCounters()
    feeds = FeedService(service, counters)
    await counters.watch(db)
    guild, other = 1, 2
    assert counters.version(guild) == (0, 0)

    async def moved(action: object) -> tuple[bool, bool]:
        before = counters.version(guild)
        await action  # type: ignore[misc]
        after = counters.version(guild)
        return after[0] != before[0], after[1] != before[1]

    assert await moved(service.update_settings(guild, public_calendar=True)) == (True, False)
    talk = await service.create_talk(
        guild, 9, TalkInput(title="T", speaker="S", start=local(clock.now + timedelta(days=2)), capacity=1)
    )
    assert counters.version(guild)[0] == 2
    assert await moved(service.register(guild, talk.id, 5, "Five")) == (False, True)
    assert await moved(service.register(guild, talk.id, 6, "Six")) == (False, True)  # waitlisted
    assert await moved(service.unregister(guild, talk.id, 5)) == (False, True)  # Six promoted
    assert await moved(service.edit_talk(guild, talk.id, TalkInput(location="Room 2"))) == (True, False)
    assert await moved(service.edit_talk(guild, talk.id, TalkInput(capacity=0))) == (True, False)
    link = await feeds.link(guild, 6, reset=False)
    assert link.token is not None
    assert await moved(feeds.link(guild, 6, reset=True)) == (False, True)
    # A fetch stamps "last used" on the token: no page changes for that.
    clock.now += timedelta(hours=1)
    assert await moved(feeds.touch(hash_token("anything"))) == (False, False)
    async with db.transaction() as conn:
        await store.touch_feed_token(conn, hash_token(link.token), clock.now, clock.now)
    assert await moved(service.update_settings(other, public_calendar=True)) == (False, False)
    assert await moved(service.cancel_talk(guild, talk.id, "ill")) == (True, False)


@sqlite_only
def test_the_migration_gives_existing_talks_and_servers_random_public_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        for number, _, script in _migrations():
            if number >= 8:
                break
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("INSERT INTO guild_settings (guild_id, public_calendar, updated_at) VALUES (1, 1, 0), (2, 0, 0)")
        for talk_id in (1, 2, 3):
            conn.execute(
                "INSERT INTO talks (id, guild_id, title, speaker, start_at, duration_min, reminders, status, "
                "sequence, created_by, created_at, updated_at) VALUES (?, 1, 't', 's', 0, 60, '', 'scheduled', "
                "0, 1, 0, 0)",
                (talk_id,),
            )

    async def migrated() -> tuple[list[str], list[str]]:
        db = await Database.open(path)
        try:
            async with db.reading() as conn:
                talks = [row[0] for row in await conn.execute_fetchall("SELECT public_id FROM talks")]
                servers = [row[0] for row in await conn.execute_fetchall("SELECT public_id FROM guild_settings")]
        finally:
            await db.close()
        return talks, servers

    talks, servers = asyncio.run(migrated())
    ids = talks + servers
    assert len(ids) == 5 and len(set(ids)) == 5
    assert all(re.fullmatch("[0-9a-f]{32}", public_id) for public_id in ids)
