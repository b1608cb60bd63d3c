"""Smoke tests of the Discord emulator with the real discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from tests.emulator import ChannelType, DiscordEmulator, EmulatorUsageError, Perm

ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


# -- a small bot that exercises what Podium does --------------------------------------------------------


class RegisterView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Register", style=discord.ButtonStyle.primary, custom_id="talk:register:1")
    async def register(self, interaction: discord.Interaction, button: discord.ui.Button[RegisterView]) -> None:
        await interaction.response.send_message(f"Registered {interaction.user.name}!", ephemeral=True)

    @discord.ui.button(label="Close", style=discord.ButtonStyle.danger, custom_id="talk:close:1")
    async def close(self, interaction: discord.Interaction, button: discord.ui.Button[RegisterView]) -> None:
        await interaction.response.edit_message(content="Registration closed", view=None)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    comment: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Comment", custom_id="comment", max_length=100
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Thanks: {self.comment.value}", ephemeral=True)


def make_bot(errors: list[BaseException] | None = None, *, intents: discord.Intents | None = None) -> commands.Bot:
    bot = commands.Bot(
        command_prefix="!",
        intents=intents or discord.Intents.default(),
        guild_ready_timeout=0.05,
        allowed_mentions=discord.AllowedMentions.none(),
    )
    talk = app_commands.Group(name="talk", description="Manage talks")

    @talk.command(name="create", description="Create a talk")
    async def talk_create(
        interaction: discord.Interaction,
        title: str,
        start: str,
        capacity: app_commands.Range[int, 1, 500],
        channel: discord.TextChannel,
        role: discord.Role,
    ) -> None:
        await interaction.response.send_message(
            f"Created {title} at {start} ({capacity} seats) in {channel.mention} for {role.name}", ephemeral=True
        )

    bot.tree.add_command(talk)

    @bot.tree.command(description="Slow report")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send("Report ready", file=discord.File(io.BytesIO(ICS), filename="talk.ics"))
        await interaction.followup.send("Second note", ephemeral=True)

    @bot.tree.command(description="Slow reply")
    async def slowpoke(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        await interaction.response.send_message("too late")

    @bot.tree.command(description="Register for a talk")
    async def register(interaction: discord.Interaction, talk: str) -> None:
        await interaction.response.send_message(f"Registered for {talk}", ephemeral=True)

    @register.autocomplete("talk")
    async def register_talk(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        talks = ["Cardiology", "Cancer biology", "Neurology"]
        return [app_commands.Choice(name=t, value=t) for t in talks if t.lower().startswith(current.lower())]

    @bot.tree.command(description="Pick a seat count")
    async def seats(interaction: discord.Interaction, count: int) -> None:
        await interaction.response.send_message(f"{count} seats", ephemeral=True)

    @seats.autocomplete("count")
    async def seats_count(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        # A bug on purpose: string values for an INTEGER option, which Discord refuses.
        return [app_commands.Choice(name="ten", value="10")]  # type: ignore[arg-type]

    @bot.tree.command(description="Import a calendar")
    async def upload(interaction: discord.Interaction, calendar: discord.Attachment) -> None:
        data = await calendar.read()
        await interaction.response.send_message(f"{calendar.filename}: {len(data)} bytes", ephemeral=True)

    @bot.tree.command(description="Give feedback")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal())

    @bot.tree.command(description="Server settings")
    @app_commands.default_permissions(manage_guild=True)
    async def settings(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("settings", ephemeral=True)

    @bot.tree.error
    async def on_tree_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if errors is not None:
            errors.append(error)

    async def setup_hook() -> None:
        bot.add_view(RegisterView())
        await bot.tree.sync()

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


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
async def running(emu: DiscordEmulator, bot: commands.Bot) -> AsyncIterator[commands.Bot]:
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
        self.channel = emu.add_text_channel(self.guild.id, "talks")
        self.role = emu.add_role(self.guild.id, "Organizers", permissions=Perm.MANAGE_GUILD)
        self.alice = emu.add_user("alice")
        emu.add_member(self.guild.id, self.alice, roles=[self.role])
        self.bob = emu.add_user("bob", dms_open=False)
        emu.add_member(self.guild.id, self.bob)


@pytest.fixture
def world(emu: DiscordEmulator) -> World:
    return World(emu)


def channel_of(bot: commands.Bot, channel_id: int) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


# -- connection ------------------------------------------------------------------------------------------


async def test_connect_ready_and_guild_cache(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and guild.name == "Med School"
        assert guild.get_channel(world.channel) is not None
        assert guild.get_role(world.role) is not None and guild.default_role.id == guild.id
        assert guild.me is not None and guild.me.id == emu.bot_user_id
        assert bot.user is not None and bot.user.id == emu.bot_user_id
        assert bot.application_id == emu.application_id
        assert emu.intents == bot.intents.value
        assert emu.gateway_connections == 1
        assert [c["name"] for c in emu.commands_for(None)] == [
            "talk",
            "report",
            "slowpoke",
            "register",
            "seats",
            "upload",
            "feedback",
            "settings",
        ]


async def test_member_cache_follows_intents(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and not guild.chunked  # without privileged intents only the bot is sent
        assert guild.get_member(world.alice) is None
    intents = discord.Intents.default()
    intents.members = True
    async with running(emu, make_bot(intents=intents)) as bot:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and guild.chunked  # discord.py asked with op 8, the emulator sent the chunk
        member = guild.get_member(world.alice)
        assert member is not None and [r.id for r in member.roles[1:]] == [world.role]


async def test_bad_token_is_login_failure(emu: DiscordEmulator) -> None:
    bot = make_bot()
    async with pointed_at(emu):
        with pytest.raises(discord.LoginFailure):
            await bot.login("not-the-token")
        await bot.close()
    assert emu.requests[-1].status == 401


async def test_gateway_rejects_bad_token_with_4004(emu: DiscordEmulator) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41250
        await ws.send_json({"op": 2, "d": {"token": "nope", "intents": 1, "properties": {}}})
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4004


async def _dispatches(ws: aiohttp.ClientWebSocketResponse, until: str) -> list[dict[str, Any]]:
    """The dispatches a raw gateway client reads up to and including the first ``until`` event."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while not seen or seen[-1]["t"] != until:
            frame = await ws.receive_json()
            if frame["op"] == 0:
                seen.append(frame)
    return seen


