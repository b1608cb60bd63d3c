"""Which language each reader gets: a member's own (last seen in their interactions), else their server's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot import store
from bot.batching import Batcher
from bot.database import Database
from bot.i18n import DEFAULT_LANGUAGE, language_of

# The server's preferred locale as Discord reports it (the client looks it up in its cache), or None.
PreferredLocale = Callable[[int], "str | None"]


class Languages:
    """Remembers members' languages and answers who reads what.

    Every interaction tells the member's locale; it is written only when it changed, and the writes of a
    crowd arriving together share one transaction, so a registration storm costs no extra commits.
    """

    def __init__(self, db: Database, clock: Callable[[], datetime], preferred: PreferredLocale) -> None:
        self.db = db
        self.clock = clock
        self.preferred = preferred
        self._known: dict[int, str] = {}
        self._writes: Batcher[tuple[int, str], None] = Batcher(self._save)

    async def seen(self, user_id: int, locale: object) -> str:
        """Note the locale of one of the member's interactions; returns the language it means."""
        language = language_of(locale)
        if self._known.get(user_id) != language:
            self._known[user_id] = language
            await self._writes.submit((user_id, language))
        return language

    async def _save(self, rows: Sequence[tuple[int, str]]) -> list[Exception | None]:
        latest = dict(rows)  # one member twice in a batch: the last locale wins
        async with self.db.transaction() as conn:
            await store.save_member_languages(conn, list(latest.items()), self.clock())
        return [None] * len(rows)

    async def server(self, guild_id: int) -> str:
        """What the whole server sees: /setup language:, else its preferred locale, else English."""
        async with self.db.reading() as conn:
            settings = await store.get_settings(conn, guild_id)
        return self.of_server(settings.language, guild_id)

    def of_server(self, chosen: str | None, guild_id: int) -> str:
        if chosen:
            return language_of(chosen)
        return language_of(self.preferred(guild_id), DEFAULT_LANGUAGE)

    async def members(self, guild_id: int, user_ids: Sequence[int]) -> dict[int, str]:
        """Each member's language for what reaches them outside an interaction (their own, else the server's)."""
        missing = [user_id for user_id in user_ids if user_id not in self._known]
        async with self.db.reading() as conn:
            stored = await store.member_languages(conn, missing) if missing else {}
            settings = await store.get_settings(conn, guild_id)
        self._known.update(stored)
        fallback = self.of_server(settings.language, guild_id)
        return {user_id: self._known.get(user_id, fallback) for user_id in user_ids}

    async def member(self, guild_id: int, user_id: int) -> str:
        return (await self.members(guild_id, [user_id]))[user_id]
