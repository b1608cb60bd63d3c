"""/series create|edit|cancel (organizers) and the series announcement's select menu and Check in button.

Each command reads the interaction, calls one use case of the office and replies; the rules are in
bot/series.py. The options a series shares with /talk create|edit are passed to every date's TalkInput by name
(common_input), so an option added to /talk is one more parameter here and nothing else.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_names import command, option
from bot.embeds import seats_text
from bot.errors import InputError
from bot.i18n import Joined, Text, _, _n, render
from bot.models import Repeat
from bot.questions import speaker_account
from bot.replies import (
    defer,
    organizer_guild,
    organizer_series_autocomplete,
    reader_language,
    report_error,
    respond,
    server_roles,
)
from bot.series import REPEAT_NAMES, SeriesDates, dates_text, first_and_last
from bot.series_messages import ALL_DATES, SERIES_CHECKIN_ID, SERIES_SELECT_ID, series_embed
from bot.talks import TalkInput
from bot.timeparse import discord_timestamp
from cogs.checkin import checkin_member
from cogs.members import register_member, register_series_member
from cogs.organizers import _EDIT_FIELDS, _FIELD_LABELS, _FIELDS

if TYPE_CHECKING:
    from bot.client import PodiumBot

_SERIES_FIELDS = {
    "repeat": "How often: weekly, every two weeks or monthly (the same day of the month)",
    "count": "How many dates, 1 to 52 (or give until)",
    "until": "Day of the last date, YYYY-MM-DD (or give count)",
}
_CREATE_FIELDS = {
    **_FIELDS,
    "start": "First date, YYYY-MM-DD HH:MM: every date is at this local time",
    **_SERIES_FIELDS,
}
_CHANGE_FIELDS = {
    **{name: text for name, text in _EDIT_FIELDS.items() if name != "start"},
    "series": "The series to change",
    "time": "New local start time of each date, HH:MM",
    "from_date": "Change only the dates from this day on, YYYY-MM-DD (default: every date to come)",
}
REPEAT_CHOICES = [app_commands.Choice(name=REPEAT_NAMES[repeat].msgid, value=repeat.value) for repeat in Repeat]
_SELECT = re.compile(r"^podium:series:(?P<series_id>[0-9]{1,19})$")


def common_input(
    interaction: discord.Interaction[PodiumBot],
    *,
    speaker_user: discord.Member | None,
    remove_speaker_user: bool = False,
    **options: Any,
) -> TalkInput:
    """The TalkInput every date of a series starts from: the options /series shares with /talk, by name."""
    return TalkInput(
        **options,
        speaker_user=speaker_account(
            speaker_user.id if speaker_user else None,
            is_bot=bool(speaker_user and speaker_user.bot),
            remove=remove_speaker_user,
        ),
        server_roles=server_roles(interaction),
        language=reader_language(interaction),
    )


def _talk_range(dates: SeriesDates) -> Text:
    talks = dates.talks
    if len(talks) == 1:
        return _("talk #{first}", first=talks[0].id)
    return _("talks #{first} to #{last}", first=talks[0].id, last=talks[-1].id)


class SeriesSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=_SELECT.pattern):
    """The announcement's menu: a date registers for that date, "All dates" for every date still open."""

    def __init__(self, series_id: int, item: discord.ui.Select[Any] | None = None) -> None:
        super().__init__(
            item
            or discord.ui.Select(
                custom_id=SERIES_SELECT_ID.format(series_id=series_id),
                options=[discord.SelectOption(label=ALL_DATES, value=ALL_DATES)],
            )
        )
        self.series_id = series_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SeriesSelect:
        return cls(int(match["series_id"]), item if isinstance(item, discord.ui.Select) else None)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            picked = self.item.values[0] if self.item.values else ""
            if picked == ALL_DATES:
                await register_series_member(interaction, self.series_id)
            elif picked.isdigit():
                await register_member(interaction, int(picked))
            else:  # only a tampered client sends anything else
                raise InputError(_("Pick a date from the menu, or All dates."))
        except Exception as error:
            await report_error(interaction, error)


class SeriesCheckinButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"^podium:scheckin:(?P<series_id>[0-9]{1,19})$"
):
    """Check in to the series' date that is open for check-in now (else the reply says when it opens)."""

    def __init__(self, series_id: int, item: discord.ui.Button[Any] | None = None) -> None:
        super().__init__(item or discord.ui.Button(custom_id=SERIES_CHECKIN_ID.format(series_id=series_id)))
        self.series_id = series_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SeriesCheckinButton:
        return cls(int(match["series_id"]), item if isinstance(item, discord.ui.Button) else None)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            bot: PodiumBot = interaction.client
            if interaction.guild_id is None:
                raise app_commands.NoPrivateMessage()
            dates = await bot.office.series.member_series(interaction.guild_id, self.series_id)
            talk = dates.checkin_talk(bot.service.clock())
            await checkin_member(interaction, talk.id, None, ask_for_code=True)
        except Exception as error:
            await report_error(interaction, error)


ITEMS = (SeriesSelect, SeriesCheckinButton)


class SeriesCog(commands.Cog):
    # Like /talk: shown to members with Manage Events (or the roles allowed in Integrations), checked again here.
    series = app_commands.Group(
        name="series",
        description="Seminar series: one talk per date, managed together (organizers)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_events=True),
    )

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*ITEMS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*ITEMS)

    @series.command(name="create", description="Schedule a seminar series: one talk per date, one announcement")
    @app_commands.describe(**_CREATE_FIELDS)
    @app_commands.choices(repeat=REPEAT_CHOICES)
    async def create(
        self,
        interaction: discord.Interaction[PodiumBot],
        title: str,
        speaker: str,
        start: str,
        repeat: str,
        count: int | None = None,
        until: str | None = None,
        duration: int | None = None,
        location: str | None = None,
        capacity: int | None = None,
        description: str | None = None,
        speaker_bio: str | None = None,
        reminders: str | None = None,
        announce_at: str | None = None,
        join_url: str | None = None,
        checkin_code: bool | None = None,
        speaker_user: discord.Member | None = None,
        eligible_roles: str | None = None,
        priority_roles: str | None = None,
        priority_until: str | None = None,
    ) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        data = common_input(
            interaction,
            speaker_user=speaker_user,
            title=title,
            speaker=speaker,
            start=start,
            duration=duration,
            location=location,
            capacity=capacity,
            description=description,
            speaker_bio=speaker_bio,
            reminders=reminders,
            announce_at=announce_at,
            join_url=join_url,
            checkin_code=checkin_code,
            eligible_roles=eligible_roles,
            priority_roles=priority_roles,
            priority_until=priority_until,
        )
        await defer(interaction)
        published = await bot.office.create_series(
            guild, interaction.user.id, data, repeat=repeat, count=count, until=until
        )
        dates = published.dates
        first = dates.talks[0]
        status: Text
        if published.problem is not None:
            status = _("Not announced yet: {problem}", problem=published.problem)
        elif first.announce_at is None:
            channel = f"<#{first.announcement_channel_id}>"
            status = _(
                "Announced in {channel}, one message for every date: {link}",
                channel=channel,
                link=first.announcement_url(),
            )
        else:
            status = _(
                "It will be announced {when} ({relative}), one message for every date; run {announce} to post it "
                "earlier.",
                when=discord_timestamp(first.announce_at),
                relative=discord_timestamp(first.announce_at, "R"),
                announce=command("talk announce", talk=first.id),
            )
        notes: list[Text] = []
        if first.checkin_code is not None:
            notes.append(_("Checking in needs a code, one per date: {code} shows it.", code=command("talk code")))
        created = _(
            "Created series **#{series_id}**: {repeat}, {dates} {when} ({talks}). {status}",
            series_id=dates.series.id,
            repeat=REPEAT_NAMES[dates.series.repeat],
            dates=dates_text(dates.talks),
            when=first_and_last(dates.talks),
            talks=_talk_range(dates),
            status=status,
        )
        language = reader_language(interaction)
        reply = " ".join(render(part, language) for part in [created, *notes])
        preview = render(_("Preview:"), language)
        seats = await bot.office.series.seats(dates)
        await respond(
            interaction,
            f"{reply}\n{preview}",
            # The preview shows the announcement as the server will read it.
            embed=series_embed(dates, seats, bot.service.clock(), await bot.languages.server(guild)),
        )

    @series.command(name="edit", description="Change every date to come of a series; registrants get updated invites")
    @app_commands.describe(**_CHANGE_FIELDS)
    @app_commands.autocomplete(series=organizer_series_autocomplete)
    async def edit(
        self,
        interaction: discord.Interaction[PodiumBot],
        series: int,
        title: str | None = None,
        speaker: str | None = None,
        time: str | None = None,
        duration: int | None = None,
        location: str | None = None,
        capacity: int | None = None,
        description: str | None = None,
        speaker_bio: str | None = None,
        reminders: str | None = None,
        announce_at: str | None = None,
        join_url: str | None = None,
        checkin_code: bool | None = None,
        speaker_user: discord.Member | None = None,
        remove_speaker_user: bool = False,
        eligible_roles: str | None = None,
        priority_roles: str | None = None,
        priority_until: str | None = None,
        from_date: str | None = None,
    ) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        language = reader_language(interaction)
        data = common_input(
            interaction,
            speaker_user=speaker_user,
            remove_speaker_user=remove_speaker_user,
            title=title,
            speaker=speaker,
            duration=duration,
            location=location,
            capacity=capacity,
            description=description,
            speaker_bio=speaker_bio,
            reminders=reminders,
            announce_at=announce_at,
            join_url=join_url,
            checkin_code=checkin_code,
            eligible_roles=eligible_roles,
            priority_roles=priority_roles,
            priority_until=priority_until,
        )
        await defer(interaction)
        edited = await bot.office.edit_series(guild, series, data, at=time, from_date=from_date)
        changed = [outcome for outcome in edited.outcomes if outcome.changed]
        if not changed:
            await respond(
                interaction,
                _("Nothing changed: the dates of series #{series_id} already have those values.", series_id=series),
            )
            return
        fields = sorted({_FIELD_LABELS.get(name, name) for outcome in changed for name in outcome.changed})
        lines: list[Text] = [
            _(
                "Updated {dates} of series **#{series_id}** ({changed}), {when}.",
                dates=dates_text([o.talk for o in changed]),
                series_id=series,
                changed=Joined([option("time" if name == "start" else name) for name in fields]),
                when=first_and_last([o.talk for o in changed]),
            )
        ]
        updated = sum(outcome.updated for outcome in changed)
        if updated:
            lines.append(
                _n(
                    "Sending an updated calendar invite to the confirmed registrant, for each date they hold.",
                    "Sending updated calendar invites to the confirmed registrants of each date ({count} in all).",
                    updated,
                )
            )
        promoted = sum(len(outcome.promoted) for outcome in changed)
        if promoted:
            lines.append(
                _n(
                    "{count} registration moved from the waitlist to confirmed; they are being told by DM.",
                    "{count} registrations moved from the waitlist to confirmed; they are being told by DM.",
                    promoted,
                )
            )
        if any(outcome.over_capacity for outcome in changed):
            lines.append(
                _(
                    "Some dates already had more confirmed members than the new capacity: they keep their seats, "
                    "and new registrations there go to the waitlist."
                )
            )
        if any("checkin_code" in outcome.changed for outcome in changed):
            lines.append(
                _("Checking in needs a code, one per date: {code} shows it.", code=command("talk code"))
                if changed[0].talk.checkin_code
                else _("Checking in no longer needs a code.")
            )
        if len(changed) == 1:
            lines.append(_("Seats: {seats}.", seats=seats_text(changed[0].seats)))
        if changed[0].talk.announcement_message_id is not None:
            lines.append(_("The announcement is being updated."))
        await respond(interaction, "\n".join(render(line, language) for line in lines))

    @series.command(name="cancel", description="Cancel every date to come of a series; registrants are told")
    @app_commands.describe(
        series="The series to cancel",
        from_date="Cancel only the dates from this day on, YYYY-MM-DD (default: every date to come)",
        reason="Shown to registrants and on the announcement",
    )
    @app_commands.autocomplete(series=organizer_series_autocomplete)
    async def cancel(
        self,
        interaction: discord.Interaction[PodiumBot],
        series: int,
        from_date: str | None = None,
        reason: str | None = None,
    ) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        language = reader_language(interaction)
        await defer(interaction)
        cancelled = await bot.office.cancel_series(guild, series, reason, from_date=from_date, language=language)
        outcomes = cancelled.outcomes
        told = sum(len(outcome.confirmed) + len(outcome.waitlisted) for outcome in outcomes)
        talks = [outcome.talk for outcome in outcomes]
        await respond(
            interaction,
            _(
                "Cancelled {dates} of series **#{series_id}** ({when}). {told}",
                dates=dates_text(talks),
                series_id=series,
                when=first_and_last(talks),
                told=_n(
                    "Sending the cancellation to the one registration, with a file that removes the date from their "
                    "calendar.",
                    "Sending the cancellation to each date's registrants ({count} registrations), with a file that "
                    "removes the date from their calendars.",
                    told,
                )
                if told
                else _("Nobody had registered for those dates, so there was no one to tell."),
            ),
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(SeriesCog(bot))
