"""Posting talk announcements and keeping them current."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.command_names import command
from bot.embeds import talk_embed, talk_view
from bot.errors import StateError
from bot.i18n import DEFAULT_LANGUAGE, _
from bot.models import GuildSettings, Talk
from bot.pacing import Pacer
from bot.series import SeriesDates, SeriesService
from bot.series_messages import series_embed, series_view
from bot.talks import TalkService

if TYPE_CHECKING:
    from bot.event_mirror import EventMirror
    from bot.languages import Languages

log = logging.getLogger(__name__)


class Announcer:
    """Posts announcements and edits them in place when a talk or its seats change.

    Edits are coalesced per talk: when a hundred members register at once, the message is edited
    while the first edit is in flight plus once more with the final count, not a hundred times.
    The whole server reads an announcement, so it speaks the server's language (``/setup language:``).

    A seminar series has one announcement for all its dates (bot/series_messages.py), whose ids every date
    carries: anything that posts or refreshes one of its dates posts or refreshes that message.
    """

    def __init__(
        self,
        client: discord.Client,
        service: TalkService,
        pacer: Pacer | None = None,
        languages: Languages | None = None,
    ) -> None:
        self.client = client
        self.service = service
        self.languages = languages  # None: English (tests that need no server language)
        # Shared with the courier: during a registration storm the edits and the invite DMs together stay
        # under Discord's global limit.
        self._pacer = pacer or Pacer()
        self.series = SeriesService(service)
        # Edits are coalesced per announcement: a talk's, or a series' (any of its dates changing).
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._dirty: set[tuple[str, int]] = set()
        # A series' dates all fall due for their announce_at at once: one posts, the others find it posted.
        self._posting: dict[int, asyncio.Lock] = {}
        self.mirror: EventMirror | None = None  # the talks' native events follow their announcements

    async def _mirror(self, talk_id: int) -> None:
        if self.mirror is None:
            return
        try:
            await self.mirror.sync(talk_id)
        except Exception:
            # The event is a copy: the periodic reconciliation brings it back in line.
            log.exception("The event of talk %s was not brought up to date", talk_id)

    async def _mirror_series(self, dates: SeriesDates) -> None:
        # Each date of a series is a talk of its own in the Events tab.
        for talk in dates.talks:
            await self._mirror(talk.id)

    async def publish(self, talk: Talk, *, nonce: str | None = None) -> Talk:
        """Post the announcement (again) in the server's channel; returns the talk with its message ids.

        Raises StateError with what to do when there is no channel or the bot may not post there.
        Scheduled posts pass a nonce, so a retry after a crash returns the message already posted.
        """
        if talk.series_id is not None:
            await self.publish_series(talk.guild_id, talk.series_id)
            return await self.service.get_talk(talk.guild_id, talk.id)
        settings = await self.service.settings(talk.guild_id)
        announce = command("talk announce", talk=talk.id)
        now = self.service.clock()
        seats = await self.service.seats(talk)
        language = self._of_server(settings.language, talk.guild_id)
        embed, view = talk_embed(talk, seats, now, language), talk_view(talk, now, language)
        message = await self._post(settings, embed, view, nonce, announce)
        previous = (talk.announcement_channel_id, talk.announcement_message_id)
        updated = await self.service.set_announcement(talk, message.channel.id, message.id)
        if previous[0] is not None and previous[1] is not None and previous[1] != message.id:
            await self._delete_quietly(previous[0], previous[1])
        log.info("Announced talk %s in channel %s (message %s)", talk.id, message.channel.id, message.id)
        await self._mirror(talk.id)
        return updated

    async def publish_series(
        self, guild_id: int, series_id: int, *, nonce: str | None = None, only_unannounced: bool = False
    ) -> SeriesDates:
        """Post (again) the series' one announcement and point every date at it; with ``only_unannounced`` (the
        scheduled post, due once per date) do nothing if it is already posted."""
        lock = self._posting.setdefault(series_id, asyncio.Lock())
        async with lock:
            dates = await self.series.get(guild_id, series_id)
            posted = [talk for talk in dates.talks if talk.announcement_message_id is not None]
            if only_unannounced and posted:
                return dates
            settings = await self.service.settings(guild_id)
            now = self.service.clock()
            seats = await self.series.seats(dates)
            language = self._of_server(settings.language, guild_id)
            embed = series_embed(dates, seats, now, language)
            view = series_view(dates, seats, now, language, dates.series.zone)
            announce = command("talk announce", talk=dates.talks[0].id)
            message = await self._post(settings, embed, view, nonce, announce)
            await self.series.set_announcement(series_id, message.channel.id, message.id)
            for previous in {(t.announcement_channel_id, t.announcement_message_id) for t in posted}:
                if previous[0] is not None and previous[1] is not None and previous[1] != message.id:
                    await self._delete_quietly(previous[0], previous[1])
            log.info("Announced series %s in channel %s (message %s)", series_id, message.channel.id, message.id)
            announced = await self.series.get(guild_id, series_id)
        await self._mirror_series(announced)
        return announced

    async def _post(
        self,
        settings: GuildSettings,
        embed: discord.Embed,
        view: discord.ui.View,
        nonce: str | None,
        announce: object,
    ) -> discord.Message:
        """Send an announcement to the server's channel; raises StateError with what to do when it cannot."""
        if settings.channel_id is None:
            raise StateError(
                _(
                    "No announcement channel is set for this server. Choose one with {setup}, then run {announce}.",
                    setup=command("setup", channel=""),
                    announce=announce,
                )
            )
        channel = self.client.get_partial_messageable(settings.channel_id, guild_id=settings.guild_id)
        try:
            # discord.py types nonce as str | int, with no None: pass it only when there is one.
            if nonce is None:
                return await channel.send(embed=embed, view=view)
            return await channel.send(embed=embed, view=view, nonce=nonce)
        except discord.Forbidden:
            raise StateError(
                _(
                    "I am not allowed to post in <#{channel}>. Give me the View Channel, Send Messages and Embed "
                    "Links permissions there, then run {announce}.",
                    channel=settings.channel_id,
                    announce=announce,
                )
            ) from None
        except discord.NotFound:
            raise StateError(
                _(
                    "The announcement channel no longer exists. Pick another with {setup}, then run {announce}.",
                    setup=command("setup", channel=""),
                    announce=announce,
                )
            ) from None

    async def _delete_quietly(self, channel_id: int, message_id: int) -> None:
        # The re-post replaces the old message; if it is already gone there is nothing to do.
        try:
            await self.client.get_partial_messageable(channel_id).get_partial_message(message_id).delete()
        except discord.HTTPException as error:
            log.info("Old announcement %s not deleted: %s", message_id, error)

    def refresh(self, talk_id: int, guild_id: int, *, series_id: int | None = None) -> None:
        """Bring the talk's announcement (its series', for a date of a series) up to date soon, merging bursts of
        changes into few edits."""
        key = ("series", series_id) if series_id is not None else ("talk", talk_id)
        if key in self._running:
            self._dirty.add(key)
            return
        task = asyncio.create_task(self._refresh_loop(key, guild_id), name=f"announcement-{key[0]}-{key[1]}")
        self._running[key] = task
        task.add_done_callback(lambda _: self._running.pop(key, None))

    async def _refresh_loop(self, key: tuple[str, int], guild_id: int) -> None:
        kind, record = key
        while True:
            self._dirty.discard(key)
            try:
                if kind == "series":
                    await self.refresh_series_now(guild_id, record)
                else:
                    await self.refresh_now(await self.service.get_talk(guild_id, record))
            except Exception:
                log.exception("Could not update the announcement of %s %s", kind, record)
            if key not in self._dirty:
                return

    async def refresh_series_now(self, guild_id: int, series_id: int) -> None:
        dates = await self.series.get(guild_id, series_id)
        first = dates.talks[0]
        if first.announcement_channel_id is None or first.announcement_message_id is None:
            return
        now = self.service.clock()
        seats = await self.series.seats(dates)
        language = await self.server_language(guild_id)
        message = self.client.get_partial_messageable(
            first.announcement_channel_id, guild_id=guild_id
        ).get_partial_message(first.announcement_message_id)
        await self._pacer.wait()
        try:
            await message.edit(
                embed=series_embed(dates, seats, now, language),
                view=series_view(dates, seats, now, language, dates.series.zone),
            )
        except discord.NotFound:
            log.warning("The announcement of series %s was deleted; /talk announce posts it again", series_id)
        await self._mirror_series(dates)

    async def refresh_now(self, talk: Talk) -> None:
        if talk.announcement_channel_id is None or talk.announcement_message_id is None:
            return
        if talk.series_id is not None:
            await self.refresh_series_now(talk.guild_id, talk.series_id)
            return
        now = self.service.clock()
        seats = await self.service.seats(talk)
        language = await self.server_language(talk.guild_id)
        message = self.client.get_partial_messageable(
            talk.announcement_channel_id, guild_id=talk.guild_id
        ).get_partial_message(talk.announcement_message_id)
        await self._pacer.wait()
        try:
            await message.edit(embed=talk_embed(talk, seats, now, language), view=talk_view(talk, now, language))
        except discord.NotFound:
            log.warning("The announcement of talk %s was deleted; /talk announce posts it again", talk.id)
        await self._mirror(talk.id)

    async def server_language(self, guild_id: int) -> str:
        return DEFAULT_LANGUAGE if self.languages is None else await self.languages.server(guild_id)

    def _of_server(self, chosen: str | None, guild_id: int) -> str:
        # The settings are already read: no second query for the language they hold.
        return DEFAULT_LANGUAGE if self.languages is None else self.languages.of_server(chosen, guild_id)

    async def drain(self) -> None:
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)
