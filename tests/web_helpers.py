"""Shared by the web tests: the real bot with its web side on a free local port, and small helpers."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import vobject
from icalendar import Calendar

from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School, running_bot

PARIS = ZoneInfo("Europe/Paris")
FEED_LINK = re.compile(r"<(https?://[^>\s]+/u/[A-Za-z0-9_-]+\.ics)>")
WEBCAL_LINK = re.compile(r"`(webcal://[^`\s]+/u/[A-Za-z0-9_-]+\.ics)`")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WebSide:
    bot: PodiumBot
    base: str
    http: aiohttp.ClientSession

    async def get(self, path_or_url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes, Any]:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        async with self.http.get(url, headers=dict(headers or {}), allow_redirects=False) as response:
            return response.status, await response.read(), response.headers

    async def head(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes, Any]:
        async with self.http.head(self.base + path, headers=dict(headers or {}), allow_redirects=False) as response:
            return response.status, await response.read(), response.headers

    async def server_id(self, guild_id: int) -> str:
        """The server's public id, as /setup shows it in the agenda page's link."""
        public_id = (await self.bot.service.settings(guild_id)).public_id
        assert public_id is not None and re.fullmatch("[0-9a-f]{32}", public_id)
        return public_id

    async def talk_path(self, guild_id: int, talk_id: int) -> str:
        """The talk's "Add to calendar" file, named by its public id."""
        public_id = (await self.bot.service.get_talk(guild_id, talk_id)).public_id
        assert public_id is not None and re.fullmatch("[0-9a-f]{32}", public_id)
        return f"/t/{public_id}.ics"

    async def feed_path(self, guild_id: int) -> str:
        return f"/g/{await self.server_id(guild_id)}/calendar.ics"

    async def agenda_path(self, guild_id: int) -> str:
        return f"/g/{await self.server_id(guild_id)}/"


@asynccontextmanager
async def web_bot(emu: DiscordEmulator, school: School, database: Path, **extra: str) -> AsyncIterator[WebSide]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with (
        running_bot(
            emu, database, DEV_GUILD_ID=str(school.guild_id), PUBLIC_URL=base, WEB_PORT=str(port), **extra
        ) as bot,
        aiohttp.ClientSession() as http,
    ):
        assert bot.web is not None and bot.web.running
        yield WebSide(bot, base, http)


def local(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")


def next_fall_back(after: datetime) -> date:
    """The next last Sunday of October (Paris leaves summer time) at least 40 days after ``after``."""
    year = after.year
    while True:
        day = date(year, 10, 31)
        day -= timedelta(days=(day.weekday() + 1) % 7)
        if datetime(day.year, day.month, day.day, tzinfo=UTC) > after + timedelta(days=40):
            return day
        year += 1


def dst_start() -> datetime:
    """01:30 in Paris on the night the clocks go back: a 3-hour talk then ends at 03:30 CET, 3 real hours later."""
    day = next_fall_back(datetime.now(UTC))
    return datetime(day.year, day.month, day.day, 1, 30, tzinfo=PARIS)


async def set_up(school: School, **options: Any) -> str:
    reply = await school.run(
        school.admin,
        "setup",
        {"channel": school.channel_id, "organizer_role": school.organizer_role, "timezone": "Europe/Paris", **options},
    )
    assert "Settings saved" in reply.all_text(), reply.all_text()
    return reply.all_text()


async def create_talk(school: School, **fields: Any) -> int:
    reply = await school.run(school.organizer, "talk create", fields)
    match = re.search(r"Created talk \*\*#(\d+)\*\*", reply.all_text())
    assert match, reply.all_text()
    return int(match.group(1))


async def feed_link(school: School, user: int, *, reset: bool | None = None) -> tuple[str, str, str]:
    """Runs /calendar; returns (https link, webcal link, the whole reply)."""
    reply = await school.run(user, "calendar", {} if reset is None else {"reset": reset})
    assert reply.ephemeral
    text = reply.all_text()
    https, webcal = FEED_LINK.search(text), WEBCAL_LINK.search(text)
    assert https and webcal, text
    return https.group(1), webcal.group(1), text


def both_parsers(body: bytes) -> tuple[Calendar, Any]:
    """The feed read by icalendar and, independently, by vobject."""
    return Calendar.from_ical(body), vobject.readOne(body.decode("utf-8"))


def vevents(vcal: Any) -> dict[str, Any]:
    return {event.uid.value: event for event in vcal.contents.get("vevent", [])}


def dm_invites(emu: DiscordEmulator, user: int) -> list[Calendar]:
    calendars = []
    for message in emu.dm_messages(user):
        for attachment in message["attachments"]:
            if attachment["filename"].endswith(".ics"):
                calendars.append(Calendar.from_ical(emu.attachment_bytes(attachment)))
    return calendars
