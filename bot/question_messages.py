"""How questions look in Discord: the members' board (a page of questions with vote buttons), the organizers'
list and CSV, and the speaker's DM.

Question texts and names are what members typed: always shown escaped (markdown and mentions), and every
message Podium sends allows no mention at all (the bot's default), so a question never pings anyone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import discord

from bot.command_names import command
from bot.embeds import static_view, when
from bot.i18n import Text, _, _n, _p, render
from bot.models import Talk
from bot.question_rows import Question

VOTE_ID = "podium:vote:{question_id}"
PAGE_ID = "podium:questions:{talk_id}:{page}"
SPEAKER_ID = "podium:speakerq:{talk_id}"
PAGE_SIZE = 5  # questions per page of the board: five full questions (500 characters each) fit one embed
BOARD_ENTRY_MAX = 750  # characters of one escaped question on the board: five always fit the embed's 4,096
MESSAGE_MAX = 2000  # Discord's limit for a message
EMBED_TITLE_MAX = 256
ORGANIZER_PREVIEW = 120  # characters of each question in the organizers' reply; the CSV has them whole
# Spreadsheet programs run cells that start with these as formulas.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def shown(text: str) -> str:
    """User text as Discord should show it: no markdown, no working mention (« @everyone » stays words)."""
    return discord.utils.escape_markdown(discord.utils.escape_mentions(text))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def author(question: Question, language: str) -> str:
    if question.anonymous:
        return render(_("anonymous"), language)
    return shown(question.display_name)


def _entry(rank: int, question: Question, language: str, limit: int | None = None) -> str:
    """One question of a list: rank, votes, the text and who asked. Escaping can double a text's length (a
    question of 500 asterisks), so a list with a hard limit cuts the shown text at ``limit``."""
    votes = render(_n("{count} vote", "{count} votes", question.votes), language)
    text = shown(question.text)
    if limit is not None:
        text = _cut(text, limit)
    return f"**{rank}.** {text}\n— {author(question, language)} · ▲ {votes}"


# --- the members' board -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardPage:
    embed: discord.Embed
    view: discord.ui.View | None
    page: int


def page_of(questions: list[Question], question_id: int) -> int:
    for index, question in enumerate(questions):
        if question.id == question_id:
            return index // PAGE_SIZE
    return 0


def board_page(talk: Talk, questions: list[Question], page: int, *, voting_open: bool, language: str) -> BoardPage:
    """One page of the board: PAGE_SIZE questions, a vote button under each, and Previous / Next."""
    pages = max((len(questions) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(max(page, 0), pages - 1)
    first = page * PAGE_SIZE
    chunk = questions[first : first + PAGE_SIZE]
    title = render(_("Questions for {title}", title=talk.title), language)
    if questions:
        description = "\n\n".join(_entry(first + i + 1, q, language, BOARD_ENTRY_MAX) for i, q in enumerate(chunk))
    else:
        description = render(_("No questions yet. Ask the first with {ask}.", ask=command("ask")), language)
    embed = discord.Embed(title=_cut(title, EMBED_TITLE_MAX), description=description, colour=discord.Colour.blurple())
    footer: Text = (
        _("Press ▲ under a question to upvote it; press again to take your vote back.")
        if voting_open
        else _("The talk is over: voting is closed.")
    )
    if pages > 1:
        footer = _(
            "Page {page} of {pages} · {count} questions, best first. {hint}",
            page=page + 1,
            pages=pages,
            count=len(questions),
            hint=footer,
        )
    embed.set_footer(text=render(footer, language))
    items: list[discord.ui.Item[discord.ui.View]] = []
    for index, question in enumerate(chunk):
        # limit: 80
        label = render(_("▲ {rank} ({votes})", rank=first + index + 1, votes=question.votes), language)
        items.append(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.success if question.voted else discord.ButtonStyle.secondary,
                custom_id=VOTE_ID.format(question_id=question.id),
                disabled=not voting_open,
                row=0,
            )
        )
    if pages > 1:
        items.append(
            discord.ui.Button(
                # limit: 80
                label=render(_("Previous"), language),
                custom_id=PAGE_ID.format(talk_id=talk.id, page=max(page - 1, 0)),
                disabled=page == 0,
                row=1,
            )
        )
        items.append(
            discord.ui.Button(
                # limit: 80
                label=render(_("Next"), language),
                custom_id=PAGE_ID.format(talk_id=talk.id, page=min(page + 1, pages - 1)),
                disabled=page == pages - 1,
                row=1,
            )
        )
    return BoardPage(embed, static_view(*items) if items else None, page)


# --- the organizers' list -----------------------------------------------------------------------------

_CSV_HEADERS = (
    _p("csv header", "question_id"),
    _p("csv header", "rank"),
    _p("csv header", "votes"),
    _p("csv header", "hidden"),
    _p("csv header", "anonymous"),
    _p("csv header", "display_name"),
    _p("csv header", "user_id"),
    _p("csv header", "asked_at"),
    _p("csv header", "question"),
)
_CSV_YES = _p("csv value", "yes")
_CSV_NO = _p("csv value", "no")


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def questions_csv(questions: list[Question], language: str) -> bytes:
    """Every question, ranked as members see them (hidden ones have no rank); an anonymous question's author is
    left out, for organizers too."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([render(header, language) for header in _CSV_HEADERS])
    rank = 0
    for question in questions:
        if not question.hidden:
            rank += 1
        writer.writerow(
            [
                question.id,
                "" if question.hidden else rank,
                question.votes,
                render(_CSV_YES if question.hidden else _CSV_NO, language),
                render(_CSV_YES if question.anonymous else _CSV_NO, language),
                "" if question.anonymous else _csv_cell(question.display_name),
                "" if question.anonymous else str(question.user_id),
                question.asked_at.isoformat().replace("+00:00", "Z"),
                _csv_cell(question.text),
            ]
        )
    # A byte-order mark lets Excel open the names (accents, non-Latin scripts) correctly.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def organizer_reply(talk: Talk, questions: list[Question], language: str, *, speaker_unreachable: bool) -> str:
    """The summary of /talk questions, under Discord's 2,000 characters: as many questions as fit."""
    hidden = sum(1 for q in questions if q.hidden)
    heading = render(
        _n(
            "**#{talk_id} {title}**: {count} question, {hidden} hidden.",
            "**#{talk_id} {title}**: {count} questions, {hidden} hidden.",
            len(questions),
            talk_id=talk.id,
            title=discord.utils.escape_markdown(talk.title),
            hidden=hidden,
        ),
        language,
    )
    tail: list[str] = []
    if questions:
        tail.append(
            render(
                _(
                    "Hide one with {hide} (members and the speaker then no longer see it); the full list is in the "
                    "attached CSV.",
                    hide=command("talk hide_question", question="…"),
                ),
                language,
            )
        )
    else:
        tail.append(render(_("No questions yet. Members ask with {ask}.", ask=command("ask")), language))
    if talk.speaker_user_id is None:
        tail.append(
            render(
                _(
                    "No speaker account is set, so nobody gets the list by DM: set one with {edit}.",
                    edit=command("talk edit", speaker_user="@…"),
                ),
                language,
            )
        )
    elif speaker_unreachable:
        tail.append(
            render(
                _(
                    "The list could not be DMed to <@{user_id}> (their direct messages are closed): send them the "
                    "CSV yourself.",
                    user_id=talk.speaker_user_id,
                ),
                language,
            )
        )
    budget = MESSAGE_MAX - len(heading) - sum(len(line) + 1 for line in tail) - 40
    lines: list[str] = []
    for question in questions:
        state = render(_("hidden"), language) + " · " if question.hidden else ""
        votes = render(_n("{count} vote", "{count} votes", question.votes), language)
        line = (
            f"`#{question.id}` {state}▲ {votes} · {author(question, language)}: "
            f"{shown(_cut(question.text, ORGANIZER_PREVIEW))}"
        )
        if len(line) + 1 > budget:
            lines.append("…")
            break
        lines.append(line)
        budget -= len(line) + 1
    return "\n".join([heading, *lines, *tail])


