"""SQL of the private join link: the outbox rows it owes (the rest is in bot/store.py)."""

from __future__ import annotations

from bot.models import DeliveryKind
from bot.sql import Connection


async def forget_join_links(conn: Connection, talk_id: int, key: int | None = None) -> None:
    """Forget the join-link DMs recorded for a talk (only those of one link with ``key``), so they are owed
    again: the talk moved before its new release time, or a link the members had before came back."""
    await conn.execute(
        "DELETE FROM deliveries WHERE talk_id = ? AND kind = ? AND (CAST(? AS INTEGER) IS NULL OR key = ?)",
        (talk_id, DeliveryKind.JOIN_LINK.value, key, key),
    )


async def reminded_with_link(conn: Connection, talk_id: int, offset: int) -> set[int]:
    """Members whose reminder at ``offset`` (the release time) is sent or still to go: it carries the link."""
    rows = await conn.execute_fetchall(
        """
        SELECT recipient_id FROM deliveries
        WHERE talk_id = ? AND kind = ? AND key = ? AND recipient_type = 'user' AND status IN ('pending', 'sent')
        """,
        (talk_id, DeliveryKind.REMINDER.value, offset),
    )
    return {int(row[0]) for row in rows}


async def join_leads(conn: Connection) -> dict[int, int]:
    """Every server's join_link_before that is set (the others use the default)."""
    rows = await conn.execute_fetchall(
        "SELECT guild_id, join_link_before FROM guild_settings WHERE join_link_before IS NOT NULL"
    )
    return {int(row[0]): int(row[1]) for row in rows}
