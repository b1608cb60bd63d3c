"""Helpers shared by the cogs: answering interactions and completing talk options."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.embeds import choice_label
from bot.errors import PermissionDeniedError, PodiumError
from bot.i18n import Text, _, joined, language_of, render
from bot.series import SeriesService
from bot.series_messages import series_choice_label
from bot.talks import ensure_organizer

if TYPE_CHECKING:
    from bot.client import PodiumBot

log = logging.getLogger(__name__)
AUTOCOMPLETE_LIMIT = 25  # Discord shows at most 25 choices
# How long after an interaction was created to answer it directly before deferring (Discord allows 3 s).
DEFER_AFTER = 1.5
T = TypeVar("T")


def reader_language(interaction: discord.Interaction[Any]) -> str:
    """The language of a reply: the member's Discord locale (French for ``fr``, English for any other), or the
    server's when Discord gave none."""
    locale = getattr(interaction, "locale", None)
    if locale is not None and getattr(locale, "value", locale):
        return language_of(locale)
    return language_of(interaction.guild_locale)


async def respond(
    interaction: discord.Interaction[PodiumBot],
    content: Text | str | None = None,
    *,
    embed: discord.Embed | None = None,
    file: discord.File | None = None,
    files: Sequence[discord.File] = (),
    ephemeral: bool = True,
) -> None:
    """Reply whether or not the interaction was already answered or deferred, in the member's language."""
    text = render(content, reader_language(interaction)) if content is not None else None
    kwargs: dict[str, Any] = {"content": text, "ephemeral": ephemeral}
    if embed is not None:
        kwargs["embed"] = embed
    if file is not None:
        kwargs["file"] = file
    if files:
        kwargs["files"] = list(files)
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


async def answer_soon(interaction: discord.Interaction[PodiumBot], work: Awaitable[T]) -> T:
    """Await the work behind an answer, acknowledging the interaction only if it is not done in time.

    Discord wants an answer within 3 s of the interaction. Answering directly saves one request per member,
    which counts when hundreds press Register at once; deferring once DEFER_AFTER has passed keeps a slow
    answer (a busy database) within the deadline.
    """
    task = asyncio.ensure_future(work)
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    done, _pending = await asyncio.wait({task}, timeout=min(max(DEFER_AFTER - age, 0.0), DEFER_AFTER))
    if not done:
        await defer(interaction)
    return await task


async def defer(interaction: discord.Interaction[PodiumBot]) -> None:
    """Acknowledge at once (Discord allows 3 s) when the answer needs Discord or disk round trips."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


def modal_value(components: list[Mapping[str, Any]], custom_id: str) -> str | None:
    """A text input's value in a modal submission (in an action row, or a label as newer clients send)."""
    for component in components:
        inner = list(component.get("components") or [])
        if component.get("component"):
            inner.append(component["component"])
        for item in [component, *inner]:
            if item.get("custom_id") == custom_id and "value" in item:
                return str(item["value"])
    return None


def guild_id(interaction: discord.Interaction[PodiumBot]) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


def member_roles(interaction: discord.Interaction[PodiumBot]) -> frozenset[int]:
    """The role ids of the member behind an interaction in a server (none in a DM): what a talk reserved for
    some roles, or in its priority window, decides from (bot/eligibility.py)."""
    member = interaction.user
    if not isinstance(member, discord.Member):
        return frozenset()
    return frozenset(role.id for role in member.roles)


def server_roles(interaction: discord.Interaction[PodiumBot]) -> frozenset[int]:
    """The role ids of the interaction's server, so the domain can tell a role of this server from any other."""
    return frozenset(role.id for role in interaction.guild.roles) if interaction.guild is not None else frozenset()


def _organizes(permissions: discord.Permissions) -> bool:
    return permissions.manage_events or permissions.manage_guild or permissions.administrator


async def organizer_guild(interaction: discord.Interaction[PodiumBot]) -> int:
    """The server's id once the member is known to organize its talks; raises PermissionDeniedError otherwise.

    Decided from server-wide rights: ``member.guild_permissions`` (discord.py computes it from the roles the
    interaction's member names, looked up in the cached server, and from its owner), not
    ``interaction.permissions``, which includes the channel's overwrites: Manage Events granted on one voice or
    stage channel must not make a member an organizer of the whole server.
    """
    guild = guild_id(interaction)
    settings = await interaction.client.service.settings(guild)
    member = interaction.user
    if isinstance(member, discord.Member):
        server = member.guild_permissions
        role_ids = [role.id for role in member.roles]
    else:
        server, role_ids = discord.Permissions.none(), []
    ensure_organizer(
        settings,
        role_ids,
        server_wide=_organizes(server),
        in_channel_only=_organizes(interaction.permissions) and not _organizes(server),
    )
    return guild


def _matches(label: str, typed: str) -> bool:
    return not typed or typed.casefold() in label.casefold()


