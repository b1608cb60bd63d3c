"""Questions for the speaker: /ask, /questions and their vote buttons, and for organizers /talk questions and
/talk hide_question (added to the /talk group of cogs/organizers.py when this cog loads)."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import store
from bot.command_names import command
from bot.i18n import Text, _, render
from bot.models import DeliveryKind, DeliveryStatus
from bot.question_messages import (
    PAGE_ID,
    SPEAKER_ID,
    VOTE_ID,
    board_page,
    organizer_reply,
    page_of,
    questions_csv,
    shown,
    speaker_list,
)
from bot.questions import QUESTION_MAX, QuestionBoard
from bot.replies import (
    guild_id,
    organizer_guild,
    organizer_talk_autocomplete,
    public_talk_autocomplete,
    reader_language,
    report_error,
    respond,
)
from cogs.organizers import add_to_talk_group, remove_from_talk_group

if TYPE_CHECKING:
    from bot.client import PodiumBot

_ID = "[0-9]{1,19}"
ECHO_MAX = 1200  # characters of the question echoed in /ask's reply
_MARKER = r"(?::m[0-9]{1,19})?"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _board(bot: PodiumBot) -> QuestionBoard:
    return QuestionBoard(bot.service)


async def _reply(
    interaction: discord.Interaction[PodiumBot],
    content: Text | str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    file: discord.File | None = None,
    edit: bool = False,
) -> None:
    """Answer ephemerally (or, for a click on the board, replace the board in place); never pings anyone."""
    text = render(content, reader_language(interaction)) if content is not None else None
    kwargs: dict[str, Any] = {"content": text, "allowed_mentions": discord.AllowedMentions.none()}
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if edit:
        # A board without buttons (no questions) must lose the old ones too.
        kwargs["view"] = view
        await interaction.response.edit_message(**kwargs)
        return
    if file is not None:
        kwargs["file"] = file
    if interaction.response.is_done():
        await interaction.followup.send(ephemeral=True, **kwargs)
    else:
        await interaction.response.send_message(ephemeral=True, **kwargs)


async def show_board(
    interaction: discord.Interaction[PodiumBot],
    talk_id: int,
    *,
    page: int = 0,
    question_id: int | None = None,
    note: Text | None = None,
    edit: bool = False,
) -> None:
    """A page of the talk's questions; with ``question_id``, the page that question is on now."""
    bot = interaction.client
    board = await _board(bot).board(guild_id(interaction), talk_id, interaction.user.id)
    if question_id is not None:
        page = page_of(board.questions, question_id)
    shown_page = board_page(
        board.talk, board.questions, page, voting_open=board.voting_open, language=reader_language(interaction)
    )
    await _reply(interaction, note, embed=shown_page.embed, view=shown_page.view, edit=edit)


async def vote(interaction: discord.Interaction[PodiumBot], question_id: int) -> None:
    bot = interaction.client
    outcome = await _board(bot).vote(guild_id(interaction), question_id, interaction.user.id)
    note = _("Your vote is counted. Press ▲ again to take it back.") if outcome.voted else _("Your vote is taken back.")
    # Clicked on the board itself: the board is redrawn with the new counts and order.
    await show_board(interaction, outcome.talk.id, question_id=question_id, note=note, edit=True)


async def send_speaker_list(interaction: discord.Interaction[PodiumBot], talk_id: int) -> None:
    """The button under the speaker's DM: the list as it is now, for the talk's speaker account only."""
    bot = interaction.client
    board = _board(bot)
    talk = await board.speaker_talk(talk_id, interaction.user.id)
    listed = speaker_list(talk, await board.speaker_list(talk.id), reader_language(interaction))
    await _reply(interaction, listed.content, file=listed.file)


class _IdButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"^podium:unused:(?P<id>[0-9]+)$"):
    """A button that still works after a restart: what it acts on is in its custom id."""

    def __init__(self, item_id: int, extra: int = 0, button: discord.ui.Button[Any] | None = None) -> None:
        super().__init__(button or discord.ui.Button(custom_id=f"podium:unused:{item_id}"))
        self.item_id = item_id
        self.extra = extra

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> _IdButton:
        extra = int(match["extra"]) if "extra" in match.groupdict() and match["extra"] is not None else 0
        return cls(int(match["id"]), extra, item if isinstance(item, discord.ui.Button) else None)

    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.act(interaction)
        except Exception as error:
            await report_error(interaction, error)


def _pattern(template: str, **groups: str) -> str:
    pattern = re.escape(template)
    for name, group in groups.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), group)
    return pattern


class VoteButton(_IdButton, template="^" + _pattern(VOTE_ID, question_id=f"(?P<id>{_ID})") + "$"):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        await vote(interaction, self.item_id)


