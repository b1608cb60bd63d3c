"""How feedback reads in Discord: the request DM and its buttons, the feedback window, and the organizers' summary.

The DM is redrawn in place after each answer (cogs/feedback.py), from the same functions the courier sent it
with, so what the member sees is always their current answer. Comments are never shown in Discord: organizers
get them in a CSV file, without names.
"""

from __future__ import annotations

import discord
from babel.numbers import format_decimal

from bot.embeds import static_view
from bot.feedback import COMMENT_MAX, RATINGS, Saved, Summary, closes_at
from bot.feedback_rows import Answer
from bot.i18n import Text, _, _n, render
from bot.models import Talk
from bot.spreadsheet import csv_bytes, csv_cell
from bot.timeparse import discord_timestamp

RATE_ID = "podium:rate:{talk_id}:{rating}"  # answered by cogs/feedback.py
COMMENT_ID = "podium:feedback:{talk_id}"
FORM_ID = "podium:feedback-form:{talk_id}"  # the feedback window; the DM's marker follows when it has one
RATING_FIELD = "rating"
COMMENT_FIELD = "comment"
_BAR = 10  # characters of a full bar in the distribution


def _marked(custom_id: str, marker: str | None) -> str:
    return custom_id if marker is None else f"{custom_id}:{marker}"


def _answer_line(answer: Answer) -> Text:
    if answer.comment:
        return _("**{rating}/5**, with a comment", rating=answer.rating)
    return _("**{rating}/5**, without a comment", rating=answer.rating)


def request_message(talk: Talk, language: str, answer: Answer | None = None, status: Text | None = None) -> str:
    """The DM asking for feedback; once the member answered, it shows their answer."""
    closes = discord_timestamp(closes_at(talk), "f")
    lines = [
        _(
            "Thank you for attending **{title}** with {speaker} ({date}). How was it? Rate it from 1 (poor) to 5 "
            "(excellent) with the buttons below; **{comment}** lets you say more. Organizers see the answers "
            "without names.",
            title=discord.utils.escape_markdown(talk.title),
            speaker=talk.speaker,
            date=discord_timestamp(talk.start_at, "D"),
            comment=comment_label(language, answer),
        )
    ]
    if status is not None:
        lines.append(status)
    elif answer is not None:
        lines.append(_("✅ Your answer: {answer}.", answer=_answer_line(answer)))
    lines.append(_("You can answer, and change your answer, until {closes}.", closes=closes))
    return "\n".join(render(line, language) for line in lines)


def status_text(saved: Saved) -> Text:
    """What the redrawn DM says about the answer just given."""
    answer = _answer_line(saved.answer)
    if not saved.changed:
        return _("Your answer was already {answer}; nothing changed.", answer=answer)
    if saved.replaced:
        return _("✅ Your answer is changed: {answer}. Thank you!", answer=answer)
    return _("✅ Thank you! Your answer is recorded: {answer}.", answer=answer)


def comment_label(language: str, answer: Answer | None) -> str:
    # limit: 80
    added = _("Edit your comment") if answer is not None and answer.comment else _("Add a comment")
    return render(added, language)


def request_view(talk: Talk, marker: str | None, language: str, answer: Answer | None = None) -> discord.ui.View:
    """Five rating buttons (the member's current rating highlighted) and the comment button, each ending with the
    delivery's marker so the courier can find the message again."""
    ratings: list[discord.ui.Item[discord.ui.View]] = [
        discord.ui.Button(
            label=f"{rating} ★",
            style=discord.ButtonStyle.primary
            if answer is not None and answer.rating == rating
            else discord.ButtonStyle.secondary,
            custom_id=_marked(RATE_ID.format(talk_id=talk.id, rating=rating), marker),
            row=0,
        )
        for rating in RATINGS
    ]
    comment: discord.ui.Button[discord.ui.View] = discord.ui.Button(
        label=comment_label(language, answer),
        style=discord.ButtonStyle.success,
        custom_id=_marked(COMMENT_ID.format(talk_id=talk.id), marker),
        row=1,
    )
    return static_view(*ratings, comment)


