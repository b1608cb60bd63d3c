"""/email set|confirm|remove: a member's address for calendar invitations by email, confirmed with a code."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.email_addresses import CODE_DIGITS, CODE_TTL, EXAMPLE_SET, MAX_CODE_ATTEMPTS
from bot.emails import DEFAULT_ORGANIZER, Parties, code_email
from bot.errors import InputError, StateError
from bot.mailer import Mailer, MailError
from bot.replies import defer, guild_id, respond

if TYPE_CHECKING:
    from bot.client import PodiumBot

log = logging.getLogger(__name__)

NOT_AVAILABLE = (
    "Emailed invites are not available on this server's bot: its operator has not set up an email server. "
    "Your calendar invites still come by DM."
)


def _mailer(interaction: discord.Interaction[PodiumBot]) -> Mailer:
    mailer = interaction.client.mailer
    if mailer is None:
        raise StateError(NOT_AVAILABLE)
    return mailer


def _server_name(interaction: discord.Interaction[PodiumBot]) -> str:
    return interaction.guild.name if interaction.guild is not None else DEFAULT_ORGANIZER


class Email(commands.Cog):
    email = app_commands.Group(
        name="email", description="Also get your calendar invites by email (optional)", guild_only=True
    )

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @email.command(name="set", description="Give an email address for calendar invites; I email you a code")
    @app_commands.describe(address="Your email address, for example you@example.com")
    async def set_address(self, interaction: discord.Interaction[PodiumBot], address: str) -> None:
        mailer = _mailer(interaction)
        bot = interaction.client
        guild = guild_id(interaction)
        user = interaction.user
        request = await bot.emails.request_code(guild, user.id, address)
        await defer(interaction)  # the mail server may take a few seconds
        minutes = int(CODE_TTL.total_seconds() // 60)
        message = code_email(
            code=request.code,
            parties=Parties(mailer.sender, _server_name(interaction), request.address, user.display_name),
            expires_in=CODE_TTL,
            now=bot.service.clock(),
            message_id=mailer.message_id(f"podium-code-{secrets.token_hex(12)}"),
        )
        try:
            await mailer.send(message)
        except MailError as error:
            await bot.emails.withdraw_code(request)
            log.warning("Could not email a confirmation code (guild %s, member %s): %s", guild, user.id, error.reason)
            if error.permanent:
                raise InputError(
                    f"The mail server refused to deliver to `{request.address}` (it answered "
                    f"{error.reason.split()[0]}). Check the address for typos and try again with {EXAMPLE_SET}."
                ) from None
            raise StateError(
                "I could not send the email just now (the mail server is unreachable or busy), so nothing was "
                f"saved. Try again in a few minutes with `/email set address:{request.address}`."
            ) from None
        log.info("Emailed a confirmation code (guild %s, member %s)", guild, user.id)
        lines = [
            f"I emailed a {CODE_DIGITS}-digit code to `{request.address}`. Run `/email confirm code:` with it "
            f"within {minutes} minutes ({MAX_CODE_ATTEMPTS} tries).",
            "No email after a minute? Check your spam folder, or ask for a new code with `/email set` again.",
        ]
        if request.current is not None:
            lines.append(f"Until you confirm, invites keep going to `{request.current.address}`.")
        await respond(interaction, "\n".join(lines))

    @email.command(name="confirm", description="Confirm your email address with the code I emailed you")
    @app_commands.describe(code=f"The {CODE_DIGITS}-digit code from the email, for example 123456")
    async def confirm(self, interaction: discord.Interaction[PodiumBot], code: str) -> None:
        _mailer(interaction)
        bot = interaction.client
        guild = guild_id(interaction)
        user = interaction.user
        confirmation = await bot.office.confirm_email(guild, user.id, code, user.display_name)
        log.info("Member %s confirmed an email address in guild %s", user.id, guild)
        lines = [
            f"Confirmed: `{confirmation.email.address}` will get a calendar invitation for each talk you are "
            "confirmed for in this server, updated when a talk moves and withdrawn when it is cancelled or you "
            "unregister. DMs continue as before."
        ]
        if confirmation.owed:
            lines.append(f"I'm emailing the invitations for your {len(confirmation.owed)} upcoming talk(s) now.")
        lines.append("To stop these emails, use `/email remove`.")
        await respond(interaction, "\n".join(lines))

    @email.command(name="remove", description="Delete your email address; no more invites by email")
    async def remove(self, interaction: discord.Interaction[PodiumBot]) -> None:
        # Works even when email is turned off: members can always delete what the bot keeps about them.
        bot = interaction.client
        removal = await bot.emails.remove(guild_id(interaction), interaction.user.id)
        if removal.verified is not None:
            text = (
                f"Removed `{removal.verified.address}`: I will not email you about this server's talks any more. "
                "Calendar invites still come by DM."
            )
            if removal.pending is not None and removal.pending.address != removal.verified.address:
                text += f" The code sent to `{removal.pending.address}` no longer works either."
        elif removal.pending is not None:
            text = (
                f"Cancelled the confirmation of `{removal.pending.address}`: its code no longer works, and no "
                "address is kept for you in this server."
            )
        else:
            await respond(
                interaction,
                "You have no email address in this server, so there was nothing to remove. "
                f"Add one with {EXAMPLE_SET}.",
            )
            return
        await respond(interaction, f"{text} You can add an address again any time with `/email set`.")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Email(bot))
