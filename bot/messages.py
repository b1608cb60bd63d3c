"""The texts and files of what Podium DMs or posts on its own: invites and reminders."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import discord

from bot.calendar import Method, build_invite, invite_filename
from bot.embeds import REGISTER_ID, UNREGISTER_ID, static_view, when
from bot.models import DeliveryKind, Talk
from bot.timeparse import format_offsets

WITHDRAWING = frozenset({DeliveryKind.INVITE_CANCELLED, DeliveryKind.INVITE_WITHDRAWN})


def invite_message(talk: Talk, kind: DeliveryKind) -> str:
    title = discord.utils.escape_markdown(talk.title)
    place = f" · {talk.location}" if talk.location else ""
    if kind is DeliveryKind.INVITE_CONFIRMED:
        return (
            f"You're registered for **{title}** with {talk.speaker}, {when(talk)}{place}.\n"
            "Open the attached invite to add it to your calendar. Can't make it any more? "
            "Use `/unregister` so someone on the waitlist gets your seat."
        )
    if kind is DeliveryKind.INVITE_PROMOTED:
        return (
            f"Good news: a seat opened up and you're now **confirmed** for **{title}** with {talk.speaker}, "
            f"{when(talk)}{place}.\nOpen the attached invite to add it to your calendar. Can't come? "
            "Use `/unregister` to pass the seat on."
        )
    if kind is DeliveryKind.INVITE_UPDATED:
        return (
            f"**{title}** has changed: it is now {when(talk)}{place}, {talk.duration_min} min.\n"
            "Open the attached invite to update the event in your calendar."
        )
    if kind is DeliveryKind.INVITE_CANCELLED:
        reason = f" Reason: {talk.cancel_reason}" if talk.cancel_reason else ""
        return (
            f"**{title}** with {talk.speaker} has been **cancelled**.{reason}\n"
            "Open the attached file to remove it from your calendar."
        )
    if kind is DeliveryKind.INVITE_WITHDRAWN:
        return f"You're no longer registered for **{title}**.\nOpen the attached file to remove it from your calendar."
    raise ValueError(f"not an invite: {kind}")


def invite_file(
    talk: Talk, kind: DeliveryKind, tz: ZoneInfo, now: datetime, *, marker: str | None = None
) -> discord.File:
    """The .ics of an invite; a DM's file name carries its delivery's marker, so the bot can recognise the
    message in the channel's history (``podium-talk-7-m42.ics``)."""
    method = Method.CANCEL if kind in WITHDRAWING or talk.cancelled else Method.PUBLISH
    data = build_invite(talk, tz=tz, now=now, method=method)
    name = invite_filename(talk)
    if marker is not None:
        name = name.removesuffix(".ics") + f"-{marker}.ics"
    return discord.File(io.BytesIO(data), filename=name)


def reminder_message(talk: Talk, offset_minutes: int) -> str:
    title = discord.utils.escape_markdown(talk.title)
    place = f"\nWhere: {talk.location}" if talk.location else ""
    link = f"\nAnnouncement: {talk.announcement_url()}" if talk.announcement_url() else ""
    return (
        f"⏰ Reminder ({format_offsets((offset_minutes,))} before): **{title}** with {talk.speaker} starts "
        f"{when(talk)}.{place}{link}\nCan't come after all? Press Unregister so your seat goes to the waitlist. "
        "Turn these reminders off with `/notifications enabled:False`."
    )


def reminder_view(talk: Talk, marker: str | None = None) -> discord.ui.View:
    return _one_button("Unregister", discord.ButtonStyle.secondary, UNREGISTER_ID.format(talk_id=talk.id), marker)


def reminder_post_view(talk: Talk, marker: str | None = None) -> discord.ui.View:
    """A last chance to take a seat, right under the reminder in the channel."""
    return _one_button("Register", discord.ButtonStyle.primary, REGISTER_ID.format(talk_id=talk.id), marker)


def _one_button(label: str, style: discord.ButtonStyle, custom_id: str, marker: str | None) -> discord.ui.View:
    # The delivery's marker ends the custom id; the members cog's button templates allow and ignore it.
    marked = custom_id if marker is None else f"{custom_id}:{marker}"
    return static_view(discord.ui.Button(label=label, style=style, custom_id=marked))


def reminder_post(talk: Talk, offset_minutes: int, ping_role_id: int | None) -> str:
    title = discord.utils.escape_markdown(talk.title)
    ping = f"<@&{ping_role_id}> " if ping_role_id else ""
    place = f" · {talk.location}" if talk.location else ""
    link = f"\nDetails and registration: {talk.announcement_url()}" if talk.announcement_url() else ""
    return f"{ping}⏰ **{title}** with {talk.speaker} starts {when(talk)}{place}.{link}"
