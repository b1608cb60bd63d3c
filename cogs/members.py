"""What students do: browse talks, register or unregister (by command or button), their list, DM settings."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_names import command, option
from bot.embeds import ICS_ID, REGISTER_ID, UNREGISTER_ID, registration_text, talk_line, when
from bot.errors import InputError, PodiumError
from bot.i18n import Text, _, _n, render
from bot.joinlink import JoinLinks, released
from bot.joinlink_messages import registered_note
from bot.messages import invite_file
from bot.models import DeliveryKind, Talk
from bot.replies import (
    answer_soon,
    guild_id,
    member_roles,
    my_talk_autocomplete,
    public_series_autocomplete,
    public_talk_autocomplete,
    reader_language,
    report_error,
    respond,
)
from bot.series_messages import DESCRIPTION_MAX, registered_lines
from bot.timeparse import discord_timestamp

if TYPE_CHECKING:
    from bot.client import PodiumBot

LIST_LIMIT = 10


def _invite_timing(held_until: datetime | None) -> Text:
    """When the member's invite DM goes: at once, or after the short wait that follows a quick change of mind."""
    if held_until is None:
        return _("Your calendar invite is on its way by DM.")
    return _(
        "Your calendar invite follows by DM {when} (after a quick change I wait a moment, so that only your "
        "latest choice is sent).",
        when=discord_timestamp(held_until, "R"),
    )


def _removal_timing(held_until: datetime | None) -> Text:
    """The same for the file that takes a talk out of the member's calendar."""
    if held_until is None:
        return _("A file that removes the talk from your calendar is on its way by DM.")
    return _(
        "A file that removes the talk from your calendar follows by DM {when} (after a quick change I wait a "
        "moment, so that only your latest choice is sent).",
        when=discord_timestamp(held_until, "R"),
    )


def _template(custom_id: str) -> str:
    # A button the courier sent ends with its delivery's marker (":m42"), which the click ignores.
    talk = re.escape(custom_id.format(talk_id="TALK")).replace("TALK", r"(?P<talk_id>[0-9]{1,19})")
    return "^" + talk + r"(?::m[0-9]{1,19})?$"


async def register_member(interaction: discord.Interaction[PodiumBot], talk_id: int) -> None:
    bot = interaction.client
    guild = guild_id(interaction)
    user = interaction.user

    async def offer_file() -> None:
        # The invite DM failed for good (DMs closed): the interaction token still works for 15 minutes.
        tz = await bot.service.zone(guild)
        await respond(
            interaction,
            _(
                "I could not DM you the calendar invite for **{title}** (your direct messages are closed for this "
                "server), so here it is. To get updates when the talk changes, allow direct messages from server "
                "members in this server's Privacy Settings.",
                title=title,
            ),
            file=invite_file(
                outcome.talk,
                DeliveryKind.INVITE_CONFIRMED,
                tz,
                bot.service.clock(),
                language=reader_language(interaction),
            ),
        )

    outcome = await answer_soon(
        interaction,
        bot.office.register(
            guild, talk_id, user.id, user.display_name, roles=member_roles(interaction), undelivered=offer_file
        ),
    )
    talk, registration = outcome.talk, outcome.registration
    title = discord.utils.escape_markdown(talk.title)
    if not outcome.created:
        await respond(
            interaction,
            _(
                "You are already registered for **{title}** ({state}); nothing changed. Use {mytalks} to see your "
                "registrations.",
                title=title,
                state=registration_text(registration),
                mytalks=command("mytalks"),
            ),
        )
    elif not registration.confirmed:
        await respond(
            interaction,
            _(
                "**{title}** is full, so you are **#{position} on the waitlist**. If a seat opens up you will be "
                "confirmed automatically and I will DM you the calendar invite.",
                title=title,
                position=registration.position,
            ),
        )
    else:
        reply: Text | str = _(
            "You're registered for **{title}**, {when}. {invite} Changed your mind? Use {unregister}.",
            title=title,
            when=when(talk),
            invite=_invite_timing(outcome.held_until),
            unregister=command("unregister"),
        )
        if talk.join_url and released(talk, await JoinLinks(bot.service).lead(guild), bot.service.clock()):
            # Confirmed after the release: the link comes with the confirmation (and by DM, see bot/joinlink.py).
            language = reader_language(interaction)
            reply = render(reply, language) + "\n" + render(registered_note(talk.join_url), language)
        await respond(interaction, reply)


