"""Who is owed which message: the outbox rows a change records in its own transaction, and whether a row
recorded earlier is still true when its turn to be sent comes.

Every function here runs inside the caller's transaction (see Database.transaction), so a change and the
messages it makes owed commit together: a crash right after a commit loses nothing, since the courier sends
every pending row at the next start. No Discord objects: the rules are tested on a real SQLite.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from bot import attendance_rows, joinlink, store
from bot.jobplan import FEEDBACK_WINDOW
from bot.models import (
    EMAIL_KINDS,
    EMAIL_TWINS,
    INVITE_KINDS,
    REMINDER_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Talk,
)
from bot.sql import Connection

# Longer than one send can take (discord.py's five tries with their waits, a history lookup), short enough
# that a row whose sender died goes out again soon, even before that sender's successor starts.
CLAIM_LEASE = timedelta(minutes=2)

_DM_OF = {email: dm for dm, email in EMAIL_TWINS.items()}
_INVITING = frozenset({DeliveryKind.INVITE_CONFIRMED, DeliveryKind.INVITE_PROMOTED, DeliveryKind.INVITE_UPDATED})


async def invites(
    conn: Connection,
    talk: Talk,
    kind: DeliveryKind,
    targets: Sequence[tuple[int, int]],
    now: datetime,
    *,
    email: bool,
    email_to: Collection[int] | None = None,
    due_at: datetime | None = None,
) -> list[Delivery]:
    """Record one invite DM per (member, key) and, when email is on, its twin for members with a verified
    address (only those in ``email_to`` when given). Each new row supersedes the member's older pending invites
    for the talk, so a member who registered and unregistered before the first DM went out gets only the last.
    With ``due_at`` the rows wait until then: a member's quick change of mind replaces them before they go.

    Returns the rows still to send.
    """
    if kind not in INVITE_KINDS:
        raise ValueError(f"not an invite: {kind}")
    rows = await store.ensure_deliveries(conn, talk, "user", kind, targets, now, due_at=due_at)
    await store.supersede_pending(conn, rows, INVITE_KINDS, now)
    if email and targets:
        allowed = [(member, key) for member, key in targets if email_to is None or member in email_to]
        with_address = await store.users_with_email(conn, talk.guild_id, [member for member, _ in allowed])
        twins = await store.ensure_deliveries(
            conn, talk, "user", EMAIL_TWINS[kind], [(m, k) for m, k in allowed if m in with_address], now, due_at=due_at
        )
        await store.supersede_pending(conn, twins, EMAIL_KINDS, now)
        rows += twins
    return rows


async def emailed_invites(conn: Connection, guild_id: int, user_id: int, now: datetime) -> list[Delivery]:
    """A member who just confirmed an address is owed the invitation of every upcoming talk they are confirmed
    for, keyed by registration like the DM invite, so confirming again (or a new address) never repeats one."""
    owed: list[Delivery] = []
    for talk, registration in await store.member_registrations(conn, guild_id, user_id, now):
        if registration.confirmed and not talk.cancelled:
            owed += await store.ensure_deliveries(
                conn, talk, "user", DeliveryKind.EMAIL_CONFIRMED, [(user_id, registration.id)], now
            )
    return owed


async def reminder(
    conn: Connection, talk: Talk, offset: int, due_at: datetime, channel_id: int | None, now: datetime
) -> list[Delivery]:
    """The reminder at ``offset`` minutes: one DM per member confirmed by ``due_at`` with reminders on, and one
    post in the announcement channel. Returns the rows still to send; when the talk has started they are all
    recorded as missed instead (a reminder after the start helps nobody)."""
    members = await store.reminder_recipients(conn, talk, due_at)
    posts = await store.ensure_deliveries(
        conn, talk, "channel", DeliveryKind.REMINDER_POST, [(channel_id, offset)] if channel_id else [], now
    )
    dms = await store.ensure_deliveries(conn, talk, "user", DeliveryKind.REMINDER, [(m, offset) for m in members], now)
    if talk.has_started(now):
        await store.mark_pending_missed(conn, talk.id, REMINDER_KINDS, offset, now)
        return []
    return posts + dms


async def stale_reason(conn: Connection, delivery: Delivery, talk: Talk, now: datetime) -> str | None:
    """Why a pending row is no longer true, or None when it still is.

    A confirmation retried for hours after a 500 must not put the talk back in the calendar of a member who
    unregistered in the meantime; a reminder must not reach someone who gave up their seat.
    """
    if delivery.kind in REMINDER_KINDS:
        if talk.cancelled or talk.has_started(now):
            return "the talk started or was cancelled before sending"
        if delivery.kind is DeliveryKind.REMINDER:
            registration = await store.get_registration(conn, talk.id, delivery.recipient_id)
            if registration is None or not registration.confirmed:
                return "the member is no longer confirmed"
        return None
    if delivery.kind is DeliveryKind.JOIN_LINK:
        return await joinlink.stale_reason(conn, delivery, talk, now)
    if delivery.kind is DeliveryKind.QUESTIONS:
        # The ranked questions for the speaker's account (bot/questions.py): useful only before the start, and
        # only to the account that is still the talk's speaker.
        if talk.cancelled or talk.has_started(now):
            return "the talk started or was cancelled before sending"
        return None if talk.speaker_user_id == delivery.recipient_id else "the talk has another speaker account now"
    if delivery.kind is DeliveryKind.FEEDBACK_REQUEST:
        # Asked at the end of the talk (bot/feedback.py); a request that could not leave while answers are
        # accepted is not sent after.
        if talk.cancelled:
            return "the talk was cancelled"
        if now >= talk.end_at + FEEDBACK_WINDOW:
            return "feedback on the talk is closed"
        if not await attendance_rows.attended(conn, talk.id, delivery.recipient_id):
            return "the member did not attend"
        return None
    kind = _DM_OF.get(delivery.kind, delivery.kind)
    registration = await store.get_registration(conn, talk.id, delivery.recipient_id)
    if kind in _INVITING:
        if talk.cancelled:
            return "the talk was cancelled"
        if talk.is_over(now):
            return "the talk is over"
        if registration is None or not registration.confirmed:
            return "the member is no longer confirmed"
        if kind is DeliveryKind.INVITE_UPDATED:
            return None if delivery.key == talk.sequence else "a newer version of the talk was sent"
        return None if registration.id == delivery.key else "the member registered again since"
    if kind is DeliveryKind.INVITE_WITHDRAWN and registration is not None:
        return "the member registered again since"
    return None


async def claim(conn: Connection, delivery_id: int, now: datetime) -> Delivery | DeliveryStatus:
    """Take a row for sending: the fresh row (with when a send of it last started) when it is still owed,
    after recording that a send starts now; otherwise its final status (already sent, failed, or stale,
    which is recorded as missed). A row another process is sending (its lease not over) stays pending here.

    The row is read under its lock, so two processes claiming it at once take turns, and the second sees the
    first one's lease."""
    delivery = await store.get_delivery(conn, delivery_id, lock=True)
    if delivery is None:
        return DeliveryStatus.MISSED
    if delivery.status is not DeliveryStatus.PENDING:
        return delivery.status
    if delivery.claimed_until is not None and delivery.claimed_until > now:
        return DeliveryStatus.PENDING
    talk = await store.get_talk_by_id(conn, delivery.talk_id)
    reason = "the talk no longer exists" if talk is None else await stale_reason(conn, delivery, talk, now)
    if reason is not None:
        await store.finish_delivery(conn, delivery.id, DeliveryStatus.MISSED, now, error=reason)
        return DeliveryStatus.MISSED
    await store.mark_attempted(conn, delivery.id, now, now + CLAIM_LEASE)
    return delivery
