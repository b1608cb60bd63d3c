"""The Join link button on announcements: the private link, ephemerally, to confirmed members once released."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from bot.embeds import JOIN_ID
from bot.joinlink import JoinLinks
from bot.joinlink_messages import access_text
from bot.replies import answer_soon, guild_id, respond
from cogs.members import _TalkButton, _template

if TYPE_CHECKING:
    import discord

    from bot.client import PodiumBot


class JoinButton(_TalkButton, template=_template(JOIN_ID)):
    async def act(self, interaction: discord.Interaction[PodiumBot]) -> None:
        links = JoinLinks(interaction.client.service)
        access = await answer_soon(interaction, links.access(guild_id(interaction), self.talk_id, interaction.user.id))
        await respond(interaction, access_text(access))


class JoinLink(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(JoinButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(JoinButton)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(JoinLink(bot))
