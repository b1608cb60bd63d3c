"""Who may register for a talk, and from when: eligible roles and a priority window.

An organizer may reserve a talk for members with one of some roles (``eligible_roles``), and may let members
with a priority role (``priority_roles``) register from the announcement on while everyone else waits until
``priority_until``. The rules are checked in the registration's transaction (bot/talks.py), for every entry
point, from the member's role ids that the entry point read from Discord. They are never checked again when the
waitlist promotes someone: a member who was eligible when they registered keeps their place, whatever the
organizer changes afterwards. No Discord objects here.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.command_names import option
from bot.errors import InputError, PermissionDeniedError, PodiumError, StateError
from bot.i18n import _, _n
from bot.models import Talk
from bot.timeparse import date_example, discord_timestamp, parse_when, shown, typed_date

ROLES_MAX = 10  # per option: enough for every year of a curriculum; more is better said with one role
ROLES_EXAMPLE = _("@Year 1 @Year 2")  # role names to mention, in the reader's language
CLEAR = "-"
# Discord sends a role picked after typing @ as <@&id>; an organizer may also paste bare ids (Developer Mode's
# "Copy Role ID"). Mentions typed back to back (<@&1><@&2>) are still two roles.
_SEPARATORS = re.compile(r"[\s,]+")
_MENTIONS = re.compile(r"(?:<@&[0-9]{1,20}>)+")
_MENTION_ID = re.compile(r"<@&([0-9]{1,20})>")
_BARE_ID = re.compile(r"[0-9]{1,20}")
# What Discord sends for @everyone and @here typed into a text option: plain text, not a mention.
_EVERYONE_WORDS = frozenset({"@everyone", "@here"})


def mentions(roles: Collection[int]) -> str:
    """``<@&1>, <@&2>``: Discord shows each as the role's name. Messages are sent with no mention allowed (see
    bot/client.py), and embeds never ping, so naming a role this way notifies nobody."""
    return ", ".join(f"<@&{role}>" for role in sorted(roles))


# --- what organizers type ------------------------------------------------------------------------------------


def parse_roles(value: str, *, name: str, guild_id: int, server_roles: Collection[int]) -> frozenset[int]:
    """The roles an organizer named in ``name`` (an option), checked against the server's roles; ``-`` is none.

    The @everyone role (whose id is the server's) restricts nothing, so it is refused rather than kept.
    """
    cleaned = value.strip()
    if cleaned == CLEAR:
        return frozenset()
    found: list[int] = []
    for token in _SEPARATORS.split(cleaned):
        if not token:
            continue
        if token.lower() in _EVERYONE_WORDS:
            raise _everyone(name)
        if _MENTIONS.fullmatch(token):
            ids = [int(found_id) for found_id in _MENTION_ID.findall(token)]
        elif _BARE_ID.fullmatch(token):
            ids = [int(token)]
        else:
            raise _not_a_role(name, token)
        for role in ids:
            if role == guild_id:
                raise _everyone(name)
            if role not in server_roles:
                raise InputError(
                    _(
                        "{name}: `{value}` is not a role of this server. Type @ and pick each role from the list "
                        "Discord shows, for example `{example}`.",
                        name=option(name),
                        value=shown(token if len(ids) == 1 else f"<@&{role}>"),
                        example=ROLES_EXAMPLE,
                    )
                )
            if role not in found:
                found.append(role)
    if not found:
        raise _not_a_role(name, cleaned)
    if len(found) > ROLES_MAX:
        raise InputError(
            _(
                "{name} names {count} roles; the limit is {limit}. Name fewer roles: a role that groups them "
                "(a whole year, say) does the same.",
                name=option(name),
                count=len(found),
                limit=ROLES_MAX,
            )
        )
    return frozenset(found)


def _everyone(name: str) -> InputError:
    return InputError(
        _(
            "{name} cannot include @everyone: every member has it, so it would restrict nothing. Name the roles "
            "you mean, for example `{example}`, or leave {name} out.",
            name=option(name),
            example=ROLES_EXAMPLE,
        )
    )


def _not_a_role(name: str, token: str) -> InputError:
    return InputError(
        _(
            "{name}: `{value}` is not a role. Type @ and pick each role from the list Discord shows, for example "
            "`{example}`, or give role ids separated by spaces or commas.",
            name=option(name),
            value=shown(token),
            example=ROLES_EXAMPLE,
        )
    )


def role_fields(
    *,
    eligible: str | None,
    priority: str | None,
    until: str | None,
    guild_id: int,
    server_roles: Collection[int],
    tz: ZoneInfo,
    language: str,
    now: datetime,
) -> dict[str, Any]:
    """The talk columns these options set (only those given). ``-`` clears: ``eligible_roles:-`` opens the
    talk to every member, and ``-`` on either half of the priority window clears the whole window, since
    priority roles mean nothing without a time and a time nothing without roles. Whether the window fits the
    talk (both halves, before the start) is check_window's, once the talk's other values are known."""
    fields: dict[str, Any] = {}
    if eligible is not None:
        fields["eligible_roles"] = parse_roles(
            eligible, name="eligible_roles", guild_id=guild_id, server_roles=server_roles
        )
    if priority is not None:
        fields["priority_roles"] = parse_roles(
            priority, name="priority_roles", guild_id=guild_id, server_roles=server_roles
        )
    if until is not None:
        if until.strip() == CLEAR:
            fields["priority_until"] = None
        else:
            moment = parse_when(until, tz, field="priority_until", language=language, now=now)
            if moment <= now:
                raise InputError(
                    _(
                        "{priority_until} ({when}) is in the past. Give a future date, for example `{example}`, or "
                        "leave out the priority window.",
                        priority_until=option("priority_until"),
                        when=typed_date(moment, tz),
                        example=date_example(now, tz),
                    )
                )
            fields["priority_until"] = moment
    if fields.get("priority_roles") == frozenset() and until is None:
        fields["priority_until"] = None
    if "priority_until" in fields and fields["priority_until"] is None and priority is None:
        fields["priority_roles"] = frozenset()
    return fields


def check_window(
    priority_roles: frozenset[int], priority_until: datetime | None, start: datetime, tz: ZoneInfo, now: datetime
) -> None:
    """A priority window needs both its roles and its time, and must end before the talk starts (or members
    without a priority role could never register)."""
    if priority_roles and priority_until is None:
        raise InputError(
            _(
                "{priority_roles} needs {priority_until}: the time from which everyone may register, for example "
                "`{example}`. Give both, or neither.",
                priority_roles=option("priority_roles"),
                priority_until=option("priority_until"),
                example=date_example(now, tz),
            )
        )
    if priority_until is not None and not priority_roles:
        raise InputError(
            _(
                "{priority_until} needs {priority_roles}: the roles that may register before that time, for example "
                "`{example}`. Give both, or neither.",
                priority_until=option("priority_until"),
                priority_roles=option("priority_roles"),
                example=ROLES_EXAMPLE,
            )
        )
    if priority_until is not None and priority_until >= start:
        raise InputError(
            _(
                "{priority_until} ({until}) must come before the talk starts ({start}), or members without a "
                "priority role could not register at all. Pick an earlier time.",
                priority_until=option("priority_until"),
                until=typed_date(priority_until, tz),
                start=typed_date(start, tz),
            )
        )


# --- registering ---------------------------------------------------------------------------------------------


def refusal(talk: Talk, roles: Collection[int], now: datetime) -> PodiumError | None:
    """Why a member with ``roles`` may not register for ``talk`` now, or None when they may."""
    if talk.eligible_roles and talk.eligible_roles.isdisjoint(roles):
        return PermissionDeniedError(
            _(
                "**{title}** is reserved for members with one of these roles: {roles}. Ask an organizer if you think "
                "you should have one.",
                title=talk.title,
                roles=mentions(talk.eligible_roles),
            )
        )
    if not priority_open(talk, roles, now):
        assert talk.priority_until is not None
        return StateError(
            _n(
                "Registration for **{title}** opens for everyone {when} ({relative}); until then only members with "
                "{roles} may register.",
                "Registration for **{title}** opens for everyone {when} ({relative}); until then only members with "
                "one of these roles may register: {roles}.",
                len(talk.priority_roles),
                title=talk.title,
                when=discord_timestamp(talk.priority_until, "F"),
                relative=discord_timestamp(talk.priority_until, "R"),
                roles=mentions(talk.priority_roles),
            )
        )
    return None


def priority_open(talk: Talk, roles: Collection[int], now: datetime) -> bool:
    """Whether the priority window lets this member in now: it opens to everyone exactly at priority_until."""
    if talk.priority_until is None or not talk.priority_roles or now >= talk.priority_until:
        return True
    return not talk.priority_roles.isdisjoint(roles)
