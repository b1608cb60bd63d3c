"""Feedback: the rating and comment buttons of the request DM, the feedback window, and for organizers
/talk feedback (added to the /talk group of cogs/organizers.py when this cog loads)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.feedback import FeedbackBox, Saved
from bot.feedback_messages import (
    COMMENT_FIELD,
    COMMENT_ID,
    FORM_ID,
    RATE_ID,
    RATING_FIELD,
    comments_csv,
    csv_name,
    feedback_modal,
    request_message,
    request_view,
    status_text,
    summary_text,
)
from bot.replies import (
    answer_soon,
    modal_value,
    organizer_guild,
    organizer_talk_autocomplete,
    reader_language,
    report_error,
    respond,
)
from cogs.organizers import add_to_talk_group, remove_from_talk_group

if TYPE_CHECKING:
    from bot.client import PodiumBot

_ID = "(?P<talk_id>[0-9]{1,19})"
_MARKER = r"(?::(?P<marker>m[0-9]{1,19}))?"  # the delivery's marker, which the courier put on the DM's buttons


def _pattern(template: str, **groups: str) -> str:
    pattern = re.escape(template)
    for name, group in {"talk_id": _ID, **groups}.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), group)
    return "^" + pattern + _MARKER + "$"


_FORM = re.compile(_pattern(FORM_ID))


def _box(interaction: discord.Interaction[PodiumBot]) -> FeedbackBox:
    return FeedbackBox(interaction.client.service)


async def show_answer(interaction: discord.Interaction[PodiumBot], saved: Saved, marker: str | None) -> None:
    """Redraw the request DM with the member's answer, so it always shows what they answered."""
    language = reader_language(interaction)
    content = request_message(saved.talk, language, saved.answer, status_text(saved))
    view = request_view(saved.talk, marker, language, saved.answer)
    none = discord.AllowedMentions.none()
    if interaction.message is not None and not interaction.response.is_done():
        await interaction.response.edit_message(content=content, view=view, allowed_mentions=none)
        return
    # The answer took long and was deferred (or there is no message to redraw): say it in a reply.
    if interaction.message is not None:
        await interaction.message.edit(content=content, view=view, allowed_mentions=none)
    await respond(interaction, status_text(saved))


async def open_form(interaction: discord.Interaction[PodiumBot], talk_id: int, marker: str | None) -> None:
    talk, answer = await _box(interaction).current(talk_id, interaction.user.id)
    await interaction.response.send_modal(feedback_modal(talk, answer, marker, reader_language(interaction)))


class _FeedbackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"^podium:unused:(?P<talk_id>[0-9]+)$"):
    """A button of the request DM that still works after a restart: the talk (and rating) are in its id."""

    def __init__(
        self, talk_id: int, rating: int = 0, marker: str | None = None, button: discord.ui.Button[Any] | None = None
    ) -> None:
        super().__init__(button or discord.ui.Button(custom_id=f"podium:unused:{talk_id}"))
        self.talk_id = talk_id
        self.rating = rating
        self.marker = marker

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> _FeedbackButton:
        groups = match.groupdict()
        rating = int(groups["rating"]) if groups.get("rating") else 0
        button = item if isinstance(item, discord.ui.Button) else None
        return cls(int(match["talk_id"]), rating, groups.get("marker"), button)

    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.act(interaction)
        except Exception as error:
            await report_error(interaction, error)


class RateButton(_FeedbackButton, template=_pattern(RATE_ID, rating="(?P<rating>[1-5])")):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        saved = await answer_soon(interaction, _box(interaction).rate(self.talk_id, interaction.user.id, self.rating))
        await show_answer(interaction, saved, self.marker)


class CommentButton(_FeedbackButton, template=_pattern(COMMENT_ID)):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        await open_form(interaction, self.talk_id, self.marker)


BUTTONS = (RateButton, CommentButton)


@app_commands.command(name="feedback", description="Ratings given on a talk: count, average, distribution, comments")
@app_commands.describe(talk="The talk")
@app_commands.autocomplete(talk=organizer_talk_autocomplete)
async def talk_feedback(interaction: discord.Interaction[PodiumBot], talk: int) -> None:
    guild = await organizer_guild(interaction)
    bot = interaction.client
    summary = await _box(interaction).summary(guild, talk)
    language = reader_language(interaction)
    text = summary_text(summary, bot.service.clock() < summary.closes_at, language)
    kwargs: dict[str, Any] = {"content": text, "ephemeral": True, "allowed_mentions": discord.AllowedMentions.none()}
    if summary.comments:
        kwargs["file"] = discord.File(io.BytesIO(comments_csv(summary, language)), filename=csv_name(summary.talk))
    await interaction.response.send_message(**kwargs)


ORGANIZER_COMMANDS: tuple[app_commands.Command[Any, Any, None], ...] = (talk_feedback,)


class Feedback(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*BUTTONS)
        add_to_talk_group(self.bot, ORGANIZER_COMMANDS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*BUTTONS)
        remove_from_talk_group(self.bot, ORGANIZER_COMMANDS)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[PodiumBot]) -> None:
        """The feedback window's submissions (see feedback_modal)."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: Mapping[str, Any] = interaction.data or {}
        match = _FORM.match(str(data.get("custom_id", "")))
        if match is None:
            return
        try:
            components = list(data.get("components") or [])
            work = _box(interaction).answer(
                int(match["talk_id"]),
                interaction.user.id,
                modal_value(components, RATING_FIELD) or "",
                modal_value(components, COMMENT_FIELD),
            )
            await show_answer(interaction, await answer_soon(interaction, work), match["marker"])
        except Exception as error:
            await report_error(interaction, error)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Feedback(bot))