def feedback_modal(talk: Talk, answer: Answer | None, marker: str | None, language: str) -> discord.ui.Modal:
    """The rating and the comment together, filled in with the member's answer so far."""
    # limit: 45
    modal = discord.ui.Modal(
        title=render(_("Your feedback"), language), custom_id=_marked(FORM_ID.format(talk_id=talk.id), marker)
    )
    modal.add_item(
        discord.ui.TextInput(
            # limit: 45
            label=render(_("Your rating, from 1 (poor) to 5 (excellent)"), language),
            custom_id=RATING_FIELD,
            min_length=1,
            max_length=1,
            default=str(answer.rating) if answer is not None else None,
            placeholder="1-5",
        )
    )
    modal.add_item(
        discord.ui.TextInput(
            # limit: 45
            label=render(_("Your comment (optional)"), language),
            custom_id=COMMENT_FIELD,
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=COMMENT_MAX,
            default=answer.comment if answer is not None else None,
            # limit: 100
            placeholder=render(_("What you liked, what could be better"), language),
        )
    )
    # Not kept by discord.py: the cog's listener answers every submission, so one sent after a restart works.
    modal.stop()
    return modal


def _bar(count: int, total: int) -> str:
    filled = round(_BAR * count / total) if total else 0
    return "█" * filled + "░" * (_BAR - filled)


def summary_text(summary: Summary, open_now: bool, language: str) -> str:
    """/talk feedback: the count, the average and the distribution (under Discord's 2,000 characters)."""
    talk = summary.talk
    closes = discord_timestamp(summary.closes_at, "f")
    lines: list[Text | str] = [
        _(
            "**Feedback on {title}** ({date})",
            title=discord.utils.escape_markdown(talk.title),
            date=discord_timestamp(talk.start_at, "D"),
        )
    ]
    if not summary.asked and not summary.unreachable:
        lines.append(_("Nobody was asked for feedback: the talk had no attendees (no check-in and no confirmed seat)."))
        return "\n".join(render(line, language) for line in lines)
    count = summary.count
    if not count:
        lines.append(
            _n(
                "No answers yet from the {count} attendee asked.",
                "No answers yet from the {count} attendees asked.",
                summary.asked,
            )
        )
    else:
        average = format_decimal(summary.average or 0.0, format="0.0", locale=language)
        lines.append(
            _n(
                "{count} answer from {asked} attendees asked, average **{average}/5**:",
                "{count} answers from {asked} attendees asked, average **{average}/5**:",
                count,
                asked=format_decimal(summary.asked, locale=language),
                average=average,
            )
        )
        for rating in reversed(RATINGS):
            n = summary.distribution.get(rating, 0)
            lines.append(f"`{rating} ★ {_bar(n, count)}` {format_decimal(n, locale=language)}")
        written = len(summary.comments)
        lines.append(
            _n(
                "{count} comment is in the attached file (CSV, without names).",
                "{count} comments are in the attached file (CSV, without names).",
                written,
            )
            if written
            else _("No comments were written.")
        )
    if summary.unreachable:
        lines.append(
            _n(
                "{count} attendee could not be asked: their direct messages are closed.",
                "{count} attendees could not be asked: their direct messages are closed.",
                summary.unreachable,
            )
        )
    lines.append(
        _("Answers are accepted until {closes}.", closes=closes)
        if open_now
        else _("Answers closed on {closes}.", closes=closes)
    )
    return "\n".join(render(line, language) for line in lines)


def comments_csv(summary: Summary, language: str) -> bytes:
    """The comments with their ratings, best first; nothing that says who wrote them."""
    headers = [render(_("rating"), language), render(_("comment"), language)]
    return csv_bytes(headers, [(rating, csv_cell(comment)) for rating, comment in summary.comments])


def csv_name(talk: Talk) -> str:
    return f"talk-{talk.id}-feedback.csv"
