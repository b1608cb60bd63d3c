"""/talk create|edit|cancel|announce|attendees: what organizers do."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.embeds import registration_text, seats_text, talk_embed
from bot.errors import StateError
from bot.importer import ANNOUNCE_AT_ONCE, DEFAULT_SPEAKER, FILE_EXAMPLE, check_upload, import_summary, read_calendar
from bot.models import Registration, Talk
from bot.replies import defer, organizer_guild, organizer_talk_autocomplete, respond
from bot.talks import TalkInput
from bot.timeparse import discord_timestamp

if TYPE_CHECKING:
    from bot.client import PodiumBot

_FIELDS = {
    "title": "Talk title (up to 100 characters)",
    "speaker": "Who gives the talk",
    "start": "Start, YYYY-MM-DD HH:MM in the server's time zone (or ISO 8601 with offset)",
    "duration": "Length in minutes (default 60)",
    "location": "Room or link",
    "capacity": "Number of seats (leave empty for unlimited)",
    "description": "Abstract (up to 2000 characters)",
    "speaker_bio": "A few lines about the speaker",
    "reminders": "Reminder offsets before the start, e.g. 1d,1h,15m",
    "announce_at": "When to post the announcement (YYYY-MM-DD HH:MM); empty = at once",
}
_EDIT_FIELDS = {
    **_FIELDS,
    "location": "Room or link ('-' to clear)",
    "description": "Abstract ('-' to clear)",
    "speaker_bio": "About the speaker ('-' to clear)",
    "capacity": "Number of seats, 0 for unlimited; more seats confirm people from the waitlist",
}
_FIELD_LABELS = {
    "start_at": "start",
    "duration_min": "duration",
}
# Spreadsheet programs run cells that start with these as formulas.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def attendees_csv(registrations: list[Registration]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["display_name", "user_id", "status", "waitlist_position", "registered_at", "invite_dm"])
    for registration in registrations:
        writer.writerow(
            [
                _csv_cell(registration.display_name),
                str(registration.user_id),
                registration.status.value,
                "" if registration.position is None else registration.position,
                registration.registered_at.isoformat().replace("+00:00", "Z"),
                "failed" if registration.dm_failed else ("sent" if registration.confirmed else "none yet"),
            ]
        )
    # A byte-order mark lets Excel open the names (accents, non-Latin scripts) correctly.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


class Organizers(commands.Cog):
    # Discord shows /talk only to members with Manage Events (or to the roles a server admin allows for it in
    # Server Settings > Integrations); each subcommand still checks organizer rights itself (organizer_guild).
    talk = app_commands.Group(
        name="talk",
        description="Schedule and manage talks (organizers)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_events=True),
    )

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @talk.command(name="create", description="Schedule a new talk and announce it")
    @app_commands.describe(**_FIELDS)
    async def create(
        self,
        interaction: discord.Interaction[PodiumBot],
        title: str,
        speaker: str,
        start: str,
        duration: int | None = None,
        location: str | None = None,
        capacity: int | None = None,
        description: str | None = None,
        speaker_bio: str | None = None,
        reminders: str | None = None,
        announce_at: str | None = None,
    ) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        data = TalkInput(
            title, speaker, start, duration, location, capacity, description, speaker_bio, reminders, announce_at
        )
        await defer(interaction)
        published = await bot.office.create_talk(guild, interaction.user.id, data)
        talk = published.talk
        if published.problem is not None:
            status = f"Not announced yet: {published.problem}"
        elif talk.announce_at is None:
            status = f"Announced in <#{talk.announcement_channel_id}>: {talk.announcement_url()}"
        else:
            status = (
                f"It will be announced {discord_timestamp(talk.announce_at)} "
                f"({discord_timestamp(talk.announce_at, 'R')}); run `/talk announce talk:{talk.id}` to post it earlier."
            )
        seats = await bot.service.seats(talk)
        await respond(
            interaction,
            f"Created talk **#{talk.id}**. {status}\nPreview:",
            # The preview shows the announcement as the server will read it.
            embed=talk_embed(talk, seats, bot.service.clock(), await bot.languages.server(guild)),
        )

    @talk.command(name="edit", description="Change a talk; registrants get an updated invite")
    @app_commands.describe(talk="The talk to change", **_EDIT_FIELDS)
    @app_commands.autocomplete(talk=organizer_talk_autocomplete)
    async def edit(
        self,
        interaction: discord.Interaction[PodiumBot],
        talk: int,
        title: str | None = None,
        speaker: str | None = None,
        start: str | None = None,
        duration: int | None = None,
        location: str | None = None,
        capacity: int | None = None,
        description: str | None = None,
        speaker_bio: str | None = None,
        reminders: str | None = None,
        announce_at: str | None = None,
    ) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        data = TalkInput(
            title, speaker, start, duration, location, capacity, description, speaker_bio, reminders, announce_at
        )
        outcome = await bot.office.edit_talk(guild, talk, data)
        updated = outcome.talk
        if not outcome.changed:
            await respond(interaction, f"Nothing changed: talk #{updated.id} already has those values.")
            return
        changed = ", ".join(sorted(_FIELD_LABELS.get(name, name) for name in outcome.changed))
        lines = [f"Updated talk **#{updated.id}** ({changed})."]
        if outcome.updated:
            lines.append(f"Sending an updated calendar invite to {outcome.updated} confirmed registrant(s).")
        if outcome.promoted:
            lines.append(
                f"{len(outcome.promoted)} member(s) moved from the waitlist to confirmed; they are being told by DM."
            )
        if outcome.over_capacity:
            lines.append(
                f"{outcome.seats.confirmed} members were already confirmed, {outcome.over_capacity} more than the new "
                f"capacity of {updated.capacity}: they keep their seats, and new registrations go to the waitlist."
            )
        lines.append(f"Seats: {seats_text(outcome.seats)}.")
        if updated.announcement_message_id is not None:
            lines.append("The announcement is being updated.")
        await respond(interaction, "\n".join(lines))

    @talk.command(name="cancel", description="Cancel a talk; registrants are told and their invites withdrawn")
    @app_commands.describe(talk="The talk to cancel", reason="Shown to registrants and on the announcement")
    @app_commands.autocomplete(talk=organizer_talk_autocomplete)
    async def cancel(self, interaction: discord.Interaction[PodiumBot], talk: int, reason: str | None = None) -> None:
        guild = await organizer_guild(interaction)
        outcome = await interaction.client.office.cancel_talk(guild, talk, reason)
        waitlist = f" and the {len(outcome.waitlisted)} on the waitlist" if outcome.waitlisted else ""
        told = (
            f"Sending the cancellation to the {len(outcome.confirmed)} confirmed registrant(s){waitlist}, with a "
            "file that removes it from their calendars."
            if outcome.confirmed or outcome.waitlisted
            else "Nobody had registered, so there was no one to tell."
        )
        await respond(interaction, f"Cancelled talk **#{outcome.talk.id}** ({outcome.talk.title}). {told}")

    @talk.command(name="announce", description="Post (or re-post) a talk's announcement now")
    @app_commands.describe(talk="The talk to announce")
    @app_commands.autocomplete(talk=organizer_talk_autocomplete)
    async def announce(self, interaction: discord.Interaction[PodiumBot], talk: int) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        reposted = (await bot.service.changeable_talk(guild, talk)).announcement_message_id is not None
        await defer(interaction)
        record = await bot.office.announce(guild, talk)
        verb = "Re-posted" if reposted else "Posted"
        await respond(interaction, f"{verb} the announcement of talk **#{record.id}**: {record.announcement_url()}")

    @talk.command(name="attendees", description="Who registered for a talk (with a CSV file)")
    @app_commands.describe(talk="The talk")
    @app_commands.autocomplete(talk=organizer_talk_autocomplete)
    async def attendees(self, interaction: discord.Interaction[PodiumBot], talk: int) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        record = await bot.service.get_talk(guild, talk)
        registrations = await bot.service.attendees(record)
        confirmed = [r for r in registrations if r.confirmed]
        waitlisted = [r for r in registrations if not r.confirmed]
        unreachable = [r for r in registrations if r.dm_failed]
        capacity = f" of {record.capacity} seats" if record.capacity else ""
        lines = [
            f"**#{record.id} {discord.utils.escape_markdown(record.title)}**: {len(confirmed)} confirmed{capacity}, "
            f"{len(waitlisted)} on the waitlist."
        ]
        if unreachable:
            names = ", ".join(f"<@{r.user_id}>" for r in unreachable[:20])
            more = f" and {len(unreachable) - 20} more" if len(unreachable) > 20 else ""
            lines.append(f"Could not be reached by DM (their DMs are closed): {names}{more}.")
        if registrations:
            preview = "\n".join(
                f"{index}. {discord.utils.escape_markdown(r.display_name)} — {registration_text(r)}"
                for index, r in enumerate(registrations[:15], start=1)
            )
            lines.append(preview + ("\n…" if len(registrations) > 15 else ""))
            lines.append("The full list is in the attached CSV.")
        else:
            lines.append("No registrations yet.")
        file = discord.File(io.BytesIO(attendees_csv(registrations)), filename=f"talk-{record.id}-attendees.csv")
        await respond(interaction, "\n".join(lines)[:2000], file=file)

    @talk.command(name="import", description="Create talks from a calendar file (.ics), e.g. a season's programme")
    @app_commands.describe(
        file="The .ics file exported from your calendar app (up to 1 MB and 500 events)",
        speaker=f"Speaker of every imported talk (default: {DEFAULT_SPEAKER}); change each with /talk edit",
        capacity="Seats for every imported talk (leave empty for unlimited)",
        announce=f"Post the announcements now (the first {ANNOUNCE_AT_ONCE}); by default use /talk announce later",
    )
    async def import_calendar(
        self,
        interaction: discord.Interaction[PodiumBot],
        file: discord.Attachment,
        speaker: app_commands.Range[str, 1, 100] = DEFAULT_SPEAKER,
        capacity: app_commands.Range[int, 1, 100_000] | None = None,
        announce: bool = False,
    ) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        check_upload(file.filename, file.content_type, file.size)  # before downloading anything
        await defer(interaction)
        try:
            data = await file.read()
        except discord.HTTPException:
            raise StateError(
                f"I could not download `{file.filename}` from Discord. Attach it again and retry: {FILE_EXAMPLE}."
            ) from None
        zone = await bot.service.zone(guild)
        # Parsing and expanding up to 1 MB of calendar takes a moment: keep the event loop free meanwhile.
        plan = await asyncio.to_thread(read_calendar, data, zone=zone, now=bot.service.clock())
        outcome = await bot.office.import_talks(
            guild,
            interaction.user.id,
            [(d.source_uid, d.as_input(speaker=speaker, capacity=capacity)) for d in plan.drafts],
        )
        announced = await self._announce_imported(bot, outcome.created) if announce else None
        summary = import_summary(
            plan.after_import(outcome.already_imported),
            outcome.created,
            filename=file.filename,
            speaker=speaker,
            announced=announced,
        )
        await respond(interaction, summary)

    async def _announce_imported(self, bot: PodiumBot, talks: list[Talk]) -> str | None:
        """Post the first imported talks' announcements; stop at the first failure (no channel, no rights)."""
        if not talks:
            return None
        results = await bot.office.announce_first(talks, ANNOUNCE_AT_ONCE)
        posted = [result.talk for result in results if result.problem is None]
        if results[-1].problem is not None:
            status = f"Not announced yet: {results[-1].problem}"
            return f"Announced {len(posted)}, then stopped. {status}" if posted else status
        text = f"Announced {len(posted)} in <#{posted[-1].announcement_channel_id}>."
        if len(talks) > len(posted):
            rest = len(talks) - len(posted)
            text += f" Post the other {rest} with `/talk announce talk:{talks[len(posted)].id}` and so on."
        return text


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Organizers(bot))
