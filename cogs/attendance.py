"""/attendance show|certificate: a member's attended talks this academic year, and their PDF certificate."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.certificate_pdf import Hours, certificate_message, certificate_pdf, file_name, hours, verify_link
from bot.certificates import Certificate, Record, ReportRow
from bot.command_names import command
from bot.i18n import Text, _, _n, _p, duration, render
from bot.replies import answer_soon, guild_id, reader_language, respond
from bot.spreadsheet import csv_bytes, csv_cell
from bot.timeparse import discord_timestamp

if TYPE_CHECKING:
    from bot.client import PodiumBot

SHOWN = 20  # talks listed in the reply (Discord's 2,000 characters); the certificate lists them all


def record_text(record: Record, language: str) -> str:
    since = discord_timestamp(record.year.starts_at, "D")
    if not record.talks:
        text: Text = _(
            "You have not attended any talk yet this academic year (since {since}). A talk counts once it is over, "
            "when you checked in or held a seat.",
            since=since,
        )
        return render(text, language)
    lines = [
        _n(
            "**Your attendance this academic year** (since {since}): {count} talk, {hours} h.",
            "**Your attendance this academic year** (since {since}): {count} talks, {hours} h.",
            len(record.talks),
            since=since,
            hours=hours(record.total_minutes, language),
        )
    ]
    for talk in record.talks[-SHOWN:]:
        lines.append(
            _(
                "• **{title}**, {speaker}: {when}, {duration}",
                title=discord.utils.escape_markdown(talk.title),
                speaker=discord.utils.escape_markdown(talk.speaker),
                when=discord_timestamp(talk.start_at, "D"),
                duration=duration(talk.duration_min, language),
            )
        )
    hidden = len(record.talks) - SHOWN
    if hidden > 0:
        lines.append(
            _n(
                "…and {count} earlier talk, listed in the certificate.",
                "…and {count} earlier talks, listed in the certificate.",
                hidden,
            )
        )
    lines.append(
        _(
            "Need proof for your training credits? {certificate} sends you a PDF certificate by DM.",
            certificate=command("attendance certificate"),
        )
    )
    return "\n".join(render(line, language) for line in lines)


_REPORT_HEADERS = (
    _p("csv header", "display_name"),
    _p("csv header", "user_id"),
    _p("csv header", "talks_attended"),
    _p("csv header", "hours"),
)


def report_csv(rows: list[ReportRow], language: str) -> bytes:
    """One row per member, for the school's training-credit office; hours with a dot, as spreadsheets read."""
    return csv_bytes(
        [render(header, language) for header in _REPORT_HEADERS],
        ([csv_cell(row.display_name), str(row.user_id), row.talks, f"{row.minutes / 60:.2f}"] for row in rows),
    )


def report_summary(rows: list[ReportRow], first: date, last: date) -> Text:
    if not rows:
        return _(
            "Nobody attended a talk that started between {first} and {last} and is over. The attached CSV has only "
            "its headers.",
            first=first.isoformat(),
            last=last.isoformat(),
        )
    return _n(
        "{count} member attended talks that started between {first} and {last}: {hours} h in all. One row per "
        "member is in the attached CSV.",
        "{count} members attended talks that started between {first} and {last}: {hours} h in all. One row per "
        "member is in the attached CSV.",
        len(rows),
        first=first.isoformat(),
        last=last.isoformat(),
        hours=Hours(msgid="", minutes=sum(row.minutes for row in rows)),
    )


class Attendance(commands.Cog):
    attendance = app_commands.Group(
        name="attendance", description="Your attended talks and your attendance certificate", guild_only=True
    )

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @attendance.command(name="show", description="The talks you attended this academic year, with the total hours")
    async def show(self, interaction: discord.Interaction[PodiumBot]) -> None:
        bot = interaction.client
        record = await answer_soon(interaction, bot.certificates.record(guild_id(interaction), interaction.user.id))
        await respond(interaction, record_text(record, reader_language(interaction)))

    @attendance.command(name="certificate", description="Get your attendance certificate (PDF) by direct message")
    async def certificate(self, interaction: discord.Interaction[PodiumBot]) -> None:
        bot = interaction.client
        guild = guild_id(interaction)
        server_name = interaction.guild.name if interaction.guild is not None else str(guild)
        user = interaction.user

        async def offer_file() -> None:
            # DMs closed: the interaction token still works for 15 minutes, so the PDF comes here instead.
            language = reader_language(interaction)
            tz = await bot.service.zone(guild)
            shown = issued.certificate
            url = verify_link(bot.courier.public_url, shown)
            pdf = await asyncio.to_thread(certificate_pdf, shown, zone=tz, language=language, verify_url=url)
            await respond(
                interaction,
                _(
                    "I could not DM you your certificate (your direct messages are closed for this server), so here "
                    "it is.\n{message}",
                    message=certificate_message(shown, language, url),
                ),
                file=discord.File(io.BytesIO(pdf), filename=file_name(shown, language)),
            )

        issued = await answer_soon(
            interaction,
            bot.office.request_certificate(guild, user.id, user.display_name, server_name, undelivered=offer_file),
        )
        await respond(interaction, issued_text(issued.certificate))


def issued_text(certificate: Certificate) -> Text:
    return _n(
        "Your attendance certificate ({count} talk, {hours} h) is on its way by DM. Its verification code is `{code}`.",
        "Your attendance certificate ({count} talks, {hours} h) is on its way by DM. Its verification code is "
        "`{code}`.",
        len(certificate.talks),
        hours=Hours(msgid=str(certificate.total_minutes), minutes=certificate.total_minutes),
        code=certificate.shown_code,
    )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Attendance(bot))