FILES_PER_MESSAGE = 10  # Discord's limit on a message's attachments
FILES_AFTER = 1.0  # seconds: the invites of a series' dates fail together when DMs are closed; one reply for all


async def register_series_member(interaction: discord.Interaction[PodiumBot], series_id: int) -> None:
    """Register for every date of the series still open (the select's "All dates", /register series:), each date
    as /register does it; the reply says, date by date, confirmed or waitlisted."""
    bot = interaction.client
    guild = guild_id(interaction)
    user = interaction.user
    language = reader_language(interaction)
    failed: list[Talk] = []
    sent = 0
    sending = False

    async def offer_files(talk: Talk) -> None:
        # An invite DM failed for good (DMs closed): the others fail at the same moment, so wait a little and
        # attach every file in as few follow-ups as Discord allows.
        nonlocal sent, sending
        failed.append(talk)
        if sending:
            return
        sending = True
        try:
            await asyncio.sleep(FILES_AFTER)
            tz = await bot.service.zone(guild)
            while sent < len(failed):
                batch = failed[sent : sent + FILES_PER_MESSAGE]
                sent += len(batch)
                files = [
                    invite_file(t, DeliveryKind.INVITE_CONFIRMED, tz, bot.service.clock(), language=language)
                    for t in batch
                ]
                await respond(
                    interaction,
                    _n(
                        "I could not DM you the calendar invite of {count} date (your direct messages are closed for "
                        "this server), so here it is. To get updates when a date changes, allow direct messages from "
                        "server members in this server's Privacy Settings.",
                        "I could not DM you the calendar invites of {count} dates (your direct messages are closed for "
                        "this server), so here they are. To get updates when a date changes, allow direct messages "
                        "from server members in this server's Privacy Settings.",
                        len(batch),
                    ),
                    files=files,
                )
        finally:
            sending = False

    outcome = await answer_soon(
        interaction,
        bot.office.register_series(
            guild, series_id, user.id, user.display_name, roles=member_roles(interaction), undelivered=offer_files
        ),
    )
    title = discord.utils.escape_markdown(outcome.dates.reference(bot.service.clock()).title)
    states: list[tuple[Talk, Text]] = []
    confirmed = waitlisted = 0
    for talk, result in outcome.results:
        if isinstance(result, PodiumError):
            states.append((talk, _("not registered: {reason}", reason=result.text)))
        elif not result.created:
            states.append((talk, _("already registered ({state})", state=registration_text(result.registration))))
        else:
            states.append((talk, registration_text(result.registration)))
            confirmed += result.registration.confirmed
            waitlisted += not result.registration.confirmed
    lines: list[Text] = [
        _n(
            "Your registration for **{title}** ({count} date not over):",
            "Your registrations for **{title}**, date by date ({count} dates not over):",
            len(outcome.results),
            title=title,
        )
    ]
    if confirmed:
        lines.append(
            _n(
                "Your calendar invite for the confirmed date is on its way by DM.",
                "Your calendar invites for the {count} confirmed dates are on their way by DM, one per date.",
                confirmed,
            )
        )
    if waitlisted:
        lines.append(
            _n(
                "The date where you are on the waitlist confirms you automatically if a seat opens up.",
                "The {count} dates where you are on the waitlist confirm you automatically if a seat opens up.",
                waitlisted,
            )
        )
    lines.append(_("Changed your mind about a date? Use {unregister}.", unregister=command("unregister")))
    embed = discord.Embed(
        description=registered_lines(states, language)[:DESCRIPTION_MAX], colour=discord.Colour.blurple()
    )
    await respond(interaction, "\n".join(render(line, language) for line in lines), embed=embed)


