"""Guild scheduled events in the Discord emulator, driven by the real discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl

from tests.emulator import (
    ChannelType,
    DiscordEmulator,
    EmulatorUsageError,
    EntityType,
    EventStatus,
    Intent,
    Perm,
)

# -- a client that writes down everything discord.py dispatches -----------------------------------------


class Recorder(discord.Client):
    """Records each dispatch synchronously, in the order the frames arrived: once a later event has been
    awaited, everything before it has been parsed, so "it did not happen" is a plain assertion."""

    def __init__(self, intents: discord.Intents, *, enable_debug_events: bool = False) -> None:
        super().__init__(
            intents=intents,
            guild_ready_timeout=0.05,
            enable_debug_events=enable_debug_events,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        self.seen.append((event, args))
        super().dispatch(event, *args, **kwargs)

    def dispatched(self, event: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.seen if name == event]

    def socket_events(self, prefix: str = "GUILD_SCHEDULED_EVENT") -> list[str]:
        return [args[0] for name, args in self.seen if name == "socket_event_type" and args[0].startswith(prefix)]


def intents(*, scheduled_events: bool = True, members: bool = False) -> discord.Intents:
    value = discord.Intents.default()
    value.guild_scheduled_events = scheduled_events
    value.members = members
    return value


@contextlib.asynccontextmanager
async def pointed_at(emu: DiscordEmulator) -> AsyncIterator[None]:
    old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running(emu: DiscordEmulator, bot: Recorder) -> AsyncIterator[Recorder]:
    async with pointed_at(emu):
        task = asyncio.create_task(bot.start(emu.token))
        ready = asyncio.create_task(emu.wait_ready(timeout=10))
        try:
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
            await ready
            await asyncio.wait_for(bot.wait_until_ready(), 5)
            yield bot
        finally:
            ready.cancel()
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        yield emulator


class World:
    def __init__(self, emu: DiscordEmulator) -> None:
        self.guild = emu.add_guild("Med School")
        self.owner = self.guild.owner_id
        self.channel = emu.add_text_channel(self.guild.id, "talks")
        self.voice = emu.add_channel(self.guild.id, "Amphitheatre", type=ChannelType.GUILD_VOICE)
        self.mods = emu.add_role(self.guild.id, "Moderators", Perm.MANAGE_EVENTS | Perm.CREATE_EVENTS)
        self.mod = emu.add_user("marie")
        emu.add_member(self.guild.id, self.mod, roles=[self.mods])
        self.students = [emu.add_user(name) for name in ("alice", "bob", "carol")]
        for student in self.students:
            emu.add_member(self.guild.id, student)


@pytest.fixture
def world(emu: DiscordEmulator) -> World:
    return World(emu)


def soon(hours: float = 1) -> datetime.datetime:
    return discord.utils.utcnow().replace(microsecond=0) + datetime.timedelta(hours=hours)


def guild_of(bot: discord.Client, world: World) -> discord.Guild:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    return guild


async def create_external(guild: discord.Guild, name: str = "Heart talk", **extra: Any) -> discord.ScheduledEvent:
    start = extra.pop("start_time", soon())
    return await guild.create_scheduled_event(
        name=name,
        start_time=start,
        end_time=extra.pop("end_time", start + datetime.timedelta(hours=1)),
        entity_type=discord.EntityType.external,
        privacy_level=discord.PrivacyLevel.guild_only,
        location=extra.pop("location", "Room 101"),
        **extra,
    )


def last_form_errors(emu: DiscordEmulator) -> dict[str, Any]:
    failed = next(r for r in reversed(emu.requests) if r.status == 400)
    assert failed.response["code"] == 50035
    errors: dict[str, Any] = failed.response["errors"]
    return errors


def error_codes(errors: dict[str, Any], path: str) -> list[str]:
    node = errors
    for part in path.split("."):
        node = node[part]
    return [e["code"] for e in node["_errors"]]


# -- REST through discord.py ------------------------------------------------------------------------------


async def test_create_fetch_edit_delete_with_discord_py(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        created = bot.wait_for("scheduled_event_create", timeout=5)
        event = await create_external(guild, description="Cardiology for first years", reason="Talk 12")
        assert (await created).id == event.id
        stored = emu.scheduled_event(event.id)
        assert stored["entity_metadata"] == {"location": "Room 101"} and stored["channel_id"] is None
        assert stored["creator_id"] == str(emu.bot_user_id) and stored["creator"]["id"] == str(emu.bot_user_id)
        assert (stored["status"], stored["privacy_level"], stored["entity_type"], stored["user_count"]) == (1, 2, 3, 0)
        assert stored["scheduled_start_time"] == event.start_time.isoformat()
        [post] = [r for r in emu.requests if r.method == "POST" and r.route == "/guilds/{guild_id}/scheduled-events"]
        assert post.reason == "Talk 12" and "user_count" not in post.response

        emu.mark_interested(world.guild.id, event.id, world.students[0])
        [fetched] = await guild.fetch_scheduled_events()
        assert fetched.id == event.id and fetched.location == "Room 101" and fetched.user_count == 1
        assert (await guild.fetch_scheduled_event(event.id)).description == "Cardiology for first years"
        listed = next(r for r in emu.requests if r.route == "/guilds/{guild_id}/scheduled-events" and r.method == "GET")
        assert listed.response[0]["user_count"] == 1

        updated = bot.wait_for("scheduled_event_update", timeout=5)
        later = event.start_time + datetime.timedelta(days=1)
        edited = await event.edit(
            name="Heart talk (moved)", start_time=later, end_time=later + datetime.timedelta(hours=2), location="B2"
        )
        before, after = await updated
        assert (before.name, after.name, after.location) == ("Heart talk", "Heart talk (moved)", "B2")
        assert edited.start_time == later and emu.scheduled_event(event.id)["entity_metadata"] == {"location": "B2"}

        deleted = bot.wait_for("scheduled_event_delete", timeout=5)
        await edited.delete(reason="Speaker ill")
        assert (await deleted).id == event.id
        assert emu.scheduled_events(world.guild.id) == [] and list(guild.scheduled_events) == []
        assert emu.requests[-1].status == 204 and emu.requests[-1].reason == "Speaker ill"


async def test_voice_event_lives_in_its_channel(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        voice = guild.get_channel(world.voice)
        assert isinstance(voice, discord.VoiceChannel)
        event = await guild.create_scheduled_event(
            name="Q&A", start_time=soon(), channel=voice, privacy_level=discord.PrivacyLevel.guild_only
        )
        stored = emu.scheduled_event(event.id)
        assert (stored["entity_type"], stored["channel_id"], stored["entity_metadata"]) == (2, str(voice.id), None)
        assert stored["scheduled_end_time"] is None and event.channel == voice
        # A voice event needs CONNECT in its channel as well as the events permission.
        emu.set_overwrite(world.voice, emu.bot_user_id, deny=Perm.CONNECT)
        with pytest.raises(discord.Forbidden) as excinfo:
            await event.edit(name="Q&A bis")
        assert excinfo.value.code == 50013
        # An event in a channel the bot cannot see is hidden from it.
        emu.set_overwrite(world.voice, emu.bot_user_id, deny=Perm.VIEW_CHANNEL)
        assert await guild.fetch_scheduled_events() == []


async def test_status_transitions(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        event = await create_external(guild)
        with pytest.raises(discord.HTTPException) as excinfo:
            await event.edit(status=discord.EventStatus.completed)  # SCHEDULED -> COMPLETED is not a transition
        assert excinfo.value.status == 400
        assert error_codes(last_form_errors(emu), "status") == ["GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION"]
        active = await event.start()
        assert active.status is discord.EventStatus.active
        with pytest.raises(discord.HTTPException):
            await active.edit(status=discord.EventStatus.cancelled)  # a running event ends, it is not cancelled
        assert error_codes(last_form_errors(emu), "status") == ["GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION"]
        with pytest.raises(discord.HTTPException):
            await active.edit(start_time=soon(2))  # Discord refuses any start time once the event has started
        assert error_codes(last_form_errors(emu), "scheduled_start_time") == [
            "GUILD_SCHEDULED_EVENT_INVALID_START_BY_STATUS"
        ]
        assert (await active.edit(name="Heart talk, live")).name == "Heart talk, live"
        ended = await active.end()
        assert ended.status is discord.EventStatus.completed
        assert emu.scheduled_event(event.id)["status"] == EventStatus.COMPLETED

        cancelled = await (await create_external(guild, "Lung talk")).cancel()
        assert cancelled.status is discord.EventStatus.cancelled
        for finished in (ended, cancelled):  # COMPLETED and CANCELED are final: nothing changes any more
            with pytest.raises(discord.HTTPException) as excinfo:
                await finished.edit(name="Again")
            assert (excinfo.value.status, excinfo.value.code) == (400, 180000)
        assert [e["name"] for e in emu.scheduled_events(world.guild.id)] == ["Heart talk, live", "Lung talk"]


async def test_validation_errors(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        start = soon()
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"entity_metadata": {}}, "entity_metadata.location", "BASE_TYPE_REQUIRED"),
            ({"entity_metadata": {"location": "x" * 101}}, "entity_metadata.location", "BASE_TYPE_BAD_LENGTH"),
            ({"scheduled_end_time": None}, "scheduled_end_time", "BASE_TYPE_REQUIRED"),
            ({"channel_id": world.voice}, "channel_id", "GUILD_SCHEDULED_EVENT_CHANNEL_NOT_ALLOWED"),
            ({"name": "x" * 101}, "name", "BASE_TYPE_BAD_LENGTH"),
            ({"name": ""}, "name", "BASE_TYPE_BAD_LENGTH"),
            ({"description": "x" * 1001}, "description", "BASE_TYPE_MAX_LENGTH"),
            ({"privacy_level": 1}, "privacy_level", "BASE_TYPE_CHOICES"),
            ({"entity_type": 4}, "entity_type", "BASE_TYPE_CHOICES"),
            ({"scheduled_start_time": "tomorrow"}, "scheduled_start_time", "DATE_TYPE_INVALID"),
            (
                {"scheduled_end_time": (start - datetime.timedelta(minutes=1)).isoformat()},
                "scheduled_end_time",
                "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            ),
            (
                {"scheduled_start_time": (start - datetime.timedelta(days=1)).isoformat()},
                "scheduled_start_time",
                "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
            ),
        ]
        valid: dict[str, Any] = {
            "name": "Heart talk",
            "privacy_level": 2,
            "entity_type": 3,
            "scheduled_start_time": start.isoformat(),
            "scheduled_end_time": (start + datetime.timedelta(hours=1)).isoformat(),
            "entity_metadata": {"location": "Room 101"},
        }
        for change, path, code in cases:
            with pytest.raises(discord.HTTPException) as excinfo:
                # discord.py's own checks would stop most of these before the request: go below them.
                await bot.http.create_guild_scheduled_event(guild.id, **{**valid, **change})
            assert (excinfo.value.status, excinfo.value.code) == (400, 50035), change
            assert error_codes(last_form_errors(emu), path) == [code], change
        # Through discord.py's own API: an end before the start, a name too long...
        with pytest.raises(discord.HTTPException):
            await create_external(guild, end_time=start - datetime.timedelta(hours=1), start_time=start)
        assert "scheduled_end_time" in last_form_errors(emu)
        with pytest.raises(discord.HTTPException):
            await create_external(guild, "x" * 101)
        assert error_codes(last_form_errors(emu), "name") == ["BASE_TYPE_BAD_LENGTH"]
        # ...and a trap: discord.py sends no privacy_level unless given one, and Discord requires it.
        with pytest.raises(discord.HTTPException):
            await guild.create_scheduled_event(name="No privacy", start_time=start, end_time=soon(2), location="A1")
        assert error_codes(last_form_errors(emu), "privacy_level") == ["BASE_TYPE_REQUIRED"]
        # Every field error comes back at once.
        with pytest.raises(discord.HTTPException):
            await bot.http.create_guild_scheduled_event(guild.id, name="", entity_type=3)
        assert set(last_form_errors(emu)) == {
            "name",
            "privacy_level",
            "scheduled_start_time",
            "scheduled_end_time",
            "entity_metadata",
        }
        assert emu.scheduled_events(world.guild.id) == []


async def test_unknown_event_is_10070(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        with pytest.raises(discord.NotFound) as excinfo:
            await guild.fetch_scheduled_event(1234567890)
        assert excinfo.value.code == 10070
        assert emu.requests[-1].response == {"message": "Unknown Guild Scheduled Event", "code": 10070}
        event = await create_external(guild)
        await event.delete()
        for attempt in (event.edit(name="Ghost"), event.delete(), anext(event.users())):
            with pytest.raises(discord.NotFound) as excinfo:
                await attempt
            assert excinfo.value.code == 10070


async def test_permissions(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        # Since February 2026 MANAGE_EVENTS alone no longer lets a bot create events: CREATE_EVENTS does.
        emu.set_bot_permission(world.guild.id, Perm.CREATE_EVENTS, False)
        with pytest.raises(discord.Forbidden) as excinfo:
            await create_external(guild)
        assert (excinfo.value.status, excinfo.value.code) == (403, 50013)
        assert emu.scheduled_events(world.guild.id) == []
        emu.set_bot_permission(world.guild.id, Perm.CREATE_EVENTS, True)
        own = await create_external(guild, "Own talk")
        theirs = emu.create_scheduled_event_by_hand(
            world.guild.id, "Their talk", soon(), end=soon(2), location="Lab", by=world.mod
        )
        assert theirs["creator_id"] == str(world.mod)
        their_event = await guild.fetch_scheduled_event(int(theirs["id"]))
        # Without MANAGE_EVENTS the bot may still edit and delete what it created (CREATE_EVENTS)...
        emu.set_bot_permission(world.guild.id, Perm.MANAGE_EVENTS, False)
        own = await own.edit(name="Own talk, edited")
        # ...but not a moderator's event.
        for attempt in (their_event.edit(name="Hijacked"), their_event.delete()):
            with pytest.raises(discord.Forbidden) as excinfo:
                await attempt
            assert excinfo.value.code == 50013
        await own.delete()
        emu.set_bot_permission(world.guild.id, Perm.MANAGE_EVENTS, True)
        await their_event.edit(name="Their talk, moved")
        assert [e["name"] for e in emu.scheduled_events(world.guild.id)] == ["Their talk, moved"]
        # The bot's cache followed the role edits (GUILD_ROLE_UPDATE).
        assert guild.me.guild_permissions.manage_events and guild.me.guild_permissions.create_events


async def test_the_101st_live_event_is_refused_with_30038(emu: DiscordEmulator, world: World) -> None:
    for number in range(100):
        emu.create_scheduled_event_by_hand(world.guild.id, f"Talk {number}", soon(), end=soon(2), location="A1")
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        assert len(guild.scheduled_events) == 100  # all of them came with GUILD_CREATE
        with pytest.raises(discord.HTTPException) as excinfo:
            await create_external(guild, "Talk 100")
        assert (excinfo.value.status, excinfo.value.code) == (400, 30038)
        assert emu.requests[-1].response["message"] == (
            "Maximum number of uncompleted guild scheduled events reached (100)"
        )
        with pytest.raises(EmulatorUsageError):
            emu.create_scheduled_event_by_hand(world.guild.id, "Talk 100", soon(), end=soon(2), location="A1")
        # Only SCHEDULED and ACTIVE events count: a cancelled one frees a place.
        first = int(emu.scheduled_events(world.guild.id)[0]["id"])
        emu.edit_scheduled_event_by_hand(world.guild.id, first, status=EventStatus.CANCELED)
        assert (await create_external(guild, "Talk 100")).name == "Talk 100"
        assert len(emu.scheduled_events(world.guild.id)) == 101


async def test_lost_create_response(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        pattern = r"/guilds/\d+/scheduled-events"
        # Processed, then the answer is lost: discord.py does not retry a 503, the event exists all the same.
        emu.fail_next("POST", pattern, status=503, after_processing=True)
        created = bot.wait_for("scheduled_event_create", timeout=5)
        with pytest.raises(discord.DiscordServerError):
            await create_external(guild, "Heart talk")
        assert (await created).name == "Heart talk"
        assert [e["name"] for e in emu.scheduled_events(world.guild.id)] == ["Heart talk"]
        # A lost 500 is retried by discord.py, and Discord has no nonce for events: a second event appears.
        emu.fail_next("POST", pattern, status=500, after_processing=True)
        event = await create_external(guild, "Lung talk")
        names = [e["name"] for e in emu.scheduled_events(world.guild.id)]
        assert names == ["Heart talk", "Lung talk", "Lung talk"] and names.count(event.name) == 2
        posts = [r.status for r in emu.requests if r.method == "POST" and r.route and "scheduled-events" in r.route]
        assert posts == [503, 500, 200]


async def test_create_route_keeps_its_bucket() -> None:
    limits = {"POST /guilds/{guild_id}/scheduled-events": (2, 0.3)}
    async with DiscordEmulator(route_limits=limits) as emu:
        world = World(emu)
        async with running(emu, Recorder(intents())) as bot:
            guild = guild_of(bot, world)
            started = time.monotonic()
            await asyncio.gather(*(create_external(guild, f"Talk {i}") for i in range(3)))
            assert time.monotonic() - started >= 0.25  # discord.py waited for the bucket to reset
            assert emu.stats.rate_limited == 0 and len(emu.scheduled_events(world.guild.id)) == 3
            posts = [r for r in emu.requests if r.method == "POST" and r.route and "scheduled-events" in r.route]
            assert [r.status for r in posts] == [200, 200, 200]


# -- interested users -------------------------------------------------------------------------------------


async def test_interested_users_through_discord_py(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents())) as bot:
        guild = guild_of(bot, world)
        event = await create_external(guild)
        for student in reversed(world.students):
            assert emu.mark_interested(world.guild.id, event.id, student)
        assert not emu.mark_interested(world.guild.id, event.id, world.students[0])  # already interested
        ids = sorted(world.students)
        assert emu.interested_user_ids(event.id) == ids
        event = await guild.fetch_scheduled_event(event.id)
        assert event.user_count == 3
        assert [u.id async for u in event.users()] == ids  # Discord lists them by ascending user id
        assert [u.id async for u in event.users(limit=2)] == ids[:2]
        assert [u.id async for u in event.users(before=discord.Object(ids[2]))] == ids[:2]
        # discord.py reverses each page when paging with ``after`` (it expects newest-first pages).
        assert [u.id async for u in event.users(after=discord.Object(ids[0]))] == [ids[2], ids[1]]
        assert emu.unmark_interested(world.guild.id, event.id, ids[1])
        assert [u.id async for u in event.users(limit=10)] == [ids[0], ids[2]]


async def test_interested_users_rest_pages(emu: DiscordEmulator, world: World) -> None:
    many = [emu.add_user(f"student{i}") for i in range(150)]
    for user in many:
        emu.add_member(world.guild.id, user)
    event = emu.create_scheduled_event_by_hand(world.guild.id, "Big talk", soon(), end=soon(2), location="Aula")
    event_id = int(event["id"])
    for user in many:
        emu.mark_interested(world.guild.id, event_id, user)
    assert emu.scheduled_event(event_id)["user_count"] == 150
    url = f"{emu.api_base}/guilds/{world.guild.id}/scheduled-events/{event_id}/users"
    ids = sorted(many)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as session:

        async def page(**params: Any) -> tuple[int, Any]:
            async with session.get(url, params={k: str(v) for k, v in params.items()}) as resp:
                return resp.status, await resp.json()

        status, first = await page()
        assert status == 200 and [int(u["user"]["id"]) for u in first] == ids[:100]  # limit defaults to 100
        assert first[0]["guild_scheduled_event_id"] == str(event_id) and "member" not in first[0]
        _, rest = await page(after=first[-1]["user"]["id"])
        assert [int(u["user"]["id"]) for u in rest] == ids[100:]
        _, before = await page(before=ids[10], limit=3)
        assert [int(u["user"]["id"]) for u in before] == ids[7:10]
        _, both = await page(before=ids[10], after=ids[0], limit=3)  # "only before is respected"
        assert both == before
        _, members = await page(limit=1, with_member="true")
        assert "user" not in members[0]["member"] and members[0]["member"]["joined_at"]
        async with session.get(f"{emu.api_base}/guilds/{world.guild.id}/scheduled-events") as resp:
            assert "user_count" not in (await resp.json())[0]  # only with ?with_user_count=true
        async with session.get(url.rsplit("/", 1)[0], params={"with_user_count": "true"}) as resp:
            assert (await resp.json())["user_count"] == 150
        for bad, code in ((0, "NUMBER_TYPE_MIN"), (101, "NUMBER_TYPE_MAX")):
            status, body = await page(limit=bad)
            assert status == 400 and body["errors"]["limit"]["_errors"][0]["code"] == code


async def test_discord_py_users_past_100_repeats_users(emu: DiscordEmulator, world: World) -> None:
    """discord.py 2.7 pages ``users()`` with ``before`` = the last user of each page, which suits newest-first
    pages; Discord documents ascending pages, so past 100 users it yields some twice and misses others.
    Code that needs every interested user should page with ``after`` itself (see the REST test above)."""
    many = [emu.add_user(f"student{i}") for i in range(150)]
    for user in many:
        emu.add_member(world.guild.id, user)
    event = emu.create_scheduled_event_by_hand(world.guild.id, "Big talk", soon(), end=soon(2), location="Aula")
    for user in many:
        emu.mark_interested(world.guild.id, int(event["id"]), user)
    async with running(emu, Recorder(intents())) as bot:
        fetched = await guild_of(bot, world).fetch_scheduled_event(int(event["id"]))
        got = [u.id async for u in fetched.users()]
        assert len(got) == 150 and len(set(got)) < 150 and not set(sorted(many)[100:]) <= set(got)


# -- gateway events ---------------------------------------------------------------------------------------


async def test_gateway_events_with_the_intent(emu: DiscordEmulator, world: World) -> None:
    early = emu.create_scheduled_event_by_hand(world.guild.id, "Early talk", soon(), end=soon(2), location="A1")
    emu.mark_interested(world.guild.id, int(early["id"]), world.students[0])
    # The members intent fills discord.py's user cache, which on_scheduled_event_user_add needs.
    async with running(emu, Recorder(intents(members=True))) as bot:
        guild = guild_of(bot, world)
        [cached] = guild.scheduled_events  # from GUILD_CREATE, which carries no user_count (discord.py reads 0)
        assert cached.id == int(early["id"]) and cached.user_count == 0

        created = bot.wait_for("scheduled_event_create", timeout=5)
        made = emu.create_scheduled_event_by_hand(
            world.guild.id, "Night talk", soon(3), end=soon(4), location="Roof", by=world.mod
        )
        event = await created
        assert (event.id, event.name, event.location, event.creator_id) == (
            int(made["id"]),
            "Night talk",
            "Roof",
            world.mod,
        )

        updated = bot.wait_for("scheduled_event_update", timeout=5)
        emu.edit_scheduled_event_by_hand(world.guild.id, event.id, name="Night talk (B2)", location="B2")
        before, after = await updated
        assert (before.name, after.name, after.location) == ("Night talk", "Night talk (B2)", "B2")

        added = bot.wait_for("scheduled_event_user_add", timeout=5)
        emu.mark_interested(world.guild.id, event.id, world.students[1])
        on_event, user = await added
        assert (on_event.id, user.id) == (event.id, world.students[1])
        removed = bot.wait_for("scheduled_event_user_remove", timeout=5)
        emu.unmark_interested(world.guild.id, event.id, world.students[1])
        on_event, user = await removed
        assert (on_event.id, user.id) == (event.id, world.students[1])

        started = bot.wait_for("scheduled_event_update", timeout=5)
        emu.edit_scheduled_event_by_hand(world.guild.id, event.id, status=EventStatus.ACTIVE)
        assert (await started)[1].status is discord.EventStatus.active

        deleted = bot.wait_for("scheduled_event_delete", timeout=5)
        gone = emu.delete_scheduled_event_by_hand(world.guild.id, event.id, by=world.mod)
        assert (await deleted).id == event.id and gone["status"] == EventStatus.ACTIVE
        assert [e.id for e in guild.scheduled_events] == [int(early["id"])]
        assert bot.socket_events() == [
            "GUILD_SCHEDULED_EVENT_CREATE",
            "GUILD_SCHEDULED_EVENT_UPDATE",
            "GUILD_SCHEDULED_EVENT_USER_ADD",
            "GUILD_SCHEDULED_EVENT_USER_REMOVE",
            "GUILD_SCHEDULED_EVENT_UPDATE",
            "GUILD_SCHEDULED_EVENT_DELETE",
        ]


async def test_no_gateway_events_without_the_intent(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, Recorder(intents(scheduled_events=False))) as bot:
        assert emu.intents is not None and not emu.intents & Intent.GUILD_SCHEDULED_EVENTS
        guild = guild_of(bot, world)
        made = emu.create_scheduled_event_by_hand(world.guild.id, "Quiet talk", soon(), end=soon(2), location="A1")
        event_id = int(made["id"])
        emu.mark_interested(world.guild.id, event_id, world.students[0])
        emu.edit_scheduled_event_by_hand(world.guild.id, event_id, name="Quiet talk (moved)")
        own = await create_external(guild, "REST still works")
        await own.delete()
        emu.delete_scheduled_event_by_hand(world.guild.id, event_id)
        # A GUILDS event sent after all of them: once it is here, anything sent before it has been read.
        role_created = bot.wait_for("guild_role_create", timeout=5)
        emu.add_role(world.guild.id, "Barrier")
        await role_created
        assert bot.socket_events() == []
        assert not any(name.startswith("scheduled_event") for name, _ in bot.seen)
        assert list(guild.scheduled_events) == []


async def test_user_add_for_an_uncached_user_arrives_raw_only(emu: DiscordEmulator, world: World) -> None:
    """discord.py drops on_scheduled_event_user_add when the user is not in its cache (state.py,
    parse_guild_scheduled_event_user_add: ``self.get_user(...)`` is None); without the members intent a
    student who never spoke is not cached, yet the gateway event reaches the client."""
    raw: list[dict[str, Any]] = []
    bot = Recorder(intents(), enable_debug_events=True)

    @bot.event
    async def on_socket_raw_receive(message: str) -> None:
        frame = json.loads(message)
        if frame.get("t") == "GUILD_SCHEDULED_EVENT_USER_ADD":
            raw.append(frame["d"])

    async with running(emu, bot):
        made = emu.create_scheduled_event_by_hand(world.guild.id, "Heart talk", soon(), end=soon(2), location="A1")
        event_id = int(made["id"])
        student = world.students[0]
        assert bot.get_user(student) is None
        emu.mark_interested(world.guild.id, event_id, student)
        updated = bot.wait_for("scheduled_event_update", timeout=5)
        emu.edit_scheduled_event_by_hand(world.guild.id, event_id, description="After the interest")
        await updated
        assert "GUILD_SCHEDULED_EVENT_USER_ADD" in bot.socket_events()
        assert bot.dispatched("scheduled_event_user_add") == []
        payload = {"guild_scheduled_event_id": str(event_id), "user_id": str(student), "guild_id": str(world.guild.id)}
        assert raw == [payload]


# -- the by-hand API refuses what Discord's app would ----------------------------------------------------


async def test_by_hand_api_refuses_what_discord_would(emu: DiscordEmulator, world: World) -> None:
    with pytest.raises(EmulatorUsageError, match="Discord would not let them"):
        emu.create_scheduled_event_by_hand(world.guild.id, "By a student", soon(), end=soon(2), by=world.students[0])
    with pytest.raises(EmulatorUsageError, match="scheduled_end_time"):
        emu.create_scheduled_event_by_hand(world.guild.id, "No end", soon(), location="A1")
    made = emu.create_scheduled_event_by_hand(
        world.guild.id, "Q&A", soon(), channel_id=world.voice, description="Bring questions"
    )
    assert made["entity_type"] == EntityType.VOICE and made["channel_id"] == str(world.voice)
    event_id = int(made["id"])
    outsider = emu.add_user("outsider")
    with pytest.raises(EmulatorUsageError, match="not a member"):
        emu.mark_interested(world.guild.id, event_id, outsider)
    emu.edit_scheduled_event_by_hand(world.guild.id, event_id, status=EventStatus.CANCELED)
    with pytest.raises(EmulatorUsageError, match="is over"):
        emu.mark_interested(world.guild.id, event_id, world.students[0])
    with pytest.raises(EmulatorUsageError, match="180000"):
        emu.edit_scheduled_event_by_hand(world.guild.id, event_id, status=EventStatus.SCHEDULED)
    with pytest.raises(EmulatorUsageError, match="no scheduled event"):
        emu.delete_scheduled_event_by_hand(world.guild.id, 1)
    # The bot's role is not the only source of its permissions.
    everyone = world.guild.id
    emu.set_role_permissions(world.guild.id, everyone, Perm.EVERYONE_DEFAULT | Perm.CREATE_EVENTS)
    with pytest.raises(EmulatorUsageError, match="@everyone"):
        emu.set_bot_permission(world.guild.id, Perm.CREATE_EVENTS, False)