async def test_guilds_on_chosen_shards_and_an_interaction_over_another_shard(emu: DiscordEmulator) -> None:
    """add_guild(shard=) places a server on a shard; slash(shard_id=) sends its interaction over another shard's
    connection (for tests that split one server's rush over processes), which Discord itself never does."""
    guilds = [emu.add_guild(f"School {shard}", shard=(shard, 2)) for shard in (0, 1, 0)]
    assert [(guild.id >> 22) % 2 for guild in guilds] == [0, 1, 0]
    assert guilds[0].id < guilds[1].id < guilds[2].id  # still in time order
    emu.add_text_channel(guilds[0].id, "talks")
    user = emu.add_user("alice")
    emu.add_member(guilds[0].id, user)
    headers = {"Authorization": f"Bot {emu.token}"}
    async with aiohttp.ClientSession() as session:
        put = f"{emu.api_base}/applications/{emu.application_id}/commands"
        async with session.put(put, json=[{"name": "ping", "description": "Ping", "type": 1}], headers=headers) as r:
            assert r.status == 200
        sockets = []
        for shard in (0, 1):
            ws = await session.ws_connect(emu.gateway_url + "?v=10&encoding=json")
            assert (await ws.receive_json())["op"] == 10
            identify = {"token": emu.token, "intents": 1, "properties": {}, "shard": [shard, 2]}
            await ws.send_json({"op": 2, "d": identify})
            ready = (await _dispatches(ws, "READY"))[-1]
            mine = {int(g["id"]) for g in ready["d"]["guilds"]}
            assert mine == {g.id for g in guilds if (g.id >> 22) % 2 == shard}
            sockets.append(ws)
        await emu.wait_ready()
        ia = await emu.slash(guilds[0].id, user, "ping", shard_id=1)
        frame = (await _dispatches(sockets[1], "INTERACTION_CREATE"))[-1]
        assert frame["d"]["id"] == str(ia.id) and frame["d"]["guild_id"] == str(guilds[0].id)
        await emu.slash(guilds[0].id, user, "ping")  # the server's own shard, as Discord sends it
        frame = (await _dispatches(sockets[0], "INTERACTION_CREATE"))[-1]
        assert frame["d"]["guild_id"] == str(guilds[0].id)
        with pytest.raises(EmulatorUsageError, match="no gateway session on shard 3"):
            await emu.slash(guilds[0].id, user, "ping", shard_id=3)
        for ws in sockets:
            await ws.close()


