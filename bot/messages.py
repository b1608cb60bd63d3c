"""The texts and files of what Podium DMs or posts on its own: invites and reminders."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import discord

from bot.calendar import Method, build_invite, invite_filename
from bot.embeds import REGISTER_ID, UNREGISTER_ID, register_label, static_view, when
from bot.i18n import _, render
from bot.models import DeliveryKind, Talk
from bot.timeparse import format_offsets

WITHDRAWING = frozenset({DeliveryKind.INVITE_CANCELLED, DeliveryKind.INVITE_WITHDRAWN})


def invite_message(talk: Talk, kind: DeliveryKind, language: str = "en") -> str:
    title = discord.utils.escape_markdown(talk.title)
    place = f" · {talk.location}" if talk.location else ""
    values = {"title": title, "speaker": talk.speaker, "when": when(talk), "place": place}
    if kind is DeliveryKind.INVITE_CONFIRMED:
        text = _(
            "You're registered for **{title}** with {speaker}, {when}{place}.\n"
            "Open the attached invite to add it to your calendar. Can't make it any more? "
            "Use `/unregister` so someone on the waitlist gets your seat.",
            **values,
        )
    elif kind is DeliveryKind.INVITE_PROMOTED:
        text = _(
            "Good news: a seat opened up and you're now **confirmed** for **{title}** with {speaker}, "
            "{when}{place}.\nOpen the attached invite to add it to your calendar. Can't come? "
            "Use `/unregister` to pass the seat on.",
            **values,
        )
    elif kind is DeliveryKind.INVITE_UPDATED:
        text = _(
            "**{title}** has changed: it is now {when}{place}, {minutes} min.\n"
            "Open the attached invite to update the event in your calendar.",
            minutes=talk.duration_min,
            **values,
        )
    elif kind is DeliveryKind.INVITE_CANCELLED:
        reason = render(_(" Reason: {reason}", reason=talk.cancel_reason), language) if talk.cancel_reason else ""
        text = _(
            "**{title}** with {speaker} has been **cancelled**.{reason}\n"
            "Open the attached file to remove it from your calendar.",
            reason=reason,
            **values,
        )
    elif kind is DeliveryKind.INVITE_WITHDRAWN:
        text = _(
            "You're no longer registered for **{title}**.\nOpen the attached file to remove it from your calendar.",
            **values,
        )
    else:
        raise ValueError(f"not an invite: {kind}")
    return render(text, language)


def invite_file(
    talk: Talk, kind: DeliveryKind, tz: ZoneInfo, now: datetime, *, language: str, marker: str | None = None
) -> discord.File:
    """The .ics of an invite, its texts in the member's ``language``; a DM's file name carries its delivery's
    marker, so the bot can recognise the message in the channel's history (``podium-talk-7-m42.ics``)."""
    method = Method.CANCEL if kind in WITHDRAWING or talk.cancelled else Method.PUBLISH
    data = build_invite(talk, tz=tz, now=now, language=language, method=method)
    name = invite_filename(talk)
    if marker is not None:
        name = name.removesuffix(".ics") + f"-{marker}.ics"
    return discord.File(io.BytesIO(data), filename=name)


def reminder_message(talk: Talk, offset_minutes: int, language: str = "en") -> str:
    title = discord.utils.escape_markdown(talk.title)
    place = render(_("\nWhere: {location}", location=talk.location), language) if talk.location else ""
    url = talk.announcement_url()
    link = render(_("\nAnnouncement: {url}", url=url), language) if url else ""
    text = _(
        "⏰ Reminder ({offsets} before): **{title}** with {speaker} starts {when}.{place}{link}\n"
        "Can't come after all? Press Unregister so your seat goes to the waitlist. "
        "Turn these reminders off with `/notifications enabled:False`.",
        offsets=format_offsets((offset_minutes,)),
        title=title,
        speaker=talk.speaker,
        when=when(talk),
        place=place,
        link=link,
    )
    return render(text, language)


def reminder_view(talk: Talk, marker: str | None = None, language: str = "en") -> discord.ui.View:
    # limit: 80
    label = render(_("Unregister"), language)
    return _one_button(label, discord.ButtonStyle.secondary, UNREGISTER_ID.format(talk_id=talk.id), marker)


def reminder_post_view(talk: Talk, marker: str | None = None, language: str = "en") -> discord.ui.View:
    """A last chance to take a seat, right under the reminder in the channel."""
    label = register_label(language)
    return _one_button(label, discord.ButtonStyle.primary, REGISTER_ID.format(talk_id=talk.id), marker)


def _one_button(label: str, style: discord.ButtonStyle, custom_id: str, marker: str | None) -> discord.ui.View:
    # The delivery's marker ends the custom id; the members cog's button templates allow and ignore it.
    marked = custom_id if marker is None else f"{custom_id}:{marker}"
    return static_view(discord.ui.Button(label=label, style=style, custom_id=marked))


def reminder_post(talk: Talk, offset_minutes: int, ping_role_id: int | None, language: str = "en") -> str:
    """The reminder in the announcement channel, in the server's language (the whole server reads it)."""
    title = discord.utils.escape_markdown(talk.title)
    ping = f"<@&{ping_role_id}> " if ping_role_id else ""
    place = f" · {talk.location}" if talk.location else ""
    url = talk.announcement_url()
    link = render(_("\nDetails and registration: {url}", url=url), language) if url else ""
    text = _(
        "⏰ **{title}** with {speaker} starts {when}{place}.{link}",
        title=title,
        speaker=talk.speaker,
        when=when(talk),
        place=place,
        link=link,
    )
    return ping + render(text, language)
