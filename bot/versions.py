"""Per-server change counters, moved by the database itself whenever a row the web side shows changes.

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

On PostgreSQL, where other processes write too, real triggers send ``NOTIFY podium_changed`` with the area
and server; the notification is delivered after the writer's commit, to every process listening, which
bumps its counters then. A reader that took the counters before the notification arrived stores a render
under counters that the notification moves: the next request renders afresh. If the listening connection
drops, the counters stop being trusted (every request renders) rather than risk a stale page.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from bot.database import Database
from bot.sql import POSTGRESQL

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


_NOTIFY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('{_FUNCTION}', TG_ARGV[0] || ':' || OLD.guild_id); END IF;
    IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('{_FUNCTION}', TG_ARGV[0] || ':' || NEW.guild_id); END IF;
    RETURN NULL;
END $$"""


def _postgresql_triggers() -> list[str]:
    statements = [_NOTIFY_FUNCTION]
    for table, area, columns in _WATCHED:
        of = f" OF {columns}" if columns else ""
        statements.append(
            f"CREATE OR REPLACE TRIGGER podium_watch_{table} AFTER INSERT OR UPDATE{of} OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {_FUNCTION}('{area.value}')"
        )
    return statements


class ChangeCounters:
    """How often each server's programme and people changed since the web side started watching."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._blind = 0  # > 0 once the notifications of another process can no longer be heard

    def version(self, guild_id: int) -> tuple[int, int]:
        if self._blind:
            self._blind += 1  # a new version every time: nothing rendered is reused
            return (-self._blind, 0)
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
        """Install the function and the triggers (idempotent), and on PostgreSQL listen to them."""
        if db.dialect == POSTGRESQL:
            from bot.postgres_backend import PostgresDatabase

            assert isinstance(db, PostgresDatabase)
            await db.install(_postgresql_triggers())
            await db.listen(_FUNCTION, self._from_notification, self._deaf)
            return
        from bot.sqlite_backend import SqliteConnection

        async with db.reading() as conn:
            assert isinstance(conn, SqliteConnection)
            await conn.create_function(_FUNCTION, 2, self._from_sql)
            for statement in _triggers():
                await conn.execute(statement)

    def _from_notification(self, payload: str) -> None:
        area, _, guild = payload.partition(":")
        self.bump(area, int(guild) if guild.isdigit() else None)

    def _deaf(self) -> None:
        log.warning("Lost the database notifications of changes: the web side renders every request afresh")
        self._blind = max(self._blind, 1)

    def _from_sql(self, area: str, guild_id: int | None) -> None:
        self.bump(area, guild_id)
