"""/email set|confirm|remove: a member's address for calendar invitations by email, confirmed with a code.

/email remove also works in a direct message to the bot, where it removes the member's addresses in every
server: a member who left a server can still stop its emails.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_names import command
from bot.email_addresses import CODE_DIGITS, CODE_TTL, EXAMPLE_SET, MAX_CODE_ATTEMPTS, Removal
from bot.emails import Parties, code_email
from bot.errors import InputError, StateError
from bot.i18n import Text, _, _n, render
from bot.mailer import Mailer, MailError
from bot.replies import defer, guild_id, reader_language, respond

if TYPE_CHECKING:
    from bot.client import PodiumBot

log = logging.getLogger(__name__)

NOT_AVAILABLE = _(
    "Emailed invites are not available on this server's bot: its operator has not set up an email server. "
    "Your calendar invites still come by DM."
)


def _mailer(interaction: discord.Interaction[PodiumBot]) -> Mailer:
    mailer = interaction.client.mailer
    if mailer is None:
        raise StateError(NOT_AVAILABLE)
    return mailer


def _in_server(interaction: discord.Interaction[PodiumBot], subcommand: str) -> int:
    if interaction.guild_id is None:
        raise StateError(
            _(
                "Run {command} in the server whose talks you want by email: each server keeps its own address. "
                "In a direct message, only {remove} works (it removes your addresses in every server).",
                command=command(f"email {subcommand}"),
                remove=command("email remove"),
            )
        )
    return guild_id(interaction)


def _server_name(interaction: discord.Interaction[PodiumBot]) -> str | None:
    return interaction.guild.name if interaction.guild is not None else None


def _removal_text(removal: Removal) -> Text | None:
    """What one server's removal did, or None when nothing was kept there."""
    if removal.verified is not None:
        if removal.pending is not None and removal.pending.address != removal.verified.address:
            return _(
                "Removed `{address}`, and the code sent to `{pending}` no longer works",
                address=removal.verified.address,
                pending=removal.pending.address,
            )
        return _("Removed `{address}`", address=removal.verified.address)
    if removal.pending is not None:
        return _(
            "Cancelled the confirmation of `{address}` (its code no longer works)", address=removal.pending.address
        )
    return None


