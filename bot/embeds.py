"""How talks look in Discord: the announcement embed, its buttons and one-line summaries.

The announcement is read by the whole server, so it is rendered in the server's language (``/setup
language:``); lists and autocomplete choices that reuse these pieces are rendered in their reader's.
Times stay Discord timestamps, which every member's client shows in their own zone and language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import discord

from bot.eligibility import mentions
from bot.i18n import Text, _, _n, _p, duration, number, render, short_datetime
from bot.models import Registration, Seats, Talk
from bot.timeparse import discord_timestamp

REGISTER_ID = "podium:register:{talk_id}"
UNREGISTER_ID = "podium:unregister:{talk_id}"
ICS_ID = "podium:ics:{talk_id}"
JOIN_ID = "podium:join:{talk_id}"  # answers with the private join link (cogs/joinlink.py); never the link itself
CHECKIN_ID = "podium:checkin:{talk_id}"  # answered by cogs/checkin.py; also on the join-link DM
CHOICE_MAX = 100  # Discord's limit on an autocomplete choice's name

_COLOUR_OPEN = discord.Colour.blurple()
_COLOUR_CLOSED = discord.Colour.dark_grey()
_COLOUR_CANCELLED = discord.Colour.red()
_COLOUR_LIVE = discord.Colour.green()


@dataclass(frozen=True)
class Number(Text):
    """A count that is not the one a text's plural follows, grouped the language's way (« 1 200 »)."""

    value: int = 0

    def render(self, language: str) -> str:
        return number(self.value, language)


def _count(value: int) -> Number:
    return Number(msgid=str(value), value=value)


def when(talk: Talk) -> str:
    return f"{discord_timestamp(talk.start_at, 'F')} ({discord_timestamp(talk.start_at, 'R')})"


def _waitlist(waitlisted: int) -> Text:
    return _n("{count} on the waitlist", "{count} on the waitlist", waitlisted)


def seats_text(seats: Seats) -> Text:
    """Seats left, or full and how long the waitlist is; a lazy text, rendered in its reader's language."""
    if seats.capacity is None:
        return _n("Open seating — {count} registered", "Open seating — {count} registered", seats.confirmed)
    capacity = _count(seats.capacity)
    if seats.left and seats.waitlisted:
        return _n(
            "{count} of {capacity} seats left — {waitlist}",
            "{count} of {capacity} seats left — {waitlist}",
            seats.left,
            capacity=capacity,
            waitlist=_waitlist(seats.waitlisted),
        )
    if seats.left:
        return _n("{count} of {capacity} seats left", "{count} of {capacity} seats left", seats.left, capacity=capacity)
    if seats.waitlisted:
        return _n(
            "Full ({count} seat) — {waitlist}",
            "Full ({count} seats) — {waitlist}",
            seats.capacity,
            waitlist=_waitlist(seats.waitlisted),
        )
    return _n(
        "Full ({count} seat) — register to join the waitlist",
        "Full ({count} seats) — register to join the waitlist",
        seats.capacity,
    )


def registration_text(registration: Registration) -> Text:
    if registration.confirmed:
        return _p("a registration", "confirmed")
    return _("waitlist #{position}", position=registration.position)


def _title(talk: Talk, now: datetime) -> tuple[Text | str, discord.Colour]:
    if talk.cancelled:
        # limit: 256
        return _("Cancelled: {title}", title=talk.title), _COLOUR_CANCELLED
    if talk.is_over(now):
        # limit: 256
        return _("Over: {title}", title=talk.title), _COLOUR_CLOSED
    if talk.has_started(now):
        # limit: 256
        return _("Happening now: {title}", title=talk.title), _COLOUR_LIVE
    return talk.title, _COLOUR_OPEN


def talk_embed(talk: Talk, seats: Seats, now: datetime, language: str) -> discord.Embed:
    """The announcement: everything a student needs to decide, with times in their own zone."""
    title, colour = _title(talk, now)
    embed = discord.Embed(title=render(title, language), description=talk.description or None, colour=colour)

    def field(name: Text, value: Text | str, *, inline: bool) -> None:
        embed.add_field(name=render(name, language), value=render(value, language), inline=inline)

    # limit: 256
    field(_("Speaker"), talk.speaker, inline=False)
    if talk.speaker_bio:
        # limit: 256
        field(_("About the speaker"), talk.speaker_bio, inline=False)
    # limit: 256
    field(_("When"), when(talk), inline=False)
    # limit: 256
    field(_("Duration"), duration(talk.duration_min, language), inline=True)
    if talk.location:
        # limit: 256
        field(_("Where"), talk.location, inline=True)
    if talk.cancelled:
        # limit: 256
        field(_p("a talk", "Cancelled"), talk.cancel_reason or _("No reason given."), inline=False)
    elif talk.is_over(now):
        closed = _n("Closed — {count} attended", "Closed — {count} attended", seats.confirmed)
        # limit: 256
        field(_("Registration"), closed, inline=False)
    else:
        # limit: 256
        field(_("Seats"), seats_text(seats), inline=False)
        for name, value in registration_rules(talk):
            field(name, value, inline=False)
    embed.set_footer(text=render(_("Talk #{id}", id=talk.id), language))
    return embed


