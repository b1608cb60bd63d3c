"""/setup: per-server settings (announcement channel, organizer role, time zone, reminders, ping role,
public calendar, language, first day of the academic year)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.certificates import year_start as first_day_of_year
from bot.event_mirror import can_mirror
from bot.i18n import Joined, Text, _, display_name, languages
from bot.joinlink import format_lead
from bot.models import GuildSettings
from bot.replies import guild_id, respond
from bot.timeparse import format_offsets
from bot.web import agenda_url

if TYPE_CHECKING:
    from bot.client import PodiumBot


def public_calendar_text(settings: GuildSettings, public_url: str | None) -> Text:
    if not settings.public_calendar or settings.public_id is None:  # a public calendar is a saved setting
        return _("off (`/setup public_calendar:true` publishes an agenda page and a calendar feed)")
    if public_url is None:
        return _("on, but this bot's web side is not configured (its operator sets PUBLIC_URL and WEB_PORT)")
    return _("on: <{url}>", url=agenda_url(public_url, settings.public_id))


def events_text(settings: GuildSettings, allowed: bool) -> Text:
    if not settings.native_events:
        return _("off (`/setup native_events:true` lists the talks in the server's Events tab)")
    if not allowed:
        return _(
            "⚠️ on, but I lack the **Create Events** permission, so the talks are not in the Events tab. Give it to "
            "my role in Server Settings → Roles; everything else works without it."
        )
    interest = (
        _("clicking “Interested” registers the member")
        if settings.interested_registers
        else _("“Interested” does not register (`/setup interested_registers:true` to make it)")
    )
    return _("on: each announced talk is in the Events tab; {interest}", interest=interest)


def describe(
    settings: GuildSettings, default_tz: str, public_url: str | None = None, *, events_allowed: bool = True
) -> Text:
    lead = format_lead(settings.join_link_lead())
    join = (
        _("{lead} before the start (default)", lead=lead)
        if settings.join_link_before is None
        else _("{lead} before the start", lead=lead)
    )
    return _(
        "{settings}\n**Join link sent to confirmed members:** {join}\n**Native Discord events:** {events}",
        settings=_describe(settings, default_tz, public_url),
        join=join,
        events=events_text(settings, events_allowed),
    )


def _describe(settings: GuildSettings, default_tz: str, public_url: str | None = None) -> Text:
    channel = f"<#{settings.channel_id}>" if settings.channel_id else _("not set — announcements cannot be posted")
    organizer = f"<@&{settings.organizer_role_id}>" if settings.organizer_role_id else _("not set (Manage Events only)")
    timezone = settings.timezone or _("{zone} (default)", zone=default_tz)
    offsets = format_offsets(settings.default_reminders())
    reminders = _("{offsets} (default)", offsets=offsets) if settings.reminders is None else offsets
    ping = f"<@&{settings.ping_role_id}>" if settings.ping_role_id else _("none")
    language = (
        display_name(settings.language)
        if settings.language
        else _("the server's preferred language (`/setup language:` to choose)")
    )
    return _(
        "**Announcement channel:** {channel}\n**Organizer role:** {organizer}\n**Time zone:** {timezone}\n"
        "**Default reminders:** {reminders}\n**Role pinged by reminders:** {ping}\n"
        "**Public calendar and agenda page:** {public_calendar}\n**Language of announcements and reminders:** "
        "{language}\n**Academic year starts on:** {year_start}",
        channel=channel,
        organizer=organizer,
        timezone=timezone,
        reminders=reminders,
        ping=ping,
        public_calendar=public_calendar_text(settings, public_url),
        language=language,
        year_start=first_day_of_year(settings),
    )


_NEEDED = {
    "view_channel": _("View Channel"),
    "send_messages": _("Send Messages"),
    "embed_links": _("Embed Links"),
    "attach_files": _("Attach Files"),
}


def missing_permissions(guild: discord.Guild | None, channel_id: int) -> Text | str:
    """A warning when the bot could not post announcements in the chosen channel (from its cache)."""
    channel = guild.get_channel(channel_id) if guild else None
    if guild is None or channel is None or guild.me is None:
        return ""
    permissions = channel.permissions_for(guild.me)
    missing: list[Text | str] = [label for name, label in _NEEDED.items() if not getattr(permissions, name)]
    if not missing:
        return ""
    return _(
        "⚠️ I cannot post announcements in <#{channel}> yet: give me {permissions} there "
        "(channel settings → Permissions).\n",
        channel=channel.id,
        permissions=Joined(missing),
    )


class Setup(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="setup", description="Configure Podium for this server (no options: show settings)")
    @app_commands.describe(
        channel="Channel where talks are announced",
        organizer_role="Role whose members may create and edit talks",
        timezone="Time zone for the dates organizers type, e.g. Europe/Paris",
        reminders="Default reminder offsets before each talk, e.g. 1d,1h",
        ping_role="Role mentioned in reminder posts",
        public_calendar="Publish the programme on the web: an agenda page and a calendar feed (no member data)",
        language="Language of announcements, reminder posts, the feed and the agenda page",
        year_start="First day of the academic year, MM-DD (default 09-01), which /attendance counts from",
        join_link_before="How long before the start confirmed members get the join link, e.g. 15m (0m to 24h)",
        native_events="List each announced talk in the server's Events tab (on by default)",
        interested_registers="Make “Interested” on a talk's event register the member (off by default)",
    )
    @app_commands.choices(language=[app_commands.Choice(name=display_name(code), value=code) for code in languages()])
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def setup_command(
        self,
        interaction: discord.Interaction[PodiumBot],
        channel: discord.TextChannel | None = None,
        organizer_role: discord.Role | None = None,
        timezone: str | None = None,
        reminders: str | None = None,
        ping_role: discord.Role | None = None,
        public_calendar: bool | None = None,
        language: app_commands.Choice[str] | None = None,
        year_start: str | None = None,
        join_link_before: str | None = None,
        native_events: bool | None = None,
        interested_registers: bool | None = None,
    ) -> None:
        bot = interaction.client
        guild = guild_id(interaction)
        allowed = can_mirror(interaction.guild)
        default_tz = bot.settings.default_timezone
        public_url = bot.settings.public_url if bot.settings.web_enabled else None
        given = (
            channel,
            organizer_role,
            timezone,
            reminders,
            ping_role,
            public_calendar,
            language,
            year_start,
            join_link_before,
            native_events,
            interested_registers,
        )
        if all(value is None for value in given):
            current = await bot.service.settings(guild)
            hint = "" if current.channel_id else _("\nStart with `/setup channel:#talks`.")
            await respond(
                interaction,
                _(
                    "Podium settings for this server:\n{settings}{hint}",
                    settings=describe(current, default_tz, public_url, events_allowed=allowed),
                    hint=hint,
                ),
            )
            return
        for role in (organizer_role, ping_role):
            if role is not None and role.is_default():
                await respond(
                    interaction, _("Pick a real role, not @everyone: everyone would be an organizer or be pinged.")
                )
                return
        updated = await bot.office.update_settings(
            guild,
            channel_id=channel.id if channel else None,
            organizer_role_id=organizer_role.id if organizer_role else None,
            timezone=timezone,
            reminders=reminders,
            ping_role_id=ping_role.id if ping_role else None,
            public_calendar=public_calendar,
            language=language.value if language else None,
            year_start=year_start,
            join_link_before=join_link_before,
            native_events=native_events,
            interested_registers=interested_registers,
        )
        next_step = (
            _("Next: create a talk with `/talk create`.")
            if updated.channel_id
            else _("Next: choose where talks are announced with `/setup channel:#talks`.")
        )
        warning = missing_permissions(interaction.guild, channel.id) if channel is not None else ""
        role_hint: Text | str = ""
        if organizer_role is not None:
            # /talk carries default_permissions (Manage Events): Discord hides it from the role until allowed.
            role_hint = _(
                "For <@&{role}> to see `/talk`, allow the role for it in Server Settings → "
                "Integrations → Podium (Discord shows `/talk` only to members with Manage Events until then).\n",
                role=organizer_role.id,
            )
        await respond(
            interaction,
            _(
                "Settings saved.\n{settings}\n{warning}{role_hint}{next_step}",
                settings=describe(updated, default_tz, public_url, events_allowed=allowed),
                warning=warning,
                role_hint=role_hint,
                next_step=next_step,
            ),
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Setup(bot))