# --- the speaker's DM ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeakerList:
    content: str
    file: discord.File | None


def speaker_list(talk: Talk, questions: list[Question], language: str, *, marker: str | None = None) -> SpeakerList:
    """The ranked questions for the speaker: as many as fit in one message; when they do not all fit, the whole
    list is attached as a text file too."""
    title = discord.utils.escape_markdown(talk.title)
    if not questions:
        content = render(
            _(
                "No questions yet for your talk **{title}** ({when}). Members can ask with {ask} until it ends; "
                "press the button below for the latest list.",
                title=title,
                when=when(talk),
                ask=command("ask"),
            ),
            language,
        )
        return SpeakerList(content, None)
    heading = render(
        _n(
            "The question members asked for your talk **{title}** ({when}), best first:",
            "The {count} questions members asked for your talk **{title}** ({when}), best first:",
            len(questions),
            title=title,
            when=when(talk),
        ),
        language,
    )
    entries = [_entry(rank, question, language) for rank, question in enumerate(questions, start=1)]
    more_note = render(_("…the whole list is in the attached file."), language)
    budget = MESSAGE_MAX - len(heading) - len(more_note) - 4
    kept: list[str] = []
    for entry in entries:
        if len(entry) + 2 > budget:
            break
        kept.append(entry)
        budget -= len(entry) + 2
    if len(kept) == len(entries):
        return SpeakerList("\n\n".join([heading, *kept]), None)
    plain = [
        f"{rank}. [{question.votes}] {question.text}\n   — "
        + (render(_("anonymous"), language) if question.anonymous else question.display_name)
        for rank, question in enumerate(questions, start=1)
    ]
    name = f"talk-{talk.id}-questions" + (f"-{marker}" if marker else "") + ".txt"
    data = (talk.title + "\n\n" + "\n\n".join(plain) + "\n").encode("utf-8")
    return SpeakerList("\n\n".join([heading, *kept, more_note]), discord.File(io.BytesIO(data), filename=name))


def speaker_view(talk: Talk, marker: str | None, language: str) -> discord.ui.View:
    """The button under the speaker's DM: the latest list at any time. It also ends with the delivery's marker,
    by which the courier recognises the message in the DM's history."""
    custom_id = SPEAKER_ID.format(talk_id=talk.id) + (f":{marker}" if marker else "")
    # limit: 80
    label = render(_("Latest questions"), language)
    return static_view(discord.ui.Button(label=label, style=discord.ButtonStyle.primary, custom_id=custom_id))
