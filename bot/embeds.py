"""How talks look in Discord: the announcement embed, its buttons and one-line summaries."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import discord

from bot.models import Registration, Seats, Talk
from bot.timeparse import discord_timestamp, format_local

REGISTER_ID = "podium:register:{talk_id}"
UNREGISTER_ID = "podium:unregister:{talk_id}"
ICS_ID = "podium:ics:{talk_id}"

_COLOUR_OPEN = discord.Colour.blurple()
_COLOUR_CLOSED = discord.Colour.dark_grey()
_COLOUR_CANCELLED = discord.Colour.red()
_COLOUR_LIVE = discord.Colour.green()


def when(talk: Talk) -> str:
    return f"{discord_timestamp(talk.start_at, 'F')} ({discord_timestamp(talk.start_at, 'R')})"


def seats_text(seats: Seats) -> str:
    if seats.capacity is None:
        return f"Open seating — {seats.confirmed} registered"
    text = f"{seats.left} of {seats.capacity} seats left" if seats.left else f"Full ({seats.capacity} seats)"
    if seats.waitlisted:
        text += f" — {seats.waitlisted} on the waitlist"
    elif not seats.left:
        text += " — register to join the waitlist"
    return text


def registration_text(registration: Registration) -> str:
    if registration.confirmed:
        return "confirmed"
    return f"waitlist #{registration.position}"


def talk_embed(talk: Talk, seats: Seats, now: datetime) -> discord.Embed:
    """The announcement: everything a student needs to decide, with times in their own zone."""
    if talk.cancelled:
        title, colour = f"Cancelled: {talk.title}", _COLOUR_CANCELLED
    elif talk.is_over(now):
        title, colour = f"Over: {talk.title}", _COLOUR_CLOSED
    elif talk.has_started(now):
        title, colour = f"Happening now: {talk.title}", _COLOUR_LIVE
    else:
        title, colour = talk.title, _COLOUR_OPEN
    embed = discord.Embed(title=title, description=talk.description or None, colour=colour)
    embed.add_field(name="Speaker", value=talk.speaker, inline=False)
    if talk.speaker_bio:
        embed.add_field(name="About the speaker", value=talk.speaker_bio, inline=False)
    embed.add_field(name="When", value=when(talk), inline=False)
    embed.add_field(name="Duration", value=f"{talk.duration_min} min", inline=True)
    if talk.location:
        embed.add_field(name="Where", value=talk.location, inline=True)
    if talk.cancelled:
        reason = talk.cancel_reason or "No reason given."
        embed.add_field(name="Cancelled", value=reason, inline=False)
    elif talk.is_over(now):
        embed.add_field(name="Registration", value=f"Closed — {seats.confirmed} attended", inline=False)
    else:
        embed.add_field(name="Seats", value=seats_text(seats), inline=False)
    embed.set_footer(text=f"Talk #{talk.id}")
    return embed


def static_view(*items: discord.ui.Item[discord.ui.View]) -> discord.ui.View:
    """Components to send, answered by the members cog's dynamic items (which match the custom ids).

    The view is stopped before sending so discord.py does not keep a copy of it per message in
    memory: the clicks are handled by the dynamic items, even after a restart.
    """
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    view.stop()
    return view


def talk_view(talk: Talk, now: datetime) -> discord.ui.View:
    """Register, Unregister and Add to calendar, with persistent ids."""
    closed = talk.cancelled or talk.is_over(now)
    return static_view(
        discord.ui.Button(
            label="Register",
            style=discord.ButtonStyle.success,
            custom_id=REGISTER_ID.format(talk_id=talk.id),
            disabled=closed,
        ),
        discord.ui.Button(
            label="Unregister",
            style=discord.ButtonStyle.secondary,
            custom_id=UNREGISTER_ID.format(talk_id=talk.id),
            disabled=closed,
        ),
        discord.ui.Button(
            label="Add to calendar (.ics)",
            style=discord.ButtonStyle.primary,
            custom_id=ICS_ID.format(talk_id=talk.id),
        ),
    )


def talk_line(talk: Talk, seats: Seats | None = None) -> str:
    """One line for lists such as /talks and /mytalks."""
    line = f"**#{talk.id} {discord.utils.escape_markdown(talk.title)}** — {talk.speaker}\n{when(talk)}"
    if talk.location:
        line += f" · {talk.location}"
    if seats is not None:
        line += f" · {seats_text(seats)}"
    return line


def choice_label(talk: Talk, tz: ZoneInfo) -> str:
    """Autocomplete label "title — date"; plain text because timestamps do not render there."""
    suffix = f" — {format_local(talk.start_at, tz)}"
    if talk.cancelled:
        suffix += " (cancelled)"
    room = 100 - len(suffix)
    title = talk.title if len(talk.title) <= room else talk.title[: room - 1] + "…"
    return title + suffix