class Email(commands.Cog):
    # Discord sets where a command works on the whole group: set and confirm answer in a DM that they need a
    # server; remove works there on purpose.
    email = app_commands.Group(
        name="email",
        description="Also get your calendar invites by email (optional)",
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=False),
    )

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @email.command(name="set", description="Give an email address for calendar invites; I email you a code")
    @app_commands.describe(address="Your email address, for example you@example.com")
    async def set_address(self, interaction: discord.Interaction[PodiumBot], address: str) -> None:
        guild = _in_server(interaction, "set")
        mailer = _mailer(interaction)
        bot = interaction.client
        user = interaction.user
        request = await bot.emails.request_code(guild, user.id, address)
        await defer(interaction)  # the mail server may take a few seconds
        minutes = int(CODE_TTL.total_seconds() // 60)
        parties = Parties(
            sender=mailer.sender,
            sender_name=mailer.sender_name,
            server_name=_server_name(interaction),
            address=request.address,
            attendee_name=user.display_name,
            unsubscribe_url=await bot.unsubscribes.link(guild, user.id, request.address),
        )
        message = code_email(
            code=request.code,
            parties=parties,
            expires_in=CODE_TTL,
            now=bot.service.clock(),
            message_id=mailer.message_id(f"podium-code-{secrets.token_hex(12)}"),
            # The member who asked reads it: in their language, as the reply that tells them to look.
            language=reader_language(interaction),
        )
        try:
            await mailer.send(message)
        except MailError as error:
            await bot.emails.withdraw_code(request)
            log.warning("Could not email a confirmation code (guild %s, member %s): %s", guild, user.id, error.reason)
            if error.permanent:
                raise InputError(
                    _(
                        "The mail server refused to deliver to `{address}` (it answered {reply}). Check the address "
                        "for typos and try again with {example}.",
                        address=request.address,
                        reply=error.reason.split()[0],
                        example=EXAMPLE_SET,
                    )
                ) from None
            raise StateError(
                _(
                    "I could not send the email just now (the mail server is unreachable or busy), so nothing was "
                    "saved. Try again in a few minutes with {again}.",
                    again=command("email set", address=request.address),
                )
            ) from None
        log.info("Emailed a confirmation code (guild %s, member %s)", guild, user.id)
        lines = [
            _n(
                "I emailed a {digits}-digit code to `{address}`. Run {confirm} with it within {count} minute "
                "({tries} tries).",
                "I emailed a {digits}-digit code to `{address}`. Run {confirm} with it within {count} minutes "
                "({tries} tries).",
                minutes,
                digits=CODE_DIGITS,
                address=request.address,
                confirm=command("email confirm", code=""),
                tries=MAX_CODE_ATTEMPTS,
            ),
            _(
                "No email after a minute? Check your spam folder, or ask for a new code with {again} again.",
                again=command("email set"),
            ),
        ]
        if request.current is not None:
            lines.append(_("Until you confirm, invites keep going to `{address}`.", address=request.current.address))
        language = reader_language(interaction)
        await respond(interaction, "\n".join(render(line, language) for line in lines))

    @email.command(name="confirm", description="Confirm your email address with the code I emailed you")
    @app_commands.describe(code=f"The {CODE_DIGITS}-digit code from the email, for example 123456")
    async def confirm(self, interaction: discord.Interaction[PodiumBot], code: str) -> None:
        guild = _in_server(interaction, "confirm")
        _mailer(interaction)
        bot = interaction.client
        user = interaction.user
        confirmation = await bot.office.confirm_email(guild, user.id, code, user.display_name)
        log.info("Member %s confirmed an email address in guild %s", user.id, guild)
        lines = [
            _(
                "Confirmed: `{address}` will get a calendar invitation for each talk you are confirmed for in this "
                "server, updated when a talk moves and withdrawn when it is cancelled or you unregister. DMs "
                "continue as before.",
                address=confirmation.email.address,
            )
        ]
        if confirmation.owed:
            lines.append(
                # English keeps one form ("talk(s)"); languages with a catalogue write both.
                _n(
                    "I'm emailing the invitations for your {count} upcoming talk(s) now.",
                    "I'm emailing the invitations for your {count} upcoming talk(s) now.",
                    len(confirmation.owed),
                )
            )
        lines.append(
            _(
                "To stop these emails, use {remove} (here or in a direct message to me), or the unsubscribe link in "
                "any of them.",
                remove=command("email remove"),
            )
        )
        language = reader_language(interaction)
        await respond(interaction, "\n".join(render(line, language) for line in lines))

    @email.command(name="remove", description="Delete your email address; no more invites by email")
    async def remove(self, interaction: discord.Interaction[PodiumBot]) -> None:
        # Works even when email is turned off: members can always delete what the bot keeps about them.
        bot = interaction.client
        if interaction.guild_id is None:
            await self._remove_everywhere(interaction)
            return
        removal = await bot.emails.remove(interaction.guild_id, interaction.user.id)
        text = _removal_text(removal)
        if text is None:
            await respond(
                interaction,
                _(
                    "You have no email address in this server, so there was nothing to remove. Add one with {example}.",
                    example=EXAMPLE_SET,
                ),
            )
            return
        await respond(
            interaction,
            _(
                "{removed}: I will not email you about this server's talks any more. Calendar invites still come by "
                "DM. You can add an address again any time with {again}.",
                removed=text,
                again=command("email set"),
            ),
        )

    async def _remove_everywhere(self, interaction: discord.Interaction[PodiumBot]) -> None:
        bot = interaction.client
        removals = await bot.emails.remove_everywhere(interaction.user.id)
        lines: list[Text] = []
        for removal in removals:
            text = _removal_text(removal)
            if text is not None:
                server = bot.server_name(removal.guild_id)
                if server:
                    line = _(
                        "- {removed} in the server **{server}**.",
                        removed=text,
                        server=discord.utils.escape_markdown(server),
                    )
                else:
                    line = _("- {removed} in a server I left.", removed=text)
                lines.append(line)
        log.info("Member %s removed their email addresses in %d servers (from a DM)", interaction.user.id, len(lines))
        if not lines:
            await respond(interaction, _("You have no email address in any server, so there was nothing to remove."))
            return
        lines.insert(0, _("I will not email you from any server any more:"))
        lines.append(
            _(
                "Calendar invites still come by DM. To get emails again, run {again} in a server.",
                again=command("email set"),
            )
        )
        language = reader_language(interaction)
        await respond(interaction, "\n".join(render(line, language) for line in lines))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Email(bot))