async def unregister_member(interaction: discord.Interaction[PodiumBot], talk_id: int) -> None:
    bot = interaction.client
    # The Unregister button also rides on reminder DMs, where there is no server: the talk names it.
    # Only the clicking member's own registration is touched, so this widens nothing.
    guild = interaction.guild_id
    if guild is None:
        guild = await answer_soon(interaction, bot.service.guild_of(talk_id))

    async def offer_file() -> None:
        tz = await bot.service.zone(guild)
        await respond(
            interaction,
            _("I could not DM you, so open the attached file to remove **{title}** from your calendar.", title=title),
            file=invite_file(
                outcome.talk,
                DeliveryKind.INVITE_WITHDRAWN,
                tz,
                bot.service.clock(),
                language=reader_language(interaction),
            ),
        )

    outcome = await answer_soon(
        interaction, bot.office.unregister(guild, talk_id, interaction.user.id, undelivered=offer_file)
    )
    talk = outcome.talk
    title = discord.utils.escape_markdown(talk.title)
    register = command("register")
    if not outcome.removed.confirmed:
        await respond(
            interaction,
            _(
                "You left the waitlist for **{title}**. Use {register} if you change your mind.",
                title=title,
                register=register,
            ),
        )
    elif talk.cancelled:
        await respond(interaction, _("You are no longer registered for **{title}** (it was cancelled).", title=title))
    elif outcome.promoted:
        await respond(
            interaction,
            _(
                "You are no longer registered for **{title}**. Your seat went to the next person on the waitlist. "
                "{removal} Use {register} if you change your mind.",
                title=title,
                removal=_removal_timing(outcome.held_until),
                register=register,
            ),
        )
    else:
        await respond(
            interaction,
            _(
                "You are no longer registered for **{title}**. {removal} Use {register} if you change your mind.",
                title=title,
                removal=_removal_timing(outcome.held_until),
                register=register,
            ),
        )


async def send_calendar_file(interaction: discord.Interaction[PodiumBot], talk_id: int) -> None:
    bot = interaction.client
    guild = guild_id(interaction)
    talk = await bot.service.member_talk(guild, talk_id, interaction.user.id)
    tz = await bot.service.zone(guild)
    kind = DeliveryKind.INVITE_CANCELLED if talk.cancelled else DeliveryKind.INVITE_CONFIRMED
    note = (
        _("This talk was cancelled: the file removes it from your calendar.")
        if talk.cancelled
        else _(
            "Open the file to add **{title}** to your calendar. Registering (the Register button) also sends you "
            "updates when the talk changes.",
            title=discord.utils.escape_markdown(talk.title),
        )
    )
    await respond(
        interaction, note, file=invite_file(talk, kind, tz, bot.service.clock(), language=reader_language(interaction))
    )


class _TalkButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"^podium:unused:(?P<talk_id>[0-9]+)$"):
    """A button on an announcement that still works after a restart: the talk id is in its custom id."""

    def __init__(self, talk_id: int, button: discord.ui.Button[Any] | None = None) -> None:
        super().__init__(button or discord.ui.Button(custom_id=f"podium:unused:{talk_id}"))
        self.talk_id = talk_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> _TalkButton:
        return cls(int(match["talk_id"]), item if isinstance(item, discord.ui.Button) else None)

    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # discord.py types a dynamic item's interaction by the generic client; this bot's client is a PodiumBot.
        try:
            await self.act(interaction)
        except Exception as error:
            await report_error(interaction, error)


class RegisterButton(_TalkButton, template=_template(REGISTER_ID)):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        await register_member(interaction, self.talk_id)


class UnregisterButton(_TalkButton, template=_template(UNREGISTER_ID)):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        await unregister_member(interaction, self.talk_id)


class CalendarButton(_TalkButton, template=_template(ICS_ID)):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        await send_calendar_file(interaction, self.talk_id)


BUTTONS = (RegisterButton, UnregisterButton, CalendarButton)


