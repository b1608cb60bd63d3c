"""Check-in: the Check in button (announcement and join-link DM), its code window, and /checkin."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checkin import CheckinOutcome, CodeRequiredError
from bot.checkin_codes import CODE_LENGTH
from bot.embeds import CHECKIN_ID, seats_text
from bot.i18n import Text, _, render
from bot.replies import (
    answer_soon,
    modal_value,
    public_talk_autocomplete,
    reader_language,
    report_error,
    respond,
)
from bot.timeparse import discord_timestamp
from cogs.members import _TalkButton, _template

if TYPE_CHECKING:
    from bot.client import PodiumBot

log = logging.getLogger(__name__)

# The window that asks for the code. Its custom id names the talk, so a submission is understood even after a
# restart: the modal is not kept in memory (see CodeModal), the cog's listener answers it.
CODE_MODAL_ID = "podium:checkin-code:{talk_id}"
CODE_FIELD = "code"
CODE_TYPED_MAX = 20  # room for spaces or dashes a member adds while copying the slide
_CODE_MODAL = re.compile(r"^podium:checkin-code:(?P<talk_id>[0-9]{1,19})$")


def code_modal(talk_id: int, language: str) -> discord.ui.Modal:
    # limit: 45
    modal = discord.ui.Modal(
        title=render(_("Check-in code"), language), custom_id=CODE_MODAL_ID.format(talk_id=talk_id)
    )
    modal.add_item(
        discord.ui.TextInput(
            # limit: 45
            label=render(_("The code shown in the room"), language),
            custom_id=CODE_FIELD,
            min_length=1,
            max_length=CODE_TYPED_MAX,
            placeholder="A" * CODE_LENGTH,
        )
    )
    # Not kept by discord.py (a stopped modal is not stored): the listener below answers every submission, so
    # one sent before a restart still works after it.
    modal.stop()
    return modal


def _checked_in_text(outcome: CheckinOutcome) -> Text:
    title = discord.utils.escape_markdown(outcome.talk.title)
    if not outcome.created:
        return _(
            "You already checked in to **{title}** ({time}); nothing changed.",
            title=title,
            time=discord_timestamp(outcome.checked_in_at, "t"),
        )
    if not outcome.walk_in:
        return _("You're checked in to **{title}**. Enjoy the talk!", title=title)
    if outcome.talk.capacity is None:
        return _("You're checked in to **{title}** as a walk-in (open seating). Enjoy the talk!", title=title)
    return _(
        "You're checked in to **{title}** as a walk-in: you took one of the free seats ({seats}). Enjoy the talk!",
        title=title,
        seats=seats_text(outcome.seats),
    )


async def checkin_member(
    interaction: discord.Interaction[PodiumBot], talk_id: int, code: str | None, *, ask_for_code: bool
) -> None:
    """Check the member in; with ``ask_for_code`` (the button) a talk that needs its code opens the code window."""
    bot = interaction.client
    user = interaction.user
    # From the join-link DM there is no server: the talk names it (only the clicking member's presence is recorded).
    work = bot.office.check_in(interaction.guild_id, talk_id, user.id, user.display_name, code)
    try:
        outcome = await answer_soon(interaction, work)
    except CodeRequiredError:
        if not ask_for_code or interaction.response.is_done():
            raise
        await interaction.response.send_modal(code_modal(talk_id, reader_language(interaction)))
        return
    await respond(interaction, _checked_in_text(outcome))


class CheckinButton(_TalkButton, template=_template(CHECKIN_ID)):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        await checkin_member(interaction, self.talk_id, None, ask_for_code=True)


BUTTONS = (CheckinButton,)


class Checkin(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*BUTTONS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*BUTTONS)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[PodiumBot]) -> None:
        """The code window's submissions (see code_modal)."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: Mapping[str, Any] = interaction.data or {}
        match = _CODE_MODAL.match(str(data.get("custom_id", "")))
        if match is None:
            return
        try:
            code = modal_value(list(data.get("components") or []), CODE_FIELD)
            await checkin_member(interaction, int(match["talk_id"]), code or "", ask_for_code=False)
        except Exception as error:
            await report_error(interaction, error)

    @app_commands.command(name="checkin", description="Check in to a talk (from 15 minutes before it starts)")
    @app_commands.describe(talk="The talk you are at", code="The code shown in the room, if the talk has one")
    @app_commands.autocomplete(talk=public_talk_autocomplete)
    @app_commands.guild_only()
    async def checkin(
        self,
        interaction: discord.Interaction[PodiumBot],
        talk: int,
        code: app_commands.Range[str, 1, CODE_TYPED_MAX] | None = None,
    ) -> None:
        await checkin_member(interaction, talk, code, ask_for_code=False)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Checkin(bot))
