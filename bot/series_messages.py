"""How a seminar series looks in Discord: its one announcement (the dates, a select menu to register for one
date or all of them, a Check in button) and the replies that go date by date.

The announcement is read by the whole server, so it speaks the server's language, like a talk's; the dates are
Discord timestamps, which every member's client shows in their own zone. Discord caps an embed at 6,000
characters, a field at 1,024 and a select menu at 25 options: a 52-date series fits because the lines of dates
that are over are folded into one line when room runs short, and the menu offers the next 24 dates (plus "All
dates", which covers every date still open).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import discord

from bot.embeds import CHOICE_MAX, checkin_label, seats_text, static_view
from bot.i18n import Text, _, _n, _p, duration, render, short_datetime
from bot.models import Seats, Talk
from bot.series import REPEAT_NAMES, SeriesDates
from bot.timeparse import discord_timestamp

SERIES_SELECT_ID = "podium:series:{series_id}"  # answered by cogs/series.py, also after a restart
SERIES_CHECKIN_ID = "podium:scheckin:{series_id}"
ALL_DATES = "all"  # the select option that registers for every date still open
SELECT_DATES = 24  # Discord's 25 options, less "All dates"
EMBED_MAX = 6000
FIELD_MAX = 1024
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
OPTION_MAX = 100  # a select option's label and description
EXTRA_MAX = 60  # what a date line quotes of a title, speaker or place that differs from the series'
ABSTRACT_KEPT = 300  # characters of the abstract kept before dates are left out of a too-long announcement

_COLOUR_OPEN = discord.Colour.blurple()
_COLOUR_CLOSED = discord.Colour.dark_grey()
_COLOUR_CANCELLED = discord.Colour.red()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _state(talk: Talk, seats: Seats | None, now: datetime) -> Text:
    if talk.cancelled:
        return _p("a talk", "Cancelled")
    if talk.is_over(now):
        return _p("a date of a series", "over")
    if talk.has_started(now):
        return _p("a date of a series", "happening now")
    return seats_text(seats or Seats(0, 0, talk.capacity))


def date_line(talk: Talk, reference: Talk, seats: Seats | None, now: datetime, language: str) -> str:
    """One date: its talk number (for /register talk:), its start, its seats or state, and what differs."""
    when = discord_timestamp(talk.start_at, "F")
    if talk.cancelled:
        when = f"~~{when}~~"
    extras = [
        discord.utils.escape_markdown(_cut(value, EXTRA_MAX))
        for value, usual in (
            (talk.title, reference.title),
            (talk.speaker, reference.speaker),
            (talk.location or "", reference.location or ""),
        )
        if value and value != usual
    ]
    line = f"**#{talk.id}** {when} — {render(_state(talk, seats, now), language)}"
    return " · ".join([line, *extras])


def _chunks(lines: Sequence[str]) -> list[str]:
    """The lines in field values of at most FIELD_MAX characters."""
    values: list[str] = []
    for line in lines:
        if values and len(values[-1]) + 1 + len(line) <= FIELD_MAX:
            values[-1] += "\n" + line
        else:
            values.append(line[:FIELD_MAX])
    return values


def series_embed(dates: SeriesDates, seats: Mapping[int, Seats], now: datetime, language: str) -> discord.Embed:
    """The series' announcement: what every date shares, then the dates."""
    reference = dates.reference(now)
    talks = dates.talks
    title: Text | str = reference.title
    colour = _COLOUR_OPEN
    if all(talk.cancelled for talk in talks):
        # limit: 256
        title, colour = _("Cancelled: {title}", title=reference.title), _COLOUR_CANCELLED
    elif not dates.open(now):
        # limit: 256
        title, colour = _("Over: {title}", title=reference.title), _COLOUR_CLOSED

    def named(name: Text) -> str:
        return render(name, language)

    # limit: 256
    repeat = _n(
        "{repeat}, {count} date", "{repeat}, {count} dates", len(talks), repeat=REPEAT_NAMES[dates.series.repeat]
    )
    fixed: list[tuple[str, str, bool]] = [(named(_("Speaker")), reference.speaker, False)]
    if reference.speaker_bio:
        # limit: 256
        fixed.append((named(_("About the speaker")), reference.speaker_bio, False))
    # limit: 256
    fixed.append((named(_("Repeats")), render(repeat, language), True))
    # limit: 256
    fixed.append((named(_("Duration")), duration(reference.duration_min, language), True))
    if reference.location:
        # limit: 256
        fixed.append((named(_("Where")), reference.location, True))
    # limit: 2048
    footer = render(_("Series #{id} · pick a date below, or all of them", id=dates.series.id), language)
    heading = render(title, language)
    lines = [date_line(talk, reference, seats.get(talk.id), now, language) for talk in talks]
    description = reference.description or ""

    def size(values: Sequence[str], text: str) -> int:
        fields = sum(len(name) + len(value) for name, value, _inline in fixed)
        return len(heading) + len(text) + len(footer) + fields + sum(len(v) + 20 for v in values)

    # Too long for Discord: fold the dates that are over into one line, then shorten the abstract (keeping
    # ABSTRACT_KEPT of it), and only then leave the last dates to the menu and /talks.
    values = _chunks(lines)
    if size(values, description) > EMBED_MAX:
        over = sum(talk.is_over(now) for talk in talks)
        folded = [render(_n("…and {count} earlier date, over", "…and {count} earlier dates, over", over), language)]
        lines = (folded if over else []) + [
            line for talk, line in zip(talks, lines, strict=True) if not talk.is_over(now)
        ]
        values = _chunks(lines)
        later = 0
        while size(values, "") > EMBED_MAX - ABSTRACT_KEPT and len(lines) > 1:
            lines.pop()
            later += 1
            more = _n("…and {count} later date", "…and {count} later dates", later)
            values = _chunks([*lines, render(more, language)])
        room = EMBED_MAX - size(values, "")
        if len(description) > room:
            description = _cut(description, room) if room > 1 else ""
    embed = discord.Embed(title=heading, description=description or None, colour=colour)
    for name, value, inline in fixed:
        embed.add_field(name=name, value=value, inline=inline)
    for index, value in enumerate(values):
        # limit: 256
        dates_name = _("Dates") if index == 0 else _("Dates (continued)")
        embed.add_field(name=named(dates_name), value=value, inline=False)
    embed.set_footer(text=footer)
    return embed


