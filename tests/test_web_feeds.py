"""Calendar feeds over real HTTP, served by the real bot's web side, read with icalendar and with vobject."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest

from bot.client import PodiumBot
from bot.database import Database
from bot.feeds import FeedService
from bot.models import RegistrationStatus
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock
from tests.databases import database_target
from tests.emulator import DiscordEmulator
from tests.harness import School, running_bot
from tests.web_helpers import (
    PARIS,
    WebSide,
    both_parsers,
    create_talk,
    dm_invites,
    dst_start,
    feed_link,
    local,
    set_up,
    vevents,
    web_bot,
)

CALENDAR_TYPE = "text/calendar; charset=utf-8"


@pytest.fixture
async def web(emu: DiscordEmulator, school: School, tmp_path: Path) -> AsyncIterator[WebSide]:
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as side:
        yield side


def invite_of(emu: DiscordEmulator, user: int, uid: str) -> tuple[int, str]:
    """SEQUENCE and STATUS of the member's latest DM invite for the event ``uid``."""
    [*_, latest] = [event for cal in dm_invites(emu, user) for event in cal.walk("VEVENT") if str(event["UID"]) == uid]
    return int(latest["SEQUENCE"]), str(latest["STATUS"])


async def test_personal_feed_follows_the_members_talks(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    alice, bob = school.students["alice"], school.students["bob"]
    await set_up(school)
    soon = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)
    brain = await create_talk(
        school, title="Imaging the brain", speaker="Dr. Ada", start=local(soon), duration=90, capacity=1
    )
    night = dst_start()
    dst = await create_talk(school, title="The longest night", speaker="Prof. Owl", start=local(night), duration=180)
    for talk in (brain, dst):
        assert "You're registered" in (await school.run(alice, "register", {"talk": talk})).all_text()
    assert "#1 on the waitlist" in (await school.run(bob, "register", {"talk": brain})).all_text()
    await web.bot.courier.drain()  # replies do not wait for the invite DMs
    dm_uids = {str(e["UID"]): e for cal in dm_invites(emu, alice) for e in cal.walk("VEVENT")}
    assert len(dm_uids) == 2

    https, webcal, text = await feed_link(school, alice)
    assert webcal == "webcal://" + https.removeprefix("http://")
    for app in ("Google Calendar", "Outlook", "Apple Calendar"):
        assert app in text
    status, body, headers = await web.get(https)
    assert status == 200
    assert headers["Content-Type"] == CALENDAR_TYPE
    assert headers["Cache-Control"] == "private, no-cache"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert re.fullmatch(r'"[0-9a-f]{32}(-gzip)?"', etag)

    cal, vcal = both_parsers(body)
    assert cal["METHOD"] == "PUBLISH" and vcal.method.value == "PUBLISH"
    assert cal["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"
    assert cal["REFRESH-INTERVAL"].dt == timedelta(hours=1)
    assert vcal.contents["refresh-interval"][0].value == "PT1H"
    assert vcal.contents["x-published-ttl"][0].value == "PT1H"
    assert "My talks — Faculty of Medicine" in vcal.contents["x-wr-calname"][0].value
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    vevs = vevents(vcal)
    assert set(events) == set(vevs) == set(dm_uids)
    for uid, invite in dm_uids.items():
        assert events[uid]["SEQUENCE"] == invite["SEQUENCE"] == int(vevs[uid].sequence.value)
        assert events[uid].decoded("DTSTART") == invite.decoded("DTSTART")
        assert str(events[uid]["STATUS"]) == vevs[uid].status.value == "CONFIRMED"

    # The talk across the night the clocks go back: 3 real hours, 01:30 CEST to 03:30 CET, in both parsers.
    [dst_uid] = [uid for uid, e in events.items() if "The longest night" in str(e["SUMMARY"])]
    for start, end in (
        (events[dst_uid].decoded("DTSTART"), events[dst_uid].decoded("DTEND")),
        (vevs[dst_uid].dtstart.value, vevs[dst_uid].dtend.value),
    ):
        assert start.astimezone(UTC) == night.astimezone(UTC)
        assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=3)
        assert (start.astimezone(PARIS).hour, start.astimezone(PARIS).minute) == (1, 30)
        assert (end.astimezone(PARIS).hour, end.astimezone(PARIS).minute) == (3, 30)
        assert start.utcoffset() == timedelta(hours=2) and end.utcoffset() == timedelta(hours=1)

    # Bob is on the waitlist: the talk is there, tentative, marked, free time, no alarm.
    bob_https, _, _ = await feed_link(school, bob)
    _, bob_body, _ = await web.get(bob_https)
    bob_cal, bob_vcal = both_parsers(bob_body)
    [waiting] = bob_cal.walk("VEVENT")
    assert str(waiting["UID"]) == next(uid for uid in events if dst_uid != uid)
    assert str(waiting["STATUS"]) == "TENTATIVE" == vevents(bob_vcal)[str(waiting["UID"])].status.value
    assert str(waiting["SUMMARY"]) == "Imaging the brain — Dr. Ada (waitlist #1)"
    assert str(waiting["TRANSP"]) == "TRANSPARENT"
    assert waiting.walk("VALARM") == []

    # Conditional requests.
    assert (await web.get(https, {"If-None-Match": etag}))[:2] == (304, b"")
    assert (await web.get(https, {"If-Modified-Since": modified}))[:2] == (304, b"")
    earlier = format_datetime(parsedate_to_datetime(modified) - timedelta(days=1), usegmt=True)
    assert (await web.get(https, {"If-Modified-Since": earlier}))[0] == 200
    assert (await web.get(https, {"If-None-Match": '"something-else"'}))[0] == 200
    assert (await web.get(https))[2]["ETag"] == etag  # unchanged data, same bytes

    # An edit reaches the feed with the same SEQUENCE as the updated DM invite.
    brain_uid = str(waiting["UID"])
    await school.run(school.organizer, "talk edit", {"talk": brain, "location": "Amphi B"})
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "has changed" in m["content"]
    )
    status, body, headers = await web.get(https, {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
    edited = {str(e["UID"]): e for e in both_parsers(body)[0].walk("VEVENT")}[brain_uid]
    assert str(edited["LOCATION"]) == "Amphi B"
    assert (int(edited["SEQUENCE"]), "CONFIRMED") == invite_of(emu, alice, brain_uid) == (1, "CONFIRMED")

    # Cancelled: kept in the feed as STATUS:CANCELLED, same SEQUENCE as the cancellation DM; Bob's too.
    await school.run(school.organizer, "talk cancel", {"talk": brain, "reason": "Scanner broke"})
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "cancelled" in m["content"]
    )
    for url, user_has_dm in ((https, True), (bob_https, False)):
        cal, vcal = both_parsers((await web.get(url))[1])
        cancelled = {str(e["UID"]): e for e in cal.walk("VEVENT")}[brain_uid]
        assert str(cancelled["STATUS"]) == "CANCELLED" == vevents(vcal)[brain_uid].status.value
        assert int(cancelled["SEQUENCE"]) == 2
        if user_has_dm:
            assert invite_of(emu, alice, brain_uid) == (2, "CANCELLED")


async def test_reset_forged_tokens_and_the_one_404(
    emu: DiscordEmulator, school: School, web: WebSide, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = school.students["alice"]
    await set_up(school)
    first, _, _ = await feed_link(school, alice)
    token = first.rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert (await web.get(first))[0] == 200

    again = await school.run(alice, "calendar")
    assert again.ephemeral
    assert "cannot show it again" in again.all_text()
    assert "/u/" not in again.all_text()
    assert "a calendar last fetched it <t:" in again.all_text()

    second, _, reset_text = await feed_link(school, alice, reset=True)
    assert second != first
    assert "previous link stopped working" in reset_text
    assert (await web.get(second))[0] == 200

    # Only the hash is stored, and the token never reaches a log line.
    stored = await Database.open(database_target(tmp_path / "podium.sqlite3"))
    async with stored.reading() as conn:
        rows = await conn.execute_fetchall("SELECT token_hash FROM calendar_tokens")
    await stored.close()
    new_token = second.rsplit("/", 1)[1].removesuffix(".ics")
    assert [bytes(row[0]) for row in rows] == [hashlib.sha256(new_token.encode()).digest()]
    assert "/u/<token>" in caplog.text
    assert token not in caplog.text and new_token not in caplog.text

    # Every miss looks the same: the replaced token, forged ones, disabled or unknown servers and talks.
    misses = [
        first,
        f"{web.base}/u/{secrets.token_urlsafe(32)}.ics",
        f"{web.base}/u/{token[:-1]}.ics",
        f"{web.base}/u/abc.ics",
        f"{web.base}/u/{'A' * 500}.ics",
        f"{web.base}/u/..%2F..%2Fpodium.sqlite3.ics",
        f"{web.base}/u/{new_token}",
        f"{web.base}{await web.feed_path(school.guild_id)}",  # the server does not publish its calendar
        f"{web.base}{await web.agenda_path(school.guild_id)}",
        f"{web.base}/g/{school.guild_id}/calendar.ics",  # Discord ids name nothing
        f"{web.base}/g/{school.guild_id}/",
        f"{web.base}/g/{secrets.token_hex(16)}/calendar.ics",
        f"{web.base}/g/99999999999999999999/calendar.ics",
        f"{web.base}/t/1.ics",
        f"{web.base}/t/{secrets.token_hex(16)}.ics",
        f"{web.base}/t/{secrets.token_hex(16).upper()}.ics",
        f"{web.base}/nothing-here",
    ]
    answers = set()
    for url in misses:
        status, body, headers = await web.get(url)
        answers.add((status, body, headers["Content-Type"], headers.get("ETag"), headers["Cache-Control"]))
    assert answers == {(404, b"Not found.\n", "text/plain; charset=utf-8", None, "no-store")}


async def test_server_feed_and_single_talk(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    alice = school.students["alice"]
    await set_up(school)
    start = (datetime.now(UTC) + timedelta(days=6)).replace(second=0, microsecond=0)
    public = await create_talk(school, title="Open science", speaker="Dr. Open", start=local(start), capacity=3)
    hidden = await create_talk(
        school,
        title="Secret seminar",
        speaker="Dr. Hush",
        start=local(start + timedelta(days=2)),
        announce_at=local(start + timedelta(days=1)),
    )
    await school.run(alice, "register", {"talk": public})
    await web.bot.courier.drain()
    [invite] = dm_invites(emu, alice)
    [dm_event] = invite.walk("VEVENT")
    feed = await web.feed_path(school.guild_id)
    assert (await web.get(feed))[0] == 404

    shown = await school.run(school.admin, "setup", {"public_calendar": True})
    assert f"on: <{web.base}{await web.agenda_path(school.guild_id)}>" in shown.all_text()
    status, body, headers = await web.get(feed)
    assert status == 200 and headers["Content-Type"] == CALENDAR_TYPE
    assert headers["Cache-Control"].startswith("public")
    cal, vcal = both_parsers(body)
    assert cal["METHOD"] == "PUBLISH"
    assert cal["X-WR-CALNAME"] == "Talks — Faculty of Medicine"
    assert vcal.contents["x-published-ttl"][0].value == "PT1H"
    [event] = cal.walk("VEVENT")
    assert list(vevents(vcal)) == [str(dm_event["UID"])] == [str(event["UID"])]
    assert event["SEQUENCE"] == dm_event["SEQUENCE"]
    text = body.decode()
    assert "Secret seminar" not in text
    for private in ("alice", str(alice), "ATTENDEE", "ORGANIZER"):
        assert private not in text
    assert (await web.get(feed, {"If-None-Match": headers["ETag"]}))[0] == 304

    public_file = await web.talk_path(school.guild_id, public)
    status, body, headers = await web.get(public_file)
    assert status == 200 and headers["Content-Type"] == CALENDAR_TYPE
    assert headers["Content-Disposition"] == f'attachment; filename="podium-talk-{public_file[3:-4]}.ics"'
    cal, vcal = both_parsers(body)
    [single] = cal.walk("VEVENT")
    assert (str(single["UID"]), single["SEQUENCE"]) == (str(dm_event["UID"]), dm_event["SEQUENCE"])
    assert vcal.vevent.dtstart.value.astimezone(UTC) == start
    assert (await web.get(await web.talk_path(school.guild_id, hidden)))[0] == 404

    reply = await school.run(alice, "calendar")
    assert f"<{web.base}{await web.agenda_path(school.guild_id)}>" in reply.all_text()

    await school.run(school.admin, "setup", {"public_calendar": False})
    for path in (feed, public_file, await web.agenda_path(school.guild_id)):
        assert (await web.get(path))[:2] == (404, b"Not found.\n")


async def test_calendar_says_when_the_web_side_is_off(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    reply = await school.run(school.students["alice"], "calendar")
    assert reply.ephemeral
    assert "PUBLIC_URL" in reply.all_text() and "WEB_PORT" in reply.all_text()
    shown = await school.run(school.admin, "setup", {"public_calendar": True})
    assert "web side is not configured" in shown.all_text()


async def test_a_taken_port_leaves_the_bot_running(emu: DiscordEmulator, school: School, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with running_bot(
            emu,
            tmp_path / "podium.sqlite3",
            DEV_GUILD_ID=str(school.guild_id),
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            WEB_PORT=str(port),
        ) as bot:
            assert bot.web is not None and not bot.web.running
            reply = await school.run(school.students["alice"], "calendar")
            assert reply.ephemeral
            assert "not running" in reply.all_text() and "nothing was changed" in reply.all_text()


# --- the feed's rules, on the domain directly ------------------------------------------------------------


async def test_past_and_cancelled_talks_stay_thirty_days(service: TalkService, clock: Clock) -> None:
    feeds = FeedService(service)
    guild, organizer, member = 1, 2, 3
    await service.update_settings(guild, public_calendar=True)
    start = clock.now + timedelta(days=2)
    held = await service.create_talk(guild, organizer, TalkInput(title="Held", speaker="S", start=local(start)))
    dropped = await service.create_talk(
        guild, organizer, TalkInput(title="Dropped", speaker="S", start=local(start + timedelta(days=10)))
    )
    for talk in (held, dropped):
        outcome = await service.register(guild, talk.id, member, "Member")
        assert outcome.registration.status is RegistrationStatus.CONFIRMED
    link = await feeds.link(guild, member, reset=False)
    assert link.token is not None
    clock.now += timedelta(days=1)
    await service.cancel_talk(guild, dropped.id, "Speaker ill")

    async def titles_at(moment: datetime) -> tuple[list[str], list[str]]:
        clock.now = moment
        mine = await feeds.member_feed(link.token or "")
        public = await feeds.public_feed(guild)
        assert mine is not None and public is not None
        return [t.title for t, _ in mine.entries], [t.title for t in public.talks]

    cancelled_at = start - timedelta(days=1)
    assert await titles_at(cancelled_at + timedelta(days=29)) == (["Held", "Dropped"], ["Held", "Dropped"])
    assert await titles_at(cancelled_at + timedelta(days=31)) == (["Held"], ["Held"])
    held_end = start + timedelta(minutes=60)
    assert await titles_at(held_end + timedelta(days=29, hours=23)) == (["Held"], ["Held"])
    assert await titles_at(held_end + timedelta(days=30, minutes=1)) == ([], [])


async def test_tokens_are_hashed_and_reset_replaces_them(service: TalkService) -> None:
    feeds = FeedService(service)
    first = await feeds.link(7, 8, reset=False)
    assert first.token is not None and not first.replaced
    again = await feeds.link(7, 8, reset=False)
    assert again.token is None and again.created_at == first.created_at
    other_server = await feeds.link(70, 8, reset=False)
    assert other_server.token not in (None, first.token)
    assert (await feeds.member_feed(first.token)) is not None
    reset = await feeds.link(7, 8, reset=True)
    assert reset.replaced and reset.token not in (None, first.token)
    assert await feeds.member_feed(first.token) is None
    assert await feeds.member_feed(reset.token or "") is not None
    feed = await feeds.member_feed(other_server.token or "")
    assert feed is not None and feed.guild_id == 70


async def test_feeds_speak_the_servers_and_each_members_language(
    emu: DiscordEmulator, school: School, web: WebSide
) -> None:
    alice = school.students["alice"]  # en-US
    zoe = emu.add_user("zoe", locale="fr")
    emu.add_member(school.guild_id, zoe)
    await set_up(school, public_calendar=True)
    start = (datetime.now(UTC) + timedelta(days=6)).replace(second=0, microsecond=0)
    talk = await create_talk(school, title="Open science", speaker="Dr. Open", start=local(start), capacity=1)
    await school.run(alice, "register", {"talk": talk})
    await school.run(zoe, "register", {"talk": talk})  # waitlisted
    feed = await web.feed_path(school.guild_id)
    cal, _vcal = both_parsers((await web.get(feed))[1])
    assert cal["X-WR-CALNAME"] == "Talks — Faculty of Medicine"

    # The server chooses French: its feed follows at once (a setting moves the cached feed's counters).
    await web.bot.service.update_settings(school.guild_id, language="fr")
    cal, vcal = both_parsers((await web.get(feed))[1])
    assert cal["X-WR-CALNAME"] == vcal.contents["x-wr-calname"][0].value == "Conférences — Faculty of Medicine"
    assert vcal.contents["x-wr-caldesc"][0].value == "Les conférences de Faculty of Medicine, tenues à jour par Podium."

    # Personal feeds speak their member's own language, whatever the server's.
    zoe_feed, _webcal, _text = await feed_link(school, zoe)
    zoe_cal, _zoe_vcal = both_parsers((await web.get(zoe_feed))[1])
    assert str(zoe_cal["X-WR-CALNAME"]) == "Mes conférences — Faculty of Medicine"
    [waiting] = zoe_cal.walk("VEVENT")
    assert str(waiting["SUMMARY"]) == "Open science — Dr. Open (liste d’attente, n°\u00a01)"
    assert str(waiting["DESCRIPTION"]).startswith("Vous êtes n°\u00a01 sur la liste d’attente.")
    alice_feed, _webcal, _text = await feed_link(school, alice)
    alice_cal, _alice_vcal = both_parsers((await web.get(alice_feed))[1])
    assert str(alice_cal["X-WR-CALNAME"]) == "My talks — Faculty of Medicine"


async def test_a_french_speaking_server_gets_a_french_feed_without_choosing(
    emu: DiscordEmulator, school: School, tmp_path: Path
) -> None:
    emu.world.guilds[school.guild_id].preferred_locale = "fr"
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as web:
        await set_up(school, public_calendar=True)
        cal, vcal = both_parsers((await web.get(await web.feed_path(school.guild_id)))[1])
        assert str(cal["X-WR-CALNAME"]) == "Conférences — Faculty of Medicine"
        assert (
            vcal.contents["x-wr-caldesc"][0].value
            == "Les conférences de Faculty of Medicine, tenues à jour par Podium."
        )