class PageButton(
    _IdButton, template="^" + _pattern(PAGE_ID, talk_id=f"(?P<id>{_ID})", page="(?P<extra>[0-9]{1,6})") + "$"
):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        await show_board(interaction, self.item_id, page=self.extra, edit=True)


class SpeakerButton(_IdButton, template="^" + _pattern(SPEAKER_ID, talk_id=f"(?P<id>{_ID})") + _MARKER + "$"):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        await send_speaker_list(interaction, self.item_id)


BUTTONS = (VoteButton, PageButton, SpeakerButton)


# --- organizers: subcommands of /talk --------------------------------------------------------------------


@app_commands.command(name="questions", description="Every question asked for a talk, with authors and votes (CSV)")
@app_commands.describe(talk="The talk")
@app_commands.autocomplete(talk=organizer_talk_autocomplete)
async def talk_questions(interaction: discord.Interaction[PodiumBot], talk: int) -> None:
    guild = await organizer_guild(interaction)
    bot = interaction.client
    language = reader_language(interaction)
    record, questions = await _board(bot).all_questions(guild, talk)
    async with bot.db.reading() as conn:
        rows = await store.deliveries_for(conn, record.id, DeliveryKind.QUESTIONS)
    unreachable = any(
        row.status is DeliveryStatus.FAILED and row.recipient_id == record.speaker_user_id for row in rows
    )
    reply = organizer_reply(record, questions, language, speaker_unreachable=unreachable)
    file = discord.File(io.BytesIO(questions_csv(questions, language)), filename=f"talk-{record.id}-questions.csv")
    await _reply(interaction, reply, file=file)


@app_commands.command(name="hide_question", description="Hide a question from members and the speaker, or show it")
@app_commands.describe(
    question="The question's number (#…), as /talk questions lists it",
    hide="True to hide it (the default), False to show it again",
)
async def hide_question(interaction: discord.Interaction[PodiumBot], question: int, hide: bool = True) -> None:
    guild = await organizer_guild(interaction)
    record, changed = await _board(interaction.client).set_hidden(guild, question, hide)
    text = shown(record.text if len(record.text) <= 100 else record.text[:99] + "…")
    if not changed:
        reply = (
            _("Question #{question_id} was already hidden; nothing changed.", question_id=record.id)
            if hide
            else _("Question #{question_id} was not hidden; nothing changed.", question_id=record.id)
        )
    elif hide:
        reply = _(
            "Question #{question_id} is hidden: members and the speaker no longer see it (“{text}”). Show it again "
            "with {show}.",
            question_id=record.id,
            text=text,
            show=command("talk hide_question", question=record.id, hide=False),
        )
    else:
        reply = _(
            "Question #{question_id} is shown again, with its {votes} votes (“{text}”).",
            question_id=record.id,
            votes=record.votes,
            text=text,
        )
    await _reply(interaction, reply)


ORGANIZER_COMMANDS: tuple[app_commands.Command[Any, Any, None], ...] = (talk_questions, hide_question)


class Questions(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*BUTTONS)
        add_to_talk_group(self.bot, ORGANIZER_COMMANDS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*BUTTONS)
        remove_from_talk_group(self.bot, ORGANIZER_COMMANDS)

    @app_commands.command(name="ask", description="Ask the speaker of a talk a question (others can upvote it)")
    @app_commands.describe(
        talk="The talk",
        question=f"Your question (up to {QUESTION_MAX} characters)",
        anonymous="True to hide your name from everyone, organizers included",
    )
    @app_commands.autocomplete(talk=public_talk_autocomplete)
    @app_commands.guild_only()
    async def ask(
        self, interaction: discord.Interaction[PodiumBot], talk: int, question: str, anonymous: bool = False
    ) -> None:
        bot = interaction.client
        user = interaction.user
        record, asked = await _board(bot).ask(
            guild_id(interaction), talk, user.id, user.display_name, question, anonymous=anonymous
        )
        title = discord.utils.escape_markdown(record.title)
        who = _("anonymously") if asked.anonymous else _("under your name")
        await respond(
            interaction,
            _(
                "Your question #{question_id} for **{title}** is recorded ({who}). Members can upvote it with "
                "{questions}; the most upvoted reach the speaker first.\n> {text}",
                question_id=asked.id,
                title=title,
                who=who,
                questions=command("questions", talk=record.id),
                # Escaping and quoting can lengthen the echo; the reply stays under Discord's 2,000 characters.
                text=_cut(shown(asked.text).replace("\n", "\n> "), ECHO_MAX),
            ),
        )

    @app_commands.command(name="questions", description="The questions asked for a talk, best first; upvote them")
    @app_commands.describe(talk="The talk")
    @app_commands.autocomplete(talk=public_talk_autocomplete)
    @app_commands.guild_only()
    async def questions(self, interaction: discord.Interaction[PodiumBot], talk: int) -> None:
        await show_board(interaction, talk)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Questions(bot))
