"""/calendar: a member's personal calendar feed link (the talks they registered for, always up to date)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_names import command
from bot.feeds import FeedLink
from bot.i18n import Text, _, render
from bot.replies import guild_id, reader_language, respond
from bot.web import agenda_url, member_feed_url, webcal

if TYPE_CHECKING:
    from bot.client import PodiumBot

WEB_OFF = _(
    "Calendar feeds are switched off on this bot: whoever runs it needs to set `PUBLIC_URL` and `WEB_PORT` "
    "(see the README, “Calendar feeds and agenda page”). Until then, use the **Add to calendar** button on "
    "each announcement to get a calendar file."
)
WEB_DOWN = _(
    "The calendar web server is not running right now (it could not start), so a feed link would not work. "
    "Ask whoever runs the bot to check its log; nothing was changed."
)
HOW_TO = _(
    "**How to subscribe** (your calendar then follows every change; apps refresh every few hours):\n"
    "• **Google Calendar** (on a computer): Settings → Add calendar → From URL → paste the https link → "
    "Add calendar. It then shows on your phone too.\n"
    "• **Outlook**: Add calendar → Subscribe from web → paste the https link → Import.\n"
    "• **Apple Calendar**: on a Mac, File → New Calendar Subscription → paste the webcal link; on an iPhone, "
    "Settings → Calendar → Accounts → Add Account → Other → Add Subscribed Calendar.\n"
    "Confirmed talks show as events; waitlisted ones as tentative “(waitlist #n)” until you get a seat."
)


def _stamp(moment: datetime) -> str:
    return f"<t:{int(moment.timestamp())}:R>"


def new_link_text(link: FeedLink, https: str) -> Text:
    lead = (
        _(
            "Here is your **new** personal calendar feed; the previous link stopped working just now, so remove "
            "that old subscription from your calendar app."
        )
        if link.replaced
        else _("Here is your personal calendar feed: the talks you registered for in this server.")
    )
    return _(
        "{lead} Keep it private: anyone with the link can see which talks you signed up for.\n"
        "• https link: <{https}>\n"
        "• webcal link: `{webcal}`\n\n"
        "{how_to}\n"
        "Lost the link or shared it by mistake? {reset} makes a new one.",
        lead=lead,
        https=https,
        webcal=webcal(https),
        how_to=HOW_TO,
        reset=command("calendar", reset="true"),
    )


def existing_link_text(link: FeedLink) -> Text:
    used = (
        _("a calendar last fetched it {when}", when=_stamp(link.last_used_at))
        if link.last_used_at
        else _("no calendar has fetched it yet")
    )
    return _(
        "You already have a personal calendar feed (made {made}; {used}). I keep only a fingerprint of the link, "
        "not the link itself, so I cannot show it again: it is in your calendar app's subscription settings.\n"
        "Lost it? {reset} makes a new link, and the old one stops working at once.",
        made=_stamp(link.created_at),
        used=used,
        reset=command("calendar", reset="true"),
    )


class Calendar(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="calendar", description="Your personal calendar feed of the talks you registered for")
    @app_commands.describe(reset="True to make a new link; the old one stops working at once")
    @app_commands.guild_only()
    async def calendar(self, interaction: discord.Interaction[PodiumBot], reset: bool = False) -> None:
        bot = interaction.client
        guild = guild_id(interaction)
        if bot.web is None or bot.settings.public_url is None:
            await respond(interaction, WEB_OFF)
            return
        if not bot.web.running:
            await respond(interaction, WEB_DOWN)
            return
        link = await bot.feeds.link(guild, interaction.user.id, reset=reset)
        if link.token is None:
            parts = [existing_link_text(link)]
        else:
            parts = [new_link_text(link, member_feed_url(bot.settings.public_url, link.token))]
        settings = await bot.service.settings(guild)
        if settings.public_calendar and settings.public_id:
            agenda = agenda_url(bot.settings.public_url, settings.public_id)
            parts.append(_("The whole programme of this server: <{agenda}>", agenda=agenda))
        language = reader_language(interaction)
        await respond(interaction, "\n".join(render(part, language) for part in parts))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Calendar(bot))
