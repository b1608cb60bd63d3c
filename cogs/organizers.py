"""/talk create|edit|cancel|announce|attendees|import|report: what organizers do."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.attendance_rows import Checkin
from bot.certificates import parse_day
from bot.checkin import AttendanceSummary, code_text, opens_at
from bot.command_names import command, option
from bot.embeds import registration_text, seats_text, talk_embed
from bot.errors import StateError
from bot.i18n import Joined, Text, _, _n, _p, render
from bot.importer import ANNOUNCE_AT_ONCE, DEFAULT_SPEAKER, FILE_EXAMPLE, check_upload, import_summary, read_calendar
from bot.joinlink import JoinLinks
from bot.joinlink_messages import join_link_edit_note, join_link_note
from bot.models import Registration, RegistrationStatus, Talk
from bot.questions import speaker_account
from bot.replies import (
    defer,
    organizer_guild,
    organizer_talk_autocomplete,
    reader_language,
    respond,
    server_roles,
)
from bot.spreadsheet import csv_cell
from bot.talks import TalkInput
from bot.timeparse import discord_timestamp
from cogs.attendance import report_csv, report_summary

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
    "join_url": "Private meeting link (https://…), DMed to confirmed members before the start",
    "checkin_code": "True: checking in needs a code shown in the room (see /talk code)",
    "speaker_user": "The speaker's Discord account: they get the members' questions by DM",
    "eligible_roles": "Only members with one of these roles may register, e.g. @Year 1 @Year 2 (at most 10)",
    "priority_roles": "Roles that may register at once, before everyone else (needs priority_until)",
    "priority_until": "When everyone else may register (YYYY-MM-DD HH:MM); needs priority_roles",
}
_EDIT_FIELDS = {
    **_FIELDS,
    "location": "Room or link ('-' to clear)",
    "description": "Abstract ('-' to clear)",
    "speaker_bio": "About the speaker ('-' to clear)",
    "capacity": "Number of seats, 0 for unlimited; more seats confirm people from the waitlist",
    "join_url": "Private meeting link (https://…) for confirmed members ('-' to clear)",
    "checkin_code": "True: checking in needs a code shown in the room (see /talk code); False: no code",
    "remove_speaker_user": "True: no speaker account any more (nobody gets the questions by DM)",
    "eligible_roles": "Only members with one of these roles may register ('-': every member may)",
    "priority_roles": "Roles that may register before priority_until ('-' clears the priority window)",
    "priority_until": "When everyone else may register (YYYY-MM-DD HH:MM; '-' clears the priority window)",
}
_FIELD_LABELS = {
    "start_at": "start",
    "duration_min": "duration",
    "speaker_user_id": "speaker_user",
}
UNREACHABLE_SHOWN = 20  # members named in the reply; the CSV has them all
PREVIEW_SHOWN = 15
MESSAGE_MAX = 2000  # Discord's limit for a message


def _code_needed(talk: Talk) -> Text:
    return _("Checking in needs a code: {code} shows it.", code=command("talk code", talk=talk.id))


def _utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


_CSV_HEADERS = (
    _p("csv header", "display_name"),
    _p("csv header", "user_id"),
    _p("csv header", "status"),
    _p("csv header", "waitlist_position"),
    _p("csv header", "registered_at"),
    _p("csv header", "invite_dm"),
    _p("csv header", "checked_in_at"),
)
_CSV_STATUS = {
    RegistrationStatus.CONFIRMED: _p("csv value", "confirmed"),
    RegistrationStatus.WAITLISTED: _p("csv value", "waitlisted"),
}
_CSV_DM_FAILED = _p("csv value", "failed")
_CSV_DM_SENT = _p("csv value", "sent")
_CSV_DM_NONE = _p("csv value", "none yet")
_CSV_WALK_IN = _p("csv value", "walk-in")


def attendees_csv(registrations: list[Registration], language: str, checkins: Sequence[Checkin] = ()) -> bytes:
    """The attendees as a spreadsheet, its headers and words in the organizer's language: the registrations, then
    the walk-ins who checked in without one; ``checked_in_at`` is empty for who has not checked in."""
    present = {checkin.user_id: checkin.checked_in_at for checkin in checkins}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([render(header, language) for header in _CSV_HEADERS])
    for registration in registrations:
        sent = _CSV_DM_SENT if registration.confirmed else _CSV_DM_NONE
        invite = _CSV_DM_FAILED if registration.dm_failed else sent
        writer.writerow(
            [
                csv_cell(registration.display_name),
                str(registration.user_id),
                render(_CSV_STATUS.get(registration.status, registration.status.value), language),
                "" if registration.position is None else registration.position,
                registration.registered_at.isoformat().replace("+00:00", "Z"),
                render(invite, language),
                _utc(present.get(registration.user_id)),
            ]
        )
    registered = {registration.user_id for registration in registrations}
    for checkin in checkins:
        if checkin.user_id not in registered:
            writer.writerow(
                [
                    csv_cell(checkin.display_name),
                    str(checkin.user_id),
                    render(_CSV_WALK_IN, language),
                    "",
                    "",
                    "",
                    _utc(checkin.checked_in_at),
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
        join_url: str | None = None,
        checkin_code: bool | None = None,
        speaker_user: discord.Member | None = None,
        eligible_roles: str | None = None,
        priority_roles: str | None = None,
        priority_until: str | None = None,
    ) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        data = TalkInput(
            title,
            speaker,
            start,
            duration,
            location,
            capacity,
            description,
            speaker_bio,
            reminders,
            announce_at,
            join_url=join_url,
            checkin_code=checkin_code,
            speaker_user=speaker_account(
                speaker_user.id if speaker_user else None, is_bot=bool(speaker_user and speaker_user.bot), remove=False
            ),
            eligible_roles=eligible_roles,
            priority_roles=priority_roles,
            priority_until=priority_until,
            server_roles=server_roles(interaction),
            language=reader_language(interaction),
        )
        await defer(interaction)
        published = await bot.office.create_talk(guild, interaction.user.id, data)
        talk = published.talk
        status: Text
        if published.problem is not None:
            status = _("Not announced yet: {problem}", problem=published.problem)
        elif talk.announce_at is None:
            channel = f"<#{talk.announcement_channel_id}>"
            status = _("Announced in {channel}: {link}", channel=channel, link=talk.announcement_url())
        else:
            status = _(
                "It will be announced {when} ({relative}); run {announce} to post it earlier.",
                when=discord_timestamp(talk.announce_at),
                relative=discord_timestamp(talk.announce_at, "R"),
                announce=command("talk announce", talk=talk.id),
            )
        seats = await bot.service.seats(talk)
        shown_status: Text | str = status
        if talk.join_url:
            language = reader_language(interaction)
            note = join_link_note(talk, await JoinLinks(bot.service).lead(guild), bot.service.clock())
            shown_status = render(status, language) + " " + render(note, language)
        created = (
            _("Created talk **#{talk_id}**. {status}\nPreview:", talk_id=talk.id, status=shown_status)
            if talk.checkin_code is None
            else _(
                "Created talk **#{talk_id}**. {status} {checkin}\nPreview:",
                talk_id=talk.id,
                status=shown_status,
                checkin=_code_needed(talk),
            )
        )
        await respond(
            interaction,
            created,
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
        join_url: str | None = None,
        checkin_code: bool | None = None,
        speaker_user: discord.Member | None = None,
        remove_speaker_user: bool = False,
        eligible_roles: str | None = None,
        priority_roles: str | None = None,
        priority_until: str | None = None,
    ) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        language = reader_language(interaction)
        data = TalkInput(
            title,
            speaker,
            start,
            duration,
            location,
            capacity,
            description,
            speaker_bio,
            reminders,
            announce_at,
            join_url=join_url,
            checkin_code=checkin_code,
            speaker_user=speaker_account(
                speaker_user.id if speaker_user else None,
                is_bot=bool(speaker_user and speaker_user.bot),
                remove=remove_speaker_user,
            ),
            eligible_roles=eligible_roles,
            priority_roles=priority_roles,
            priority_until=priority_until,
            server_roles=server_roles(interaction),
            language=language,
        )
        outcome = await bot.office.edit_talk(guild, talk, data)
        updated = outcome.talk
        if not outcome.changed:
            await respond(
                interaction, _("Nothing changed: talk #{talk_id} already has those values.", talk_id=updated.id)
            )
            return
        changed = Joined([option(name) for name in sorted(_FIELD_LABELS.get(name, name) for name in outcome.changed)])
        lines: list[Text] = [_("Updated talk **#{talk_id}** ({changed}).", talk_id=updated.id, changed=changed)]
        if outcome.updated:
            lines.append(
                _n(
                    "Sending an updated calendar invite to the confirmed registrant.",
                    "Sending an updated calendar invite to {count} confirmed registrants.",
                    outcome.updated,
                )
            )
        if outcome.promoted:
            lines.append(
                _n(
                    "{count} member moved from the waitlist to confirmed; they are being told by DM.",
                    "{count} members moved from the waitlist to confirmed; they are being told by DM.",
                    len(outcome.promoted),
                )
            )
        if outcome.over_capacity and updated.capacity is not None:
            lines.append(
                _n(
                    "{confirmed} members were already confirmed, {over} more than the new capacity of {count} seat: "
                    "they keep their seats, and new registrations go to the waitlist.",
                    "{confirmed} members were already confirmed, {over} more than the new capacity of {count} seats: "
                    "they keep their seats, and new registrations go to the waitlist.",
                    updated.capacity,
                    confirmed=outcome.seats.confirmed,
                    over=outcome.over_capacity,
                )
            )
        if "join_url" in outcome.changed:
            lead = await JoinLinks(bot.service).lead(guild)
            lines.append(join_link_edit_note(updated, outcome.owed, lead, bot.service.clock()))
        if "checkin_code" in outcome.changed:
            lines.append(_code_needed(updated) if updated.checkin_code else _("Checking in no longer needs a code."))
        lines.append(_("Seats: {seats}.", seats=seats_text(outcome.seats)))
        if updated.announcement_message_id is not None:
            lines.append(_("The announcement is being updated."))
        await respond(interaction, "\n".join(render(line, language) for line in lines))

    @talk.command(name="cancel", description="Cancel a talk; registrants are told and their invites withdrawn")
    @app_commands.describe(talk="The talk to cancel", reason="Shown to registrants and on the announcement")
    @app_commands.autocomplete(talk=organizer_talk_autocomplete)
    async def cancel(self, interaction: discord.Interaction[PodiumBot], talk: int, reason: str | None = None) -> None:
        guild = await organizer_guild(interaction)
        outcome = await interaction.client.office.cancel_talk(guild, talk, reason)
        recipients: list[Text | str] = []
        if outcome.confirmed:
            recipients.append(
                _n(
                    "the confirmed registrant",
                    "the {count} confirmed registrants",
                    len(outcome.confirmed),
                )
            )
        if outcome.waitlisted:
            recipients.append(_n("the one on the waitlist", "the {count} on the waitlist", len(outcome.waitlisted)))
        told = (
            _(
                "Sending the cancellation to {recipients}, with a file that removes it from their calendars.",
                recipients=Joined(recipients),
            )
            if recipients
            else _("Nobody had registered, so there was no one to tell.")
        )
        await respond(
            interaction,
            _(
                "Cancelled talk **#{talk_id}** ({title}). {told}",
                talk_id=outcome.talk.id,
                title=outcome.talk.title,
                told=told,
            ),
        )

    @talk.command(name="announce", description="Post (or re-post) a talk's announcement now")
    @app_commands.describe(talk="The talk to announce")
    @app_commands.autocomplete(talk=organizer_talk_autocomplete)
    async def announce(self, interaction: discord.Interaction[PodiumBot], talk: int) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        reposted = (await bot.service.changeable_talk(guild, talk)).announcement_message_id is not None
        await defer(interaction)
        record = await bot.office.announce(guild, talk)
        link = record.announcement_url()
        posted = (
            _("Re-posted the announcement of talk **#{talk_id}**: {link}", talk_id=record.id, link=link)
            if reposted
            else _("Posted the announcement of talk **#{talk_id}**: {link}", talk_id=record.id, link=link)
        )
        await respond(interaction, posted)

    @talk.command(name="attendees", description="Who registered for a talk (with a CSV file)")
    @app_commands.describe(talk="The talk")
    @app_commands.autocomplete(talk=organizer_talk_autocomplete)
    async def attendees(self, interaction: discord.Interaction[PodiumBot], talk: int) -> None:
        guild = await organizer_guild(interaction)
        bot = interaction.client
        language = reader_language(interaction)
        record = await bot.service.get_talk(guild, talk)
        registrations = await bot.service.attendees(record)
        summary = await bot.office.checkins.summary(record)
        confirmed = [r for r in registrations if r.confirmed]
        waitlisted = [r for r in registrations if not r.confirmed]
        unreachable = [r for r in registrations if r.dm_failed]
        heading = f"#{record.id} {discord.utils.escape_markdown(record.title)}"
        lines: list[Text | str] = [
            _n(
                "**{talk}**: {confirmed} confirmed of {count} seat, {waitlisted} on the waitlist.",
                "**{talk}**: {confirmed} confirmed of {count} seats, {waitlisted} on the waitlist.",
                record.capacity,
                talk=heading,
                confirmed=len(confirmed),
                waitlisted=len(waitlisted),
            )
            if record.capacity
            else _(
                "**{talk}**: {confirmed} confirmed, {waitlisted} on the waitlist.",
                talk=heading,
                confirmed=len(confirmed),
                waitlisted=len(waitlisted),
            )
        ]
        lines.append(_attendance_line(summary, record))
        if unreachable:
            shown = UNREACHABLE_SHOWN
            names = ", ".join(f"<@{r.user_id}>" for r in unreachable[:shown])
            listed: Text | str = (
                _n("{names} and {count} more", "{names} and {count} more", len(unreachable) - shown, names=names)
                if len(unreachable) > shown
                else names
            )
            lines.append(_("Could not be reached by DM (their DMs are closed): {names}.", names=listed))
        if registrations:
            preview = "\n".join(
                f"{index}. {discord.utils.escape_markdown(r.display_name)} — {render(registration_text(r), language)}"
                for index, r in enumerate(registrations[:PREVIEW_SHOWN], start=1)
            )
            lines.append(preview + ("\n…" if len(registrations) > PREVIEW_SHOWN else ""))
            lines.append(_("The full list is in the attached CSV."))
        elif not summary.checkins:
            lines.append(_("No registrations yet."))
        else:
            lines.append(_("The full list is in the attached CSV."))
        file = discord.File(
            io.BytesIO(attendees_csv(registrations, language, summary.checkins)),
            filename=f"talk-{record.id}-attendees.csv",
        )
        reply = "\n".join(render(line, language) for line in lines)
        await respond(interaction, reply[:MESSAGE_MAX], file=file)

    @talk.command(name="code", description="Show the check-in code to put on a slide in the room")
    @app_commands.describe(talk="The talk")
    @app_commands.autocomplete(talk=organizer_talk_autocomplete)
    async def code(self, interaction: discord.Interaction[PodiumBot], talk: int) -> None:
        guild = await organizer_guild(interaction)
        await respond(interaction, code_text(await interaction.client.office.checkins.code_of(guild, talk)))

    @talk.command(name="import", description="Create talks from a calendar file (.ics), e.g. a season's programme")
    @app_commands.describe(
        file="The .ics file exported from your calendar app (up to 1 MB and 500 events)",
        speaker=f"Speaker of every imported talk (default: {DEFAULT_SPEAKER.msgid}); change each with /talk edit",
        capacity="Seats for every imported talk (leave empty for unlimited)",
        announce=f"Post the announcements now (the first {ANNOUNCE_AT_ONCE}); by default use /talk announce later",
    )
    async def import_calendar(
        self,
        interaction: discord.Interaction[PodiumBot],
        file: discord.Attachment,
        speaker: app_commands.Range[str, 1, 100] | None = None,
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
                _(
                    "I could not download `{filename}` from Discord. Attach it again and retry: {example}.",
                    filename=file.filename,
                    example=FILE_EXAMPLE,
                )
            ) from None
        zone = await bot.service.zone(guild)
        # A talk has one speaker for every reader: the placeholder one is written in the server's language.
        if speaker is None:
            speaker = default_speaker = render(DEFAULT_SPEAKER, await bot.languages.server(guild))
        else:
            default_speaker = None
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
            language=reader_language(interaction),
            default_speaker=default_speaker,
            announced=announced,
        )
        await respond(interaction, summary)

    @talk.command(name="report", description="Talks attended and hours per member over a period (CSV)")
    @app_commands.describe(
        start="First day, YYYY-MM-DD (talks that started on or after it)",
        end="Last day, YYYY-MM-DD (included)",
    )
    @app_commands.rename(start="from", end="to")
    async def report(self, interaction: discord.Interaction[PodiumBot], start: str, end: str) -> None:
        guild = await organizer_guild(interaction)
        language = reader_language(interaction)
        first, last = parse_day(start, language=language), parse_day(end, language=language)
        rows = await interaction.client.certificates.report(guild, first, last)
        await respond(
            interaction,
            report_summary(rows, first, last),
            file=discord.File(io.BytesIO(report_csv(rows, language)), filename=f"attendance-{first}-{last}.csv"),
        )

    async def _announce_imported(self, bot: PodiumBot, talks: list[Talk]) -> Text | None:
        """Post the first imported talks' announcements; stop at the first failure (no channel, no rights)."""
        if not talks:
            return None
        results = await bot.office.announce_first(talks, ANNOUNCE_AT_ONCE)
        posted = [result.talk for result in results if result.problem is None]
        problem = results[-1].problem
        if problem is not None:
            if not posted:
                return _("None of them is announced yet: {problem}", problem=problem)
            return _n(
                "Announced {count}, then stopped. Not announced yet: {problem}",
                "Announced {count}, then stopped. Not announced yet: {problem}",
                len(posted),
                problem=problem,
            )
        channel = posted[-1].announcement_channel_id
        rest = len(talks) - len(posted)
        if not rest:
            return _n(
                "Announced {count} in <#{channel}>.", "Announced {count} in <#{channel}>.", len(posted), channel=channel
            )
        return _n(
            "Announced {posted} in <#{channel}>. Post the other one with {announce}.",
            "Announced {posted} in <#{channel}>. Post the other {count} with {announce} and so on.",
            rest,
            posted=len(posted),
            channel=channel,
            announce=command("talk announce", talk=talks[len(posted)].id),
        )