async def test_resume_after_disconnect_still_gets_interactions(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        await emu.disconnect_gateway(4000)
        # Sent while the socket is down: Discord keeps it and replays it on RESUME.
        ia = await emu.slash(world.guild.id, world.alice, "register", {"talk": "Cardiology"}, channel_id=world.channel)
        await emu.wait_for_resume()
        await ia.wait_done()
        assert ia.content == "Registered for Cardiology"
        ia2 = await emu.slash(world.guild.id, world.alice, "register", {"talk": "Neurology"}, channel_id=world.channel)
        await ia2.wait_done()
        assert emu.stats.identifies == 1 and emu.stats.resumes == 1
        assert emu.gateway_connections == 2


async def test_non_resumable_close_leads_to_new_identify(emu: DiscordEmulator, world: World) -> None:
    bot = make_bot()

    async def no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before re-identifying (Discord's identify limit); not needed here."""

    bot.before_identify_hook = no_identify_delay  # type: ignore[method-assign]
    async with running(emu, bot):
        await emu.disconnect_gateway(4000, invalidate=True)
        await emu.wait_for_identify(count=2)
        await emu.wait_ready()
        assert emu.stats.invalid_sessions == 1
        ia = await emu.slash(world.guild.id, world.alice, "register", {"talk": "Cardiology"}, channel_id=world.channel)
        await ia.wait_done()


# -- interactions ----------------------------------------------------------------------------------------


async def test_slash_command_with_channel_and_role_options(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        options = {
            "title": "Heart",
            "start": "2030-01-01 18:00",
            "capacity": 3,
            "channel": world.channel,
            "role": world.role,
        }
        ia = await emu.slash(world.guild.id, world.alice, "talk create", options, channel_id=world.channel)
        callback = await ia.wait_response()
        assert callback["type"] == 4
        await ia.wait_done()
        assert ia.response_type == 4 and ia.ephemeral
        assert ia.content == f"Created Heart at 2030-01-01 18:00 (3 seats) in <#{world.channel}> for Organizers"
        assert ia.payload["data"]["resolved"]["channels"][str(world.channel)]["name"] == "talks"
        assert emu.messages(world.channel) == []  # ephemeral replies are not channel messages

        with pytest.raises(EmulatorUsageError, match="no option or subcommand 'titel'"):
            await emu.slash(world.guild.id, world.alice, "talk create", {**options, "titel": "x"})
        with pytest.raises(EmulatorUsageError, match="outside"):
            await emu.slash(world.guild.id, world.alice, "talk create", {**options, "capacity": 0})
        with pytest.raises(EmulatorUsageError, match="needs a subcommand"):
            await emu.slash(world.guild.id, world.alice, "talk", {})


async def test_default_member_permissions_are_enforced(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        with pytest.raises(EmulatorUsageError, match="default_member_permissions"):
            await emu.slash(world.guild.id, world.bob, "settings")
        ia = await emu.slash(world.guild.id, world.alice, "settings")  # Organizers have Manage Guild
        await ia.wait_done()
        assert ia.content == "settings"
        assert int(ia.payload["member"]["permissions"]) & Perm.MANAGE_GUILD


async def test_default_member_permissions_count_channel_overwrites_and_admin_overrides(
    emu: DiscordEmulator, world: World
) -> None:
    stage = emu.add_channel(world.guild.id, "stage", type=ChannelType.GUILD_STAGE_VOICE)
    emu.set_overwrite(stage, world.bob, allow=Perm.MANAGE_GUILD)
    async with running(emu, make_bot()) as bot:
        # checked where the command is used: the overwrite shows bob the command in that channel only
        ia = await emu.slash(world.guild.id, world.bob, "settings", channel_id=stage)
        await ia.wait_done()
        assert ia.content == "settings"
        with pytest.raises(EmulatorUsageError, match="default_member_permissions"):
            await emu.slash(world.guild.id, world.bob, "settings", channel_id=world.channel)
        # what an admin sets in Integrations: a member's own override, then their roles'
        emu.set_command_permission(world.guild.id, "settings", world.bob)
        ia = await emu.slash(world.guild.id, world.bob, "settings", channel_id=world.channel)
        await ia.wait_done()
        emu.set_command_permission(world.guild.id, "settings", world.role, allow=False)
        with pytest.raises(EmulatorUsageError, match="denied 'settings'"):
            await emu.slash(world.guild.id, world.alice, "settings", channel_id=world.channel)
        [command] = [c for c in await bot.tree.fetch_commands() if c.name == "settings"]
        guild = bot.get_guild(world.guild.id)
        assert guild is not None
        found = await command.fetch_permissions(guild)
        assert {(p.target.id, p.permission) for p in found.permissions} == {(world.bob, True), (world.role, False)}


async def test_deferred_reply_then_followups(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        ia = await emu.slash(world.guild.id, world.alice, "report", channel_id=world.channel)
        await ia.wait_done()
        assert ia.response_type == 5
        followups = await ia.wait_followups(2)
        # The first follow-up after a deferral replaces the "thinking" message, as on Discord.
        assert followups[0]["id"] == ia.original["id"] and ia.content == "Report ready"
        assert ia.attachments == [("talk.ics", ICS)]
        assert followups[1]["content"] == "Second note" and followups[1]["flags"] & 64
        assert "Report ready" in ia.all_text() and "Second note" in ia.all_text()
        assert [m["content"] for m in emu.messages(world.channel)] == ["Report ready"]


async def test_persistent_button_and_update_message(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        sent = await channel_of(bot, world.channel).send("Heart talk", view=RegisterView())
        message = await emu.wait_for_message(lambda m: m["content"] == "Heart talk")
        assert int(message["id"]) == sent.id

        ia = await emu.click(world.guild.id, world.alice, message, "talk:register:1")
        await ia.wait_done()
        assert ia.response_type == 4 and ia.ephemeral and ia.content == "Registered alice!"

        ia = await emu.click(world.guild.id, world.alice, message, "talk:close:1")
        await ia.wait_done()
        assert ia.response_type == 7
        updated = emu.message(sent.id)
        assert updated["content"] == "Registration closed" and updated["components"] == []

        with pytest.raises(EmulatorUsageError, match="no component"):
            await emu.click(world.guild.id, world.alice, message, "talk:register:1")


async def test_button_in_a_dm(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        user = await bot.fetch_user(world.alice)
        sent = await user.send("Reminder: Heart talk tomorrow", view=RegisterView())
        ia = await emu.click(None, world.alice, sent.id, "talk:register:1")
        await ia.wait_done()
        assert ia.content == "Registered alice!"
        assert ia.payload["context"] == 1 and "user" in ia.payload and "member" not in ia.payload
        with pytest.raises(EmulatorUsageError, match="another user"):
            await emu.click(None, world.bob, sent.id, "talk:register:1")


async def test_attachment_option(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        ia = await emu.slash(world.guild.id, world.alice, "upload", {"calendar": ("talks.ics", ICS)})
        await ia.wait_done()
        assert ia.content == f"talks.ics: {len(ICS)} bytes"


async def test_autocomplete_returns_choices(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        ia = await emu.autocomplete(world.guild.id, world.alice, "register", {"talk": "ca"}, focused="talk")
        await ia.wait_done()
        assert ia.response_type == 8
        assert [c["value"] for c in ia.choices or []] == ["Cardiology", "Cancer biology"]


async def test_autocomplete_choice_type_must_match_option(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        ia = await emu.autocomplete(world.guild.id, world.alice, "seats", {"count": "1"}, focused="count")
        await emu.wait_for_request(lambda r: bool(r.route and r.route.endswith("/callback")))
        assert ia.response_type is None and ia.rejected == [("callback", 400, 50035)]


async def test_interaction_token_expires_after_15_minutes(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        ia = await emu.slash(world.guild.id, world.alice, "register", {"talk": "x"}, channel_id=world.channel)
        await ia.wait_done()
        ia.created -= 15 * 60 + 1  # as if the interaction were 15 minutes old
        url = f"{emu.api_base}/webhooks/{emu.application_id}/{ia.token}?wait=true"
        async with aiohttp.ClientSession() as session, session.post(url, json={"content": "late"}) as resp:
            assert resp.status == 401 and (await resp.json())["code"] == 50027


async def test_modal_submit(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        ia = await emu.slash(world.guild.id, world.alice, "feedback")
        await ia.wait_done()
        assert ia.modal is not None and ia.modal["title"] == "Feedback"
        submitted = await emu.submit_modal(ia, {"comment": "Great talk"})
        await submitted.wait_done()
        assert submitted.content == "Thanks: Great talk"
        with pytest.raises(EmulatorUsageError, match="outside"):
            await emu.submit_modal(ia, {"comment": "x" * 101})


async def test_late_and_double_acknowledgement_are_refused() -> None:
    errors: list[BaseException] = []
    async with DiscordEmulator(interaction_ack_timeout=0.1) as emu:
        world = World(emu)
        async with running(emu, make_bot(errors)):
            ia = await emu.slash(world.guild.id, world.alice, "slowpoke", channel_id=world.channel)
            await emu.wait_for_request(lambda r: r.route and r.route.endswith("/callback") and r.status == 404)
            assert ia.rejected == [("callback", 404, 10062)]
            assert ia.response_type is None

            ia = await emu.slash(world.guild.id, world.alice, "register", {"talk": "x"}, channel_id=world.channel)
            await ia.wait_done()
    # Raw second callback for an already acknowledged interaction.
    async with DiscordEmulator() as emu:
        world = World(emu)
        async with running(emu, make_bot()):
            ia = await emu.slash(world.guild.id, world.alice, "register", {"talk": "x"}, channel_id=world.channel)
            await ia.wait_done()
            url = f"{emu.api_base}/interactions/{ia.id}/{ia.token}/callback"
            body = {"type": 4, "data": {"content": "again"}}
            async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
                assert resp.status == 400
                assert (await resp.json())["code"] == 40060
    assert any(getattr(e, "original", None) and getattr(e.original, "code", None) == 10062 for e in errors)


# -- messages --------------------------------------------------------------------------------------------


async def test_dm_with_file_attachment(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        user = await bot.fetch_user(world.alice)
        sent = await user.send("Your invite", file=discord.File(io.BytesIO(ICS), filename="heart talk.ics"))
        [message] = emu.dm_messages(world.alice)
        assert message["content"] == "Your invite" and int(message["id"]) == sent.id
        [attachment] = message["attachments"]
        assert attachment["filename"] == "heart_talk.ics"
        assert attachment["content_type"].startswith("text/calendar")
        assert emu.attachment_bytes(attachment) == ICS
        assert await sent.attachments[0].read() == ICS  # served from the emulator's attachment URL
        channel = await user.create_dm()
        assert channel.id == emu.dm_channel_id(world.alice)


async def test_dm_to_closed_dms_is_forbidden_50007(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        user = await bot.fetch_user(world.bob)
        with pytest.raises(discord.Forbidden) as excinfo:
            await user.send("hello")
        assert excinfo.value.code == 50007
        emu.set_dms_open(world.bob, True)
        await user.send("hello again")
        assert [m["content"] for m in emu.dm_messages(world.bob)] == ["hello again"]


async def test_server_error_is_retried_and_message_arrives_once(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        emu.fail_next("POST", rf"/channels/{world.channel}/messages", status=500)
        await channel_of(bot, world.channel).send("hello")
        assert [m["content"] for m in emu.messages(world.channel)] == ["hello"]
        sends = [r.status for r in emu.requests if r.route == "/channels/{channel_id}/messages"]
        assert sends == [500, 200]


async def test_lost_response_with_nonce_does_not_duplicate(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        channel = channel_of(bot, world.channel)
        # The message is created, but the 502 comes back; discord.py retries with the same nonce.
        emu.fail_next("POST", rf"/channels/{world.channel}/messages", status=502, after_processing=True)
        first = await channel.send("reminder", nonce="reminder-1")
        again = await channel.send("reminder", nonce="reminder-1")
        assert first.id == again.id
        assert [m["content"] for m in emu.messages(world.channel)] == ["reminder"]
        # discord.py puts a random nonce (with enforce_nonce) on every send, so its retries never duplicate.
        emu.fail_next("POST", rf"/channels/{world.channel}/messages", status=502, after_processing=True)
        await channel.send("implicit nonce")
        assert [m["content"] for m in emu.messages(world.channel)] == ["reminder", "implicit nonce"]
        sends = [r.status for r in emu.requests if r.route == "/channels/{channel_id}/messages"]
        assert sends == [502, 200, 200, 502, 200]


async def test_nonce_window_and_expire_nonces(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        channel = channel_of(bot, world.channel)
        first = await channel.send("reminder", nonce="talk-7")
        again = await channel.send("reminder", nonce="talk-7")
        assert again.id == first.id  # within the window Discord hands back the message it already has
        stamp = emu.message(first.id)["timestamp"]
        emu.expire_nonces()  # the bot was down longer than Discord remembers nonces
        later = await channel.send("reminder", nonce="talk-7")
        assert later.id != first.id
        assert [m["content"] for m in emu.messages(world.channel)] == ["reminder", "reminder"]
        assert emu.message(first.id)["timestamp"] == stamp  # only nonces were aged
        # Only what was sent before the call is forgotten, and the window itself is a setting.
        assert (await channel.send("reminder", nonce="talk-7")).id == later.id
        emu.nonce_window = 0.05
        await asyncio.sleep(0.1)
        assert (await channel.send("reminder", nonce="talk-7")).id not in (first.id, later.id)
        assert len(emu.messages(world.channel)) == 3
    async with DiscordEmulator(nonce_window=0.0) as short:
        assert short.nonce_window == 0.0


async def test_injected_429_is_honoured(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        emu.fail_next("POST", rf"/channels/{world.channel}/messages", status=429, retry_after=0.2)
        await channel_of(bot, world.channel).send("after the limit")
        sends = [r for r in emu.requests if r.route == "/channels/{channel_id}/messages"]
        assert [r.status for r in sends] == [429, 200]
        assert sends[1].time - sends[0].time >= 0.2
        assert emu.stats.rate_limited == 1
        assert emu.messages(world.channel)[0]["content"] == "after the limit"


async def test_route_bucket_is_respected_without_429() -> None:
    limits = {"POST /channels/{channel_id}/messages": (2, 0.5)}
    async with DiscordEmulator(route_limits=limits) as emu:
        world = World(emu)
        async with running(emu, make_bot()) as bot:
            channel = channel_of(bot, world.channel)
            started = time.monotonic()
            await asyncio.gather(*(channel.send(f"m{i}") for i in range(4)))
            assert time.monotonic() - started >= 0.4  # two windows: discord.py waited for the reset
            assert sorted(m["content"] for m in emu.messages(world.channel)) == ["m0", "m1", "m2", "m3"]
            assert emu.stats.rate_limited == 0


async def test_global_rate_limit_gives_429_and_discord_py_retries() -> None:
    async with DiscordEmulator(global_rate_limit=None) as emu:
        world = World(emu)
        channels = [emu.add_text_channel(world.guild.id, f"c{i}") for i in range(5)]
        async with running(emu, make_bot()) as bot:
            emu.set_global_rate_limit(3)
            await asyncio.gather(*(channel_of(bot, c).send("hi") for c in channels))
            assert all(len(emu.messages(c)) == 1 for c in channels)
            assert emu.stats.global_rate_limited >= 1


async def test_interaction_routes_are_exempt_from_the_global_rate_limit(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()):
        emu.set_global_rate_limit(2)
        url = f"{emu.api_base}/channels/{world.channel}/messages"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as session:

            async def burst_message() -> tuple[int, bool]:
                async with session.post(url, json={"content": "burst"}) as resp:
                    return resp.status, resp.headers.get("X-RateLimit-Global") == "true"

            assert [await burst_message() for _ in range(3)] == [(200, False), (200, False), (429, True)]
            # The bot's callback, its follow-ups and the edit of its deferred reply (discord.py's webhook adapter).
            report = await emu.slash(world.guild.id, world.alice, "report", channel_id=world.channel)
            await report.wait_followups(2)
            ia = await emu.slash(world.guild.id, world.alice, "register", {"talk": "x"}, channel_id=world.channel)
            await ia.wait_done()
            # The same routes called directly, while the bot's global limit is still used up.
            hook = f"{emu.api_base}/webhooks/{emu.application_id}/{ia.token}"
            async with session.post(f"{hook}?wait=true", json={"content": "follow-up"}) as resp:
                assert resp.status == 200
            async with session.patch(f"{hook}/messages/@original", json={"content": "edited"}) as resp:
                assert resp.status == 200
            async with session.get(f"{hook}/messages/@original") as resp:
                assert resp.status == 200 and (await resp.json())["content"] == "edited"
            assert await burst_message() == (429, True)  # the window had not reset meanwhile
    interaction_routes = [r for r in emu.requests if r.route and r.route.startswith(("/interactions/", "/webhooks/"))]
    assert len(interaction_routes) >= 7 and all(r.status < 400 for r in interaction_routes)
    assert emu.stats.global_rate_limited == 2


async def test_interaction_routes_keep_their_own_buckets() -> None:
    limits = {"POST /webhooks/{webhook_id}/{webhook_token}": (1, 60.0)}
    async with DiscordEmulator(route_limits=limits, global_rate_limit=1) as emu:
        world = World(emu)
        async with running(emu, make_bot()):
            ia = await emu.slash(world.guild.id, world.alice, "register", {"talk": "x"}, channel_id=world.channel)
            await ia.wait_done()
            hook = f"{emu.api_base}/webhooks/{emu.application_id}/{ia.token}?wait=true"
            async with aiohttp.ClientSession() as session:
                async with session.post(hook, json={"content": "one"}) as resp:
                    assert resp.status == 200
                async with session.post(hook, json={"content": "two"}) as resp:
                    assert resp.status == 429 and resp.headers["X-RateLimit-Scope"] == "user"
                    assert (await resp.json())["global"] is False


async def test_message_limits_and_allowed_mentions(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        channel = channel_of(bot, world.channel)
        with pytest.raises(discord.HTTPException) as excinfo:
            await channel.send("x" * 2001)
        assert excinfo.value.code == 50035 and "2000" in str(excinfo.value)
        with pytest.raises(discord.HTTPException) as excinfo:
            await channel.send(embed=discord.Embed(title="t" * 257))
        assert excinfo.value.code == 50035
        with pytest.raises(discord.HTTPException) as excinfo:
            await channel.send(embed=discord.Embed().add_field(name="n", value="v" * 1025))
        assert excinfo.value.code == 50035

        await channel.send(f"@everyone <@&{world.role}> <@{world.alice}> new talk!")
        message = emu.messages(world.channel)[-1]
        assert message["allowed_mentions"] == {"parse": []}
        assert not message["mention_everyone"] and message["mention_roles"] == [] and message["mentions"] == []
        await channel.send(f"<@{world.alice}>", allowed_mentions=discord.AllowedMentions(users=True))
        assert emu.messages(world.channel)[-1]["mentions"][0]["id"] == str(world.alice)


async def test_history_finds_sent_messages_with_custom_ids_and_filenames(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        channel = channel_of(bot, world.channel)
        earlier = await channel.send("before the run")
        notes = [await channel.send(f"note {i}") for i in range(3)]
        with_view = await channel.send("Heart talk", view=RegisterView())
        with_file = await channel.send("invite", file=discord.File(io.BytesIO(ICS), filename="talk-7-a1b2.ics"))
        ours = [*notes, with_view, with_file]

        found = [m async for m in channel.history(limit=100, after=discord.Object(id=earlier.id))]
        assert [m.id for m in found] == [m.id for m in ours]  # oldest first: discord.py reverses ``after``
        assert all(m.author.id == emu.bot_user_id for m in found)
        rows = [row for row in found[3].components if isinstance(row, discord.ActionRow)]
        assert [getattr(c, "custom_id", None) for row in rows for c in row.children] == [
            "talk:register:1",
            "talk:close:1",
        ]
        assert [a.filename for a in found[4].attachments] == ["talk-7-a1b2.ics"]
        assert await found[4].attachments[0].read() == ICS
        assert [m.content for m in found[:3]] == ["note 0", "note 1", "note 2"]
        # A datetime, as bot/courier.py passes it, becomes a time snowflake.
        since = earlier.created_at - datetime.timedelta(seconds=1)
        assert [m.id async for m in channel.history(limit=100, after=since)] == [earlier.id, *(m.id for m in ours)]

        assert [m.id async for m in channel.history(limit=2, before=with_view)] == [notes[2].id, notes[1].id]
        assert [m.id async for m in channel.history(limit=2)] == [with_file.id, with_view.id]  # newest first
        around = [m.id async for m in channel.history(limit=3, around=notes[1])]
        assert sorted(around) == [notes[0].id, notes[1].id, notes[2].id]

        dm = await (await bot.fetch_user(world.alice)).create_dm()
        invite = await dm.send("Your invite", view=RegisterView())
        assert [m.id async for m in dm.history(limit=10)] == [invite.id]  # DMs need no permission


async def test_history_pages_past_100_messages(emu: DiscordEmulator, world: World) -> None:
    first = emu.post_user_message(world.channel, world.alice, "m0")
    for i in range(1, 130):
        emu.post_user_message(world.channel, world.alice, f"m{i}")
    async with running(emu, make_bot()) as bot:
        channel = channel_of(bot, world.channel)
        after = [m.content async for m in channel.history(limit=None, after=discord.Object(id=int(first["id"])))]
        assert after == [f"m{i}" for i in range(1, 130)]
        newest = [m.content async for m in channel.history(limit=120)]
        assert newest == [f"m{i}" for i in range(129, 9, -1)]


async def test_history_rest_details(emu: DiscordEmulator, world: World) -> None:
    base = f"{emu.api_base}/channels/{world.channel}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as session:
        body = {"content": "with nonce", "nonce": "n-1", "enforce_nonce": True}
        async with session.post(base, json=body) as resp:
            created = await resp.json()
        assert created["nonce"] == "n-1"  # the create response echoes it...
        async with session.get(f"{base}/{created['id']}") as resp:
            fetched = await resp.json()
        assert "nonce" not in fetched and fetched["content"] == "with nonce"  # ...a fetch does not
        ids = [int(created["id"])]
        for i in range(4):
            async with session.post(base, json={"content": f"m{i}"}) as resp:
                ids.append(int((await resp.json())["id"]))

        async def page(**query: str | int) -> list[int]:
            async with session.get(base, params={k: str(v) for k, v in query.items()}) as resp:
                assert resp.status == 200, await resp.text()
                return [int(m["id"]) for m in await resp.json()]

        listed = await page()
        assert listed == ids[::-1] and "nonce" not in str(listed)
        async with session.get(base) as resp:
            assert all("nonce" not in m for m in await resp.json())
        assert await page(after=ids[0], limit=2) == [ids[2], ids[1]]  # the oldest two after, newest first
        assert await page(before=ids[4], limit=2) == [ids[3], ids[2]]
        assert await page(around=ids[2], limit=2) == [ids[3], ids[2], ids[1]]  # even limit: limit + 1
        assert await page(around=ids[2], limit=3) == [ids[3], ids[2], ids[1]]
        assert await page(around=ids[2], limit=1) == [ids[2]]

        for query in ({"limit": "0"}, {"limit": "101"}, {"before": "abc"}, {"before": ids[1], "after": ids[0]}):
            async with session.get(base, params={k: str(v) for k, v in query.items()}) as resp:
                assert resp.status == 400 and (await resp.json())["code"] == 50035, query

        emu.set_overwrite(world.channel, world.guild.id, deny=Perm.READ_MESSAGE_HISTORY)
        assert await page() == []  # documented: no messages rather than an error
        async with session.get(f"{base}/{ids[0]}") as resp:
            assert resp.status == 403 and (await resp.json())["code"] == 50013


async def test_history_hides_others_content_without_message_content(emu: DiscordEmulator, world: World) -> None:
    emu.post_user_message(world.channel, world.alice, "hello from alice")
    emu.privileged_intents = 0  # the app is not approved for MESSAGE_CONTENT
    url = f"{emu.api_base}/channels/{world.channel}/messages"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as session,
        session.get(url) as resp,
    ):
        [message] = await resp.json()
    assert message["content"] == "" and message["author"]["id"] == str(world.alice)


async def test_hidden_channel_is_missing_access(emu: DiscordEmulator, world: World) -> None:
    secret = emu.add_text_channel(world.guild.id, "staff")
    async with running(emu, make_bot()) as bot:
        emu.set_overwrite(secret, world.guild.id, deny=Perm.VIEW_CHANNEL)
        channel = channel_of(bot, secret)
        with pytest.raises(discord.Forbidden) as excinfo:
            await channel.send("hi")
        assert excinfo.value.code == 50001


async def test_unknown_route_and_unknown_objects(emu: DiscordEmulator, world: World) -> None:
    headers = {"Authorization": f"Bot {emu.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{emu.api_base}/no/such/route") as resp:
            assert resp.status == 404 and await resp.json() == {"message": "404: Not Found", "code": 0}
        async with session.get(f"{emu.api_base}/users/1") as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10013
        async with session.get(f"{emu.api_base}/channels/{world.channel}/messages/1") as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10008
        async with session.get(f"{emu.api_base}/channels/1") as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10003
            assert resp.headers["Content-Type"] == "application/json"
            assert resp.headers["X-RateLimit-Bucket"]


async def test_scheduled_event_lifecycle(emu: DiscordEmulator, world: World) -> None:
    async with running(emu, make_bot()) as bot:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None
        start = discord.utils.utcnow().replace(microsecond=0) + datetime.timedelta(days=2)
        event = await guild.create_scheduled_event(
            name="Heart talk",
            start_time=start,
            end_time=start + datetime.timedelta(hours=1),
            entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only,
            location="Room 101",
        )
        [stored] = emu.scheduled_events(world.guild.id)
        assert stored["id"] == str(event.id) and stored["entity_metadata"] == {"location": "Room 101"}
        with pytest.raises(discord.HTTPException) as excinfo:
            await guild.create_scheduled_event(
                name="Past",
                start_time=start.replace(year=2000),
                end_time=start,
                entity_type=discord.EntityType.external,
                privacy_level=discord.PrivacyLevel.guild_only,
                location="x",
            )
        assert excinfo.value.code == 50035
        await event.delete()
        assert emu.scheduled_events(world.guild.id) == []


async def test_latency_is_applied() -> None:
    async with DiscordEmulator(latency=0.05) as emu:
        w = World(emu)
        async with running(emu, make_bot()) as bot:
            started = time.monotonic()
            await channel_of(bot, w.channel).send("slow wire")
            assert time.monotonic() - started >= 0.05
            ia = await emu.slash(w.guild.id, w.alice, "register", {"talk": "x"}, channel_id=w.channel)
            await ia.wait_done()
            # The gateway trip, then half a REST round trip until the callback reaches the emulator.
            assert time.monotonic() - ia.created >= 0.07
            callback = next(r for r in emu.requests if r.route and r.route.endswith("/callback"))
            assert callback.time - ia.created >= 0.07
            # Interaction webhooks pay the round trip too.
            async with aiohttp.ClientSession() as session:
                started = time.monotonic()
                async with session.get(f"{emu.api_base}/webhooks/{emu.application_id}/{ia.token}/messages/@original"):
                    assert time.monotonic() - started >= 0.05


def test_request_record_unpacks_like_a_tuple() -> None:
    from tests.emulator import RequestRecord

    record = RequestRecord("GET", "/users/@me", 200, 1.0, "/users/@me")
    method, path, status, when = record
    assert (method, path, status, when) == ("GET", "/users/@me", 200, 1.0)
    assert record.route == "/users/@me"