def registration_rules(talk: Talk) -> list[tuple[Text, Text]]:
    """The announcement's fields on who may register and from when (bot/eligibility.py). Worded so that they
    stay true once the window has opened: the announcement is redrawn when its talk changes, not at
    priority_until."""
    rules: list[tuple[Text, Text]] = []
    if talk.eligible_roles:
        rules.append(
            (
                # limit: 256
                _("Reserved for"),
                _n(
                    "Members with the role {roles}",
                    "Members with one of these roles: {roles}",
                    len(talk.eligible_roles),
                    roles=mentions(talk.eligible_roles),
                ),
            )
        )
    if talk.priority_until is not None and talk.priority_roles:
        rules.append(
            (
                # limit: 256
                _("Registration opens"),
                _n(
                    "For members with {roles}: at once. For everyone: {when} ({relative}).",
                    "For members with one of {roles}: at once. For everyone: {when} ({relative}).",
                    len(talk.priority_roles),
                    roles=mentions(talk.priority_roles),
                    when=discord_timestamp(talk.priority_until, "F"),
                    relative=discord_timestamp(talk.priority_until, "R"),
                ),
            )
        )
    return rules


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


def register_label(language: str) -> str:
    # limit: 80
    return render(_("Register"), language)


def unregister_label(language: str) -> str:
    # limit: 80
    return render(_("Unregister"), language)


def checkin_label(language: str) -> str:
    # limit: 80
    return render(_("Check in"), language)


def checkin_button(talk: Talk, language: str, *, disabled: bool = False) -> discord.ui.Button[discord.ui.View]:
    """Check in (from 15 minutes before the start until the end; outside that the click says when)."""
    return discord.ui.Button(
        label=checkin_label(language),
        style=discord.ButtonStyle.secondary,
        custom_id=CHECKIN_ID.format(talk_id=talk.id),
        disabled=disabled,
    )


def talk_view(talk: Talk, now: datetime, language: str) -> discord.ui.View:
    """Register, Unregister, Add to calendar and Check in, with persistent ids; Join link when the talk has one."""
    closed = talk.cancelled or talk.is_over(now)
    extra: list[discord.ui.Item[discord.ui.View]] = []
    if talk.join_url:
        extra.append(
            discord.ui.Button(
                # limit: 80
                label=render(_("Join link"), language),
                style=discord.ButtonStyle.secondary,
                custom_id=JOIN_ID.format(talk_id=talk.id),
                disabled=closed,
            )
        )
    return static_view(
        discord.ui.Button(
            label=register_label(language),
            style=discord.ButtonStyle.success,
            custom_id=REGISTER_ID.format(talk_id=talk.id),
            disabled=closed,
        ),
        discord.ui.Button(
            label=unregister_label(language),
            style=discord.ButtonStyle.secondary,
            custom_id=UNREGISTER_ID.format(talk_id=talk.id),
            disabled=closed,
        ),
        discord.ui.Button(
            # limit: 80
            label=render(_("Add to calendar (.ics)"), language),
            style=discord.ButtonStyle.primary,
            custom_id=ICS_ID.format(talk_id=talk.id),
        ),
        checkin_button(talk, language, disabled=closed),
        *extra,
    )


def talk_line(talk: Talk, seats: Seats | None = None, *, language: str) -> str:
    """One line for lists such as /talks and /mytalks."""
    line = f"**#{talk.id} {discord.utils.escape_markdown(talk.title)}** — {talk.speaker}\n{when(talk)}"
    if talk.location:
        line += f" · {talk.location}"
    if seats is not None:
        line += f" · {render(seats_text(seats), language)}"
    return line


def choice_label(talk: Talk, tz: ZoneInfo, language: str) -> str:
    """Autocomplete label "title — date"; plain text because timestamps do not render there."""
    moment = f"{short_datetime(talk.start_at, tz, language)} {talk.start_at.astimezone(tz):%Z}"
    # limit: 100
    suffix = " — " + (render(_("{when} (cancelled)", when=moment), language) if talk.cancelled else moment)
    room = CHOICE_MAX - len(suffix)
    title = talk.title if len(talk.title) <= room else talk.title[: room - 1] + "…"
    return title + suffix
