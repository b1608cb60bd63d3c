"""Per-server change counters, moved by SQLite itself whenever a row the web side shows changes.

The web side keeps each rendered feed and page until its server's counters move. The counters are bumped by
TEMP triggers on the bot's own connection, so every write path counts (commands, buttons, the import, timed
jobs, code written later) without any of them having to remember to. They live in memory only: after a
restart everything is rendered afresh anyway. TEMP triggers belong to this connection alone, so another
program writing to the database file (an operator's sqlite3 shell) is not counted, and the pages it changed
stay as they were until the next change the bot makes or a restart.

Why this is safe without reading under the database lock: a writer bumps the counter inside its transaction,
while it holds the lock. A reader takes the counters first and reads the rows afterwards, under the lock; so
either it saw the bump (and its rows come after the commit), or the bump happened after it looked (and the
counters it stored no longer match the next time). A rolled-back write bumps too: one needless render.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from bot.database import Database

log = logging.getLogger(__name__)

_FUNCTION = "podium_changed"


class Area(StrEnum):
    PROGRAMME = "programme"  # talks and the server's settings: every feed, page and talk file
    PEOPLE = "people"  # registrations and walk-ins (seats, waitlist places) and personal feed tokens


# (table, area, which UPDATEs count: None for all of them).
_WATCHED: tuple[tuple[str, Area, str | None], ...] = (
    ("talks", Area.PROGRAMME, None),
    ("guild_settings", Area.PROGRAMME, None),
    ("registrations", Area.PEOPLE, None),
    ("checkins", Area.PEOPLE, None),  # a walk-in takes a seat (bot/checkin.py)
    # A fetch only stamps last_used_at: that must not make every personal feed look changed.
    ("calendar_tokens", Area.PEOPLE, "token_hash, guild_id, user_id"),
)


def _triggers() -> list[str]:
    statements = []
    for table, area, columns in _WATCHED:
        of = f" OF {columns}" if columns else ""
        for event, rows in (
            ("INSERT", ("NEW",)),
            (f"UPDATE{of}", ("OLD", "NEW")),
            ("DELETE", ("OLD",)),
        ):
            name = f"podium_watch_{table}_{event.split()[0].lower()}"
            calls = ", ".join(f"{_FUNCTION}('{area.value}', {row}.guild_id)" for row in rows)
            statements.append(
                f"CREATE TEMP TRIGGER IF NOT EXISTS {name} AFTER {event} ON main.{table} BEGIN SELECT {calls}; END"
            )
    return statements


class ChangeCounters:
    """How often each server's programme and people changed since the web side started watching."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}

    def version(self, guild_id: int) -> tuple[int, int]:
        return (
            self._counts.get((Area.PROGRAMME.value, guild_id), 0),
            self._counts.get((Area.PEOPLE.value, guild_id), 0),
        )

    def bump(self, area: str, guild_id: int | None) -> None:
        """Called by SQLite, on the database's thread, in the middle of a statement: it must never fail."""
        try:
            key = (str(area), int(guild_id or 0))
            self._counts[key] = self._counts.get(key, 0) + 1
        except Exception:  # an exception here would fail the member's write
            log.exception("Could not count a change of %s in server %s", area, guild_id)

    async def watch(self, db: Database) -> None:
        """Install the function and the triggers on the bot's connection (idempotent)."""
        async with db.reading() as conn:
            await conn.create_function(_FUNCTION, 2, self._from_sql)
            for statement in _triggers():
                await conn.execute(statement)

    def _from_sql(self, area: str, guild_id: int | None) -> None:
        self.bump(area, guild_id)