def option_label(talk: Talk, tz: ZoneInfo, language: str) -> str:
    """A date in the select menu: plain text, since timestamps do not render there."""
    return f"{short_datetime(talk.start_at, tz, language)} {talk.start_at.astimezone(tz):%Z}"[:OPTION_MAX]


def series_view(
    dates: SeriesDates, seats: Mapping[int, Seats], now: datetime, language: str, tz: ZoneInfo
) -> discord.ui.View:
    """The select menu (each upcoming date and "All dates") and Check in, with the series id in their custom ids
    so they work after a restart."""
    reference = dates.reference(now)
    open_dates = dates.open(now)
    every = render(
        _n("Every date not over ({count} date)", "Every date not over ({count} dates)", len(open_dates)), language
    )
    options = [
        discord.SelectOption(
            # limit: 100
            label=render(_("All dates"), language),
            value=ALL_DATES,
            description=every[:OPTION_MAX],
        )
    ]
    for talk in open_dates[:SELECT_DATES]:
        shown = render(seats_text(seats.get(talk.id) or Seats(0, 0, talk.capacity)), language)
        if talk.title != reference.title:
            shown = f"{_cut(talk.title, 40)} · {shown}"
        options.append(
            discord.SelectOption(
                label=option_label(talk, tz, language), value=str(talk.id), description=_cut(shown, OPTION_MAX)
            )
        )
    closed = not open_dates
    select: discord.ui.Select[discord.ui.View] = discord.ui.Select(
        custom_id=SERIES_SELECT_ID.format(series_id=dates.series.id),
        # limit: 150
        placeholder=render(
            _("Registration is closed") if closed else _("Register for one date, or all of them"), language
        ),
        options=options,
        min_values=1,
        max_values=1,
        disabled=closed,
    )
    checkin: discord.ui.Button[discord.ui.View] = discord.ui.Button(
        label=checkin_label(language),
        style=discord.ButtonStyle.secondary,
        custom_id=SERIES_CHECKIN_ID.format(series_id=dates.series.id),
        disabled=closed,
    )
    return static_view(select, checkin)


def series_choice_label(dates: SeriesDates, tz: ZoneInfo, language: str, now: datetime) -> str:
    """Autocomplete label: "title — weekly from Oct 6, 2026 18:00 (10 dates)"."""
    reference = dates.reference(now)
    first = dates.talks[0]
    # limit: 100
    suffix = " — " + render(
        _n(
            "{repeat} from {first} ({count} date)",
            "{repeat} from {first} ({count} dates)",
            len(dates.talks),
            repeat=REPEAT_NAMES[dates.series.repeat],
            first=short_datetime(first.start_at, tz, language),
        ),
        language,
    )
    room = CHOICE_MAX - len(suffix)
    return _cut(reference.title, max(room, 1)) + suffix


def registered_lines(results: Sequence[tuple[Talk, Text]], language: str) -> str:
    """The reply to registering for every date, date by date."""
    return "\n".join(
        f"**#{talk.id}** {discord_timestamp(talk.start_at, 'F')} — {render(state, language)}" for talk, state in results
    )