class Members(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*BUTTONS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*BUTTONS)

    @app_commands.command(name="talks", description="Upcoming talks in this server, with seats left")
    @app_commands.guild_only()
    async def talks(self, interaction: discord.Interaction[PodiumBot]) -> None:
        bot = interaction.client
        upcoming = await bot.service.upcoming(guild_id(interaction), limit=LIST_LIMIT + 1)
        if not upcoming:
            await respond(
                interaction,
                _("No upcoming talks yet. Organizers can schedule one with {create}.", create=command("talk create")),
            )
            return
        language = reader_language(interaction)
        lines = [talk_line(talk, await bot.service.seats(talk), language=language) for talk in upcoming[:LIST_LIMIT]]
        if len(upcoming) > LIST_LIMIT:
            lines[-1] += "\n" + render(
                _("…and more: type in {register}'s talk box to search.", register=command("register")), language
            )
        embed = discord.Embed(
            # limit: 256
            title=render(_("Upcoming talks"), language),
            description="\n\n".join(lines),
            colour=discord.Colour.blurple(),
        )
        await respond(
            interaction,
            _("Register with {register} or the button on each announcement.", register=command("register")),
            embed=embed,
        )

    @app_commands.command(name="register", description="Register for a talk (or join its waitlist)")
    @app_commands.describe(talk="The talk to attend", series="A seminar series: registers you for every date not over")
    @app_commands.autocomplete(talk=public_talk_autocomplete, series=public_series_autocomplete)
    @app_commands.guild_only()
    async def register(
        self, interaction: discord.Interaction[PodiumBot], talk: int | None = None, series: int | None = None
    ) -> None:
        if (talk is None) == (series is None):
            raise InputError(
                _(
                    "Give {talk} (one talk) or {series} (every date of a seminar series): exactly one of the two. "
                    "Pick it from the list as you type.",
                    talk=option("talk"),
                    series=option("series"),
                )
            )
        if series is not None:
            await register_series_member(interaction, series)
        else:
            assert talk is not None
            await register_member(interaction, talk)

    @app_commands.command(name="unregister", description="Give up your seat (or leave the waitlist)")
    @app_commands.describe(talk="The talk to leave")
    @app_commands.autocomplete(talk=my_talk_autocomplete)
    @app_commands.guild_only()
    async def unregister(self, interaction: discord.Interaction[PodiumBot], talk: int) -> None:
        await unregister_member(interaction, talk)

    @app_commands.command(name="mytalks", description="Your registrations and waitlist positions")
    @app_commands.guild_only()
    async def mytalks(self, interaction: discord.Interaction[PodiumBot]) -> None:
        bot = interaction.client
        guild = guild_id(interaction)
        pairs = await bot.service.member_talks(guild, interaction.user.id)
        if not pairs:
            await respond(
                interaction,
                _("You are not registered for any upcoming talk. See {talks} to find one.", talks=command("talks")),
            )
            return
        language = reader_language(interaction)
        lines = []
        for talk, registration in pairs[:20]:
            state = _("cancelled") if talk.cancelled else registration_text(registration)
            lines.append(f"{talk_line(talk, language=language)}\n→ **{render(state, language)}**")
        notifications = await bot.service.notifications_enabled(guild, interaction.user.id)
        footer = (
            _("Reminder DMs are on.")
            if notifications
            else _("Reminder DMs are off ({turn_on}).", turn_on=command("notifications", enabled=True))
        )
        embed = discord.Embed(
            # limit: 256
            title=render(_("Your talks"), language),
            description="\n\n".join(lines),
            colour=discord.Colour.blurple(),
        )
        embed.set_footer(text=render(footer, language))
        await respond(interaction, embed=embed)

    @app_commands.command(name="notifications", description="Turn reminder DMs on or off for you")
    @app_commands.describe(enabled="True to get reminder DMs before your talks, False to stop them")
    @app_commands.guild_only()
    async def notifications(self, interaction: discord.Interaction[PodiumBot], enabled: bool) -> None:
        bot = interaction.client
        await bot.service.set_notifications(guild_id(interaction), interaction.user.id, enabled)
        if enabled:
            text = _("Reminder DMs are **on**: I will DM you before the talks you are confirmed for.")
        else:
            text = _(
                "Reminder DMs are **off**. You stay registered and still get calendar invites and changes. "
                "Turn them back on with {turn_on}.",
                turn_on=command("notifications", enabled=True),
            )
        await respond(interaction, text)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Members(bot))
