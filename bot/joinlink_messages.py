"""How the private join link reads in Discord: its DM, the reminder that carries it, the button's answers.

The link is shown only in a confirmed member's own DM or ephemeral reply, as ``<link>`` (no preview card)
and as a link button; it was checked when typed (bot/joinlink.py), so it cannot ping or break the markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import discord

from bot.embeds import CHECKIN_ID, UNREGISTER_ID, checkin_label, static_view, unregister_label, when
from bot.i18n import Text, _, _n, render
from bot.joinlink import JoinAccess
from bot.messages import reminder_message
from bot.models import Delivery, DeliveryKind, Talk
from bot.timeparse import discord_timestamp


# A DM's button ends with its delivery's marker (cogs/checkin.py accepts the suffix).
def _marked(custom_id: str, marker: str | None) -> str:
    return custom_id if marker is None else f"{custom_id}:{marker}"


def join_label(language: str) -> str:
    # limit: 80
    return render(_("Join the talk"), language)


def _link_line(url: str, language: str) -> str:
    return render(_("🔗 Your join link (for you only, please do not share it): <{url}>", url=url), language)


def join_link_message(talk: Talk, url: str, language: str) -> str:
    text = _(
        "**{title}** with {speaker} starts {when}.\n{link}\nOnce you are there, press **Check in** so your "
        "attendance is recorded.",
        title=discord.utils.escape_markdown(talk.title),
        speaker=talk.speaker,
        when=when(talk),
        link=_link_line(url, language),
    )
    return render(text, language)


def join_link_view(talk: Talk, url: str, marker: str | None, language: str) -> discord.ui.View:
    """A link button to the meeting, and Check in, which carries the delivery's marker."""
    return static_view(
        discord.ui.Button(label=join_label(language), style=discord.ButtonStyle.link, url=url),
        discord.ui.Button(
            label=checkin_label(language),
            style=discord.ButtonStyle.success,
            custom_id=_marked(CHECKIN_ID.format(talk_id=talk.id), marker),
        ),
    )


def reminder_with_link(talk: Talk, offset: int, url: str, marker: str | None, language: str) -> dict[str, object]:
    """The reminder that falls at the release time: it carries the link, so no separate DM goes out."""
    return {
        "content": reminder_message(talk, offset, language) + "\n" + _link_line(url, language),
        "view": static_view(
            discord.ui.Button(label=join_label(language), style=discord.ButtonStyle.link, url=url),
            discord.ui.Button(
                label=checkin_label(language),
                style=discord.ButtonStyle.success,
                custom_id=CHECKIN_ID.format(talk_id=talk.id),
            ),
            discord.ui.Button(
                label=unregister_label(language),
                style=discord.ButtonStyle.secondary,
                custom_id=_marked(UNREGISTER_ID.format(talk_id=talk.id), marker),
            ),
        ),
    }


def access_text(access: JoinAccess) -> Text:
    """The Join link button's answer to a confirmed member."""
    title = discord.utils.escape_markdown(access.talk.title)
    if access.url is None:
        return _(
            "You have a confirmed seat for **{title}**. Its join link opens {relative} (at {time}): I will DM it "
            "to you then, and this button will show it.",
            title=title,
            relative=discord_timestamp(access.opens_at, "R"),
            time=discord_timestamp(access.opens_at, "t"),
        )
    return _(
        "**{title}** starts {when}.\n🔗 Your join link (for you only, please do not share it): <{url}>",
        title=title,
        when=when(access.talk),
        url=access.url,
    )


def registered_note(url: str) -> Text:
    """Added to the reply of a member confirmed after the release."""
    return _("🔗 The talk's join link is already open, here it is (for you only): <{url}>", url=url)


def join_link_note(talk: Talk, lead: int, now: datetime) -> Text:
    """What the organizer is told about a talk's link when creating it."""
    opens = talk.start_at - timedelta(minutes=lead)
    if opens <= now:
        return _("Its join link stays private: it is already open, so members get it by DM as they are confirmed.")
    return _(
        "Its join link stays private: confirmed members get it by DM {relative} (at {time}).",
        relative=discord_timestamp(opens, "R"),
        time=discord_timestamp(opens, "t"),
    )


def join_link_edit_note(talk: Talk, owed: Sequence[Delivery], lead: int, now: datetime) -> Text:
    """What the organizer is told after changing (or clearing) a talk's link."""
    if not talk.join_url:
        return _("The join link is removed; confirmed members who already have the old one keep it.")
    sent = sum(1 for row in owed if row.kind is DeliveryKind.JOIN_LINK)
    if sent:
        return _n(
            "The join link was already released: sending the new one to the confirmed member now.",
            "The join link was already released: sending the new one to the {count} confirmed members now.",
            sent,
        )
    return join_link_note(talk, lead, now)