def _attendance_line(summary: AttendanceSummary, talk: Talk) -> Text:
    """Who checked in and the no-shows (confirmed members who did not), once check-in has begun."""
    if talk.cancelled:
        return _("No check-in: the talk was cancelled.")
    if not summary.opened:
        return _(
            "Check-in opens {relative} (15 minutes before the start).",
            relative=discord_timestamp(opens_at(talk), "R"),
        )
    walk_ins = _n("{count} walk-in", "{count} walk-ins", summary.walk_ins)
    if summary.over:
        return _(
            "Checked in: {checked_in} ({walk_ins}). No-shows: {no_shows} confirmed who did not check in.",
            checked_in=summary.checked_in,
            walk_ins=walk_ins,
            no_shows=summary.no_shows,
        )
    return _(
        "Checked in so far: {checked_in} ({walk_ins}). Confirmed but not checked in yet: {no_shows}.",
        checked_in=summary.checked_in,
        walk_ins=walk_ins,
        no_shows=summary.no_shows,
    )


TalkSubcommands = Sequence[app_commands.Command[Any, Any, None]]


def add_to_talk_group(bot: commands.Bot, subcommands: TalkSubcommands) -> None:
    """Subcommands a later cog adds to /talk when it loads (its own buttons and texts stay in that cog)."""
    group = bot.tree.get_command("talk")
    if isinstance(group, app_commands.Group):
        for subcommand in subcommands:
            group.add_command(subcommand, override=True)


def remove_from_talk_group(bot: commands.Bot, subcommands: TalkSubcommands) -> None:
    group = bot.tree.get_command("talk")
    if isinstance(group, app_commands.Group):
        for subcommand in subcommands:
            group.remove_command(subcommand.name)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Organizers(bot))