async def _choices(
    interaction: discord.Interaction[PodiumBot], typed: str, *, organizer: bool
) -> list[app_commands.Choice[int]]:
    if interaction.guild_id is None:
        return []
    service = interaction.client.service
    tz = await service.zone(interaction.guild_id)
    language = reader_language(interaction)
    if organizer:
        talks = await service.upcoming(interaction.guild_id, limit=100, public_only=False)
        talks += [talk for talk in await service.recent(interaction.guild_id, limit=50) if talk not in talks]
    else:
        talks = await service.upcoming(interaction.guild_id, limit=100)
    choices = []
    for talk in talks:
        label = choice_label(talk, tz, language)
        if _matches(f"#{talk.id} {label}", typed.strip()):
            choices.append(app_commands.Choice(name=label, value=talk.id))
        if len(choices) == AUTOCOMPLETE_LIMIT:
            break
    return choices


async def public_talk_autocomplete(
    interaction: discord.Interaction[PodiumBot], current: str
) -> list[app_commands.Choice[int]]:
    """Upcoming, announced talks for members."""
    return await _choices(interaction, current, organizer=False)


async def organizer_talk_autocomplete(
    interaction: discord.Interaction[PodiumBot], current: str
) -> list[app_commands.Choice[int]]:
    """Every upcoming talk, announced or not, then recent ones: organizers also look back. Nothing for anyone
    else, who would otherwise read the titles of talks not announced yet."""
    try:
        await organizer_guild(interaction)
    except PermissionDeniedError:
        return []
    return await _choices(interaction, current, organizer=True)


async def _series_choices(
    interaction: discord.Interaction[PodiumBot], typed: str, *, organizer: bool
) -> list[app_commands.Choice[int]]:
    if interaction.guild_id is None:
        return []
    service = interaction.client.service
    tz = await service.zone(interaction.guild_id)
    language = reader_language(interaction)
    now = service.clock()
    found = await SeriesService(service).choices(interaction.guild_id, organizer=organizer, limit=100)
    choices = []
    for dates in found:
        label = series_choice_label(dates, tz, language, now)
        if _matches(f"#{dates.series.id} {label}", typed.strip()):
            choices.append(app_commands.Choice(name=label, value=dates.series.id))
        if len(choices) == AUTOCOMPLETE_LIMIT:
            break
    return choices


async def public_series_autocomplete(
    interaction: discord.Interaction[PodiumBot], current: str
) -> list[app_commands.Choice[int]]:
    """Announced series with a date still open, for members."""
    return await _series_choices(interaction, current, organizer=False)


async def organizer_series_autocomplete(
    interaction: discord.Interaction[PodiumBot], current: str
) -> list[app_commands.Choice[int]]:
    """Every series of the server, those still running first; nothing for members, as for talks."""
    try:
        await organizer_guild(interaction)
    except PermissionDeniedError:
        return []
    return await _series_choices(interaction, current, organizer=True)


async def my_talk_autocomplete(
    interaction: discord.Interaction[PodiumBot], current: str
) -> list[app_commands.Choice[int]]:
    """The talks the member is registered for, so /unregister offers only what can be undone (and nothing held
    back: they joined each one when it was public)."""
    if interaction.guild_id is None:
        return []
    service = interaction.client.service
    tz = await service.zone(interaction.guild_id)
    language = reader_language(interaction)
    pairs = await service.member_talks(interaction.guild_id, interaction.user.id)
    labels = [(talk, choice_label(talk, tz, language)) for talk, _registration in pairs]
    return [
        app_commands.Choice(name=label, value=talk.id)
        for talk, label in labels
        if _matches(f"#{talk.id} {label}", current.strip())
    ][:AUTOCOMPLETE_LIMIT]


# The permissions Podium's commands ask for, named as Discord's own settings name them in each language.
PERMISSION_NAMES = {
    "administrator": _("Administrator"),
    "manage_guild": _("Manage Server"),
    "manage_events": _("Manage Events"),
}


def _permission_name(permission: str) -> Text | str:
    return PERMISSION_NAMES.get(permission) or permission.replace("_", " ").title()


APOLOGY = _("Sorry, something went wrong on my side and nothing was changed. Please try again in a minute.")


async def report_error(interaction: discord.Interaction[PodiumBot], error: BaseException) -> None:
    """The one place that turns an exception into what the member sees (always ephemeral, in their language)."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    text: Text | str
    if isinstance(original, PodiumError):
        text = original.render(reader_language(interaction))
    elif isinstance(original, app_commands.NoPrivateMessage):
        text = _("This command only works inside a server, not in direct messages.")
    elif isinstance(original, app_commands.MissingPermissions):
        language = reader_language(interaction)
        needed = joined([_permission_name(name) for name in original.missing_permissions], language)
        text = _("You need the {permissions} permission for this. Ask a server admin.", permissions=needed)
    elif isinstance(original, app_commands.TransformerError):
        text = _("`{value}` is not valid here. Pick a value from the list as you type.", value=str(original.value))
    elif isinstance(original, app_commands.CheckFailure):
        text = _("You are not allowed to use this command here.")
    else:
        command = interaction.command.qualified_name if interaction.command else "component"
        log.error("Unexpected error in %s", command, exc_info=original)
        text = APOLOGY
    try:
        await respond(interaction, text)
    except discord.HTTPException as failure:
        # The interaction may have expired (3 s / 15 min); the member sees Discord's own failure notice.
        log.warning("Could not report an error to the member: %s", failure)
