"""Eligibility and priority windows (issue 11) on a real SQLite: what organizers type, who may register and from
when, what a refusal leaves (nothing), and promotion from the waitlist, which never checks roles again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot import store
from bot.eligibility import ROLES_MAX, parse_roles, refusal
from bot.embeds import registration_rules, talk_embed
from bot.errors import InputError, PermissionDeniedError, PodiumError, StateError
from bot.i18n import render
from bot.models import RegistrationStatus, Seats, Talk, TalkStatus
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

GUILD = 111  # also the id of its @everyone role, as in Discord
ORGANIZER = 1
YEAR1, YEAR2, YEAR6, STAFF = 1001, 1002, 1006, 1099
SERVER_ROLES = frozenset({GUILD, YEAR1, YEAR2, YEAR6, STAFF})
START = "2026-03-14 18:30"  # Paris; the clock reads 2026-03-01 12:00 UTC
UNTIL = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 18:00 in Paris
NBSP = "\u00a0"


def talk_input(**overrides: object) -> TalkInput:
    values: dict[str, object] = {
        "title": "Pediatric cardiology",
        "speaker": "Dr Heart",
        "start": START,
        "server_roles": SERVER_ROLES,
    }
    values.update(overrides)
    return TalkInput(**values)  # type: ignore[arg-type]


def roles(*ids: int) -> frozenset[int]:
    return frozenset(ids)


async def changes_of(service: TalkService, talk: Talk, user_id: int) -> list[datetime]:
    async with service.db.reading() as conn:
        return await store.registration_changes(conn, talk.id, user_id)


# --- parsing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (f"<@&{YEAR1}> <@&{YEAR2}>", {YEAR1, YEAR2}),  # what Discord sends for "@Year 1 @Year 2"
        (f"<@&{YEAR1}><@&{YEAR2}>", {YEAR1, YEAR2}),  # mentions typed back to back
        (f"{YEAR1},{YEAR2}", {YEAR1, YEAR2}),  # bare ids (Copy Role ID)
        (f" {YEAR1} , <@&{YEAR6}>\n", {YEAR1, YEAR6}),
        (f"<@&{YEAR1}> {YEAR1}", {YEAR1}),  # the same role twice is one role
        ("-", set()),
    ],
)
def test_roles_are_read_from_mentions_and_ids(typed: str, expected: set[int]) -> None:
    assert parse_roles(typed, name="eligible_roles", guild_id=GUILD, server_roles=SERVER_ROLES) == expected


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [
        ("<@&4242>", "`<@&4242>` is not a role of this server"),
        ("4242", "`4242` is not a role of this server"),
        (f"<@&{YEAR1}><@&4242>", "`<@&4242>` is not a role of this server"),
        ("@everyone", "cannot include @everyone"),
        ("@here", "cannot include @everyone"),
        (f"<@&{GUILD}>", "cannot include @everyone"),  # the @everyone role picked from the list
        (str(GUILD), "cannot include @everyone"),
        ("Year 1", "`Year` is not a role"),  # typed without picking the role, so no mention was made
        ("@Year", "`@Year` is not a role"),
        ("<@123>", "`<@123>` is not a role"),  # a member, not a role
        (",", "is not a role"),
        ("1" * 25, "is not a role"),  # longer than any snowflake
    ],
)
def test_bad_roles_are_refused_clearly(typed: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_roles(typed, name="eligible_roles", guild_id=GUILD, server_roles=SERVER_ROLES)
    assert fragment in str(caught.value)
    assert "@Year 1 @Year 2" in str(caught.value)  # how to write it


def test_at_most_ten_roles() -> None:
    many = list(range(5000, 5000 + ROLES_MAX + 1))
    server = SERVER_ROLES | set(many)
    assert len(parse_roles(" ".join(map(str, many[:ROLES_MAX])), name="x", guild_id=GUILD, server_roles=server)) == 10
    with pytest.raises(InputError, match="names 11 roles; the limit is 10"):
        parse_roles(
            " ".join(f"<@&{role}>" for role in many), name="eligible_roles", guild_id=GUILD, server_roles=server
        )


# --- creating and editing --------------------------------------------------------------------------------------


async def test_create_stores_the_rules(service: TalkService) -> None:
    talk = await service.create_talk(
        GUILD,
        ORGANIZER,
        talk_input(
            eligible_roles=f"<@&{YEAR1}> <@&{YEAR2}> <@&{YEAR6}>",
            priority_roles=f"<@&{YEAR6}>",
            priority_until="2026-03-10 18:00",
        ),
    )
    assert talk.eligible_roles == {YEAR1, YEAR2, YEAR6}
    assert talk.priority_roles == {YEAR6}
    assert talk.priority_until == UNTIL
    assert await service.get_talk(GUILD, talk.id) == talk
    plain = await service.create_talk(GUILD, ORGANIZER, talk_input())
    assert (plain.eligible_roles, plain.priority_roles, plain.priority_until) == (frozenset(), frozenset(), None)


async def test_a_french_organizer_types_priority_until_day_first(service: TalkService) -> None:
    talk = await service.create_talk(
        GUILD,
        ORGANIZER,
        talk_input(priority_roles=str(YEAR6), priority_until="10/03/2026 18h00", language="fr"),
    )
    assert talk.priority_until == UNTIL


BAD_CREATE = [
    ({"eligible_roles": "<@&4242>"}, "`<@&4242>` is not a role of this server"),
    ({"eligible_roles": "@everyone"}, "cannot include @everyone"),
    ({"priority_roles": f"<@&{GUILD}>", "priority_until": "2026-03-10 18:00"}, "cannot include @everyone"),
    ({"eligible_roles": "year one"}, "`year` is not a role"),
    ({"priority_roles": "<@&1001", "priority_until": "2026-03-10 18:00"}, "`<@&1001` is not a role"),
    ({"priority_roles": str(YEAR6), "priority_until": "2026-03-14 18:30"}, "must come before the talk starts"),
    ({"priority_roles": str(YEAR6), "priority_until": "2026-03-20 10:00"}, "must come before the talk starts"),
    ({"priority_roles": str(YEAR6), "priority_until": "2026-02-20 10:00"}, "is in the past"),
    ({"priority_roles": str(YEAR6), "priority_until": "2026-03-01 13:00"}, "is in the past"),  # 12:00 UTC: now
    ({"priority_roles": str(YEAR6), "priority_until": "soon"}, "I could not read `soon` as a date"),
    ({"priority_until": "2026-03-10 18:00"}, "`priority_until` needs `priority_roles`"),
    ({"priority_roles": str(YEAR6)}, "`priority_roles` needs `priority_until`"),
]


@pytest.mark.parametrize(("overrides", "fragment"), BAD_CREATE)
async def test_create_refuses_bad_rules_and_creates_nothing(
    service: TalkService, overrides: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InputError) as caught:
        await service.create_talk(GUILD, ORGANIZER, talk_input(**overrides))
    assert fragment in str(caught.value)
    assert await service.upcoming(GUILD, public_only=False) == []


async def test_too_many_roles_is_refused_on_create(service: TalkService) -> None:
    many = range(5000, 5000 + ROLES_MAX + 1)
    with pytest.raises(InputError, match="`eligible_roles` names 11 roles; the limit is 10"):
        await service.create_talk(
            GUILD,
            ORGANIZER,
            talk_input(eligible_roles=" ".join(map(str, many)), server_roles=SERVER_ROLES | set(many)),
        )
    assert await service.upcoming(GUILD, public_only=False) == []


async def test_roles_are_checked_against_the_servers_own(service: TalkService) -> None:
    """A role of another server (or one deleted since) is unknown here, even with a well-formed id."""
    with pytest.raises(InputError, match="not a role of this server"):
        await service.create_talk(GUILD, ORGANIZER, talk_input(eligible_roles=str(YEAR1), server_roles=frozenset()))


BAD_EDIT = [
    ({"eligible_roles": "<@&4242>"}, "not a role of this server"),
    ({"eligible_roles": "@here"}, "cannot include @everyone"),
    ({"start": "2026-03-08 18:00"}, "must come before the talk starts"),  # the start moved before the window's end
    ({"priority_until": "2026-02-01 18:00"}, "is in the past"),
    ({"priority_until": "2026-03-15 18:00"}, "must come before the talk starts"),
    ({"priority_roles": "!!"}, "`!!` is not a role"),
]


@pytest.mark.parametrize(("overrides", "fragment"), BAD_EDIT)
async def test_edit_refuses_bad_rules_and_changes_nothing(
    service: TalkService, overrides: dict[str, object], fragment: str
) -> None:
    talk = await service.create_talk(
        GUILD,
        ORGANIZER,
        talk_input(eligible_roles=str(YEAR1), priority_roles=str(YEAR6), priority_until="2026-03-10 18:00"),
    )
    with pytest.raises(InputError, match=fragment):
        await service.edit_talk(GUILD, talk.id, TalkInput(server_roles=SERVER_ROLES, **overrides))  # type: ignore[arg-type]
    assert await service.get_talk(GUILD, talk.id) == talk


async def test_edit_needs_both_halves_of_a_window(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    with pytest.raises(InputError, match="`priority_until` needs `priority_roles`"):
        await service.edit_talk(GUILD, talk.id, TalkInput(priority_until="2026-03-10 18:00"))
    with pytest.raises(InputError, match="`priority_roles` needs `priority_until`"):
        await service.edit_talk(GUILD, talk.id, TalkInput(priority_roles=str(YEAR6), server_roles=SERVER_ROLES))
    with pytest.raises(InputError, match="`priority_until` needs `priority_roles`"):
        # Contradictory: clearing the roles while giving a time.
        await service.edit_talk(GUILD, talk.id, TalkInput(priority_roles="-", priority_until="2026-03-10 18:00"))
    assert await service.get_talk(GUILD, talk.id) == talk


async def test_edit_changes_and_clears_with_a_dash(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(eligible_roles=str(YEAR1)))
    window = TalkInput(priority_roles=f"<@&{YEAR6}>", priority_until="2026-03-10 18:00", server_roles=SERVER_ROLES)
    added = await service.edit_talk(GUILD, talk.id, window)
    assert added.changed == {"priority_roles", "priority_until"}
    assert not added.invite_changed  # who may register is not in anyone's calendar
    widened = await service.edit_talk(
        GUILD, talk.id, TalkInput(eligible_roles=f"{YEAR1} {YEAR2}", server_roles=SERVER_ROLES)
    )
    assert widened.talk.eligible_roles == {YEAR1, YEAR2}
    # "-" on either half clears the whole window: roles without a time (or the reverse) would mean nothing.
    cleared = await service.edit_talk(GUILD, talk.id, TalkInput(priority_until="-"))
    assert cleared.changed == {"priority_roles", "priority_until"}
    assert (cleared.talk.priority_roles, cleared.talk.priority_until) == (frozenset(), None)
    await service.edit_talk(GUILD, talk.id, window)
    cleared = await service.edit_talk(GUILD, talk.id, TalkInput(priority_roles="-"))
    assert (cleared.talk.priority_roles, cleared.talk.priority_until) == (frozenset(), None)
    opened = await service.edit_talk(GUILD, talk.id, TalkInput(eligible_roles="-"))
    assert opened.changed == {"eligible_roles"}
    assert opened.talk.eligible_roles == frozenset()
    assert await service.get_talk(GUILD, talk.id) == opened.talk
    again = await service.edit_talk(GUILD, talk.id, TalkInput(eligible_roles="-"))
    assert again.changed == frozenset()


async def test_the_server_roles_are_not_an_edit(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    with pytest.raises(InputError, match="Nothing to change"):
        await service.edit_talk(GUILD, talk.id, TalkInput(server_roles=SERVER_ROLES))


# --- registering -----------------------------------------------------------------------------------------------


async def test_only_eligible_members_register_and_a_refusal_changes_nothing(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(eligible_roles=f"<@&{YEAR2}> <@&{YEAR1}>"))
    with pytest.raises(PermissionDeniedError) as caught:
        await service.register(GUILD, talk.id, 10, "outsider", roles=roles(GUILD, STAFF))
    assert str(caught.value) == (
        f"**Pediatric cardiology** is reserved for members with one of these roles: <@&{YEAR1}>, <@&{YEAR2}>. "
        "Ask an organizer if you think you should have one."
    )
    assert render(caught.value.text, "fr") == (
        f"La conférence **Pediatric cardiology** est réservée aux membres qui ont l'un de ces rôles{NBSP}: "
        f"<@&{YEAR1}>, <@&{YEAR2}>. Adressez-vous à l'équipe d'organisation si vous pensez devoir en avoir un."
    )
    with pytest.raises(PermissionDeniedError):
        await service.register(GUILD, talk.id, 10, "outsider")  # no roles given: no role
    assert await service.attendees(talk) == []
    assert await changes_of(service, talk, 10) == []  # the change limit counts nothing
    admitted = await service.register(GUILD, talk.id, 11, "first year", roles=roles(GUILD, YEAR1))
    assert admitted.created and admitted.registration.confirmed and admitted.invite is not None
    assert [r.user_id for r in await service.attendees(talk)] == [11]


async def test_a_refused_member_in_a_burst_leaves_the_others_alone(service: TalkService) -> None:
    """Registrations that arrive together share one transaction: a refusal among them is only that member's."""
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=2, eligible_roles=str(YEAR1)))
    results = await asyncio.gather(
        *(
            service.register(GUILD, talk.id, user, f"u{user}", roles=roles(YEAR1) if user % 2 else roles(YEAR2))
            for user in range(20, 26)
        ),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, PodiumError)]
    assert len(refused) == 3 and all(isinstance(r, PermissionDeniedError) for r in refused)
    registrations = await service.attendees(talk)
    assert [(r.user_id, r.status) for r in registrations] == [
        (21, RegistrationStatus.CONFIRMED),
        (23, RegistrationStatus.CONFIRMED),
        (25, RegistrationStatus.WAITLISTED),
    ]
    assert registrations[2].position == 1


async def test_the_priority_window_opens_exactly_at_priority_until(service: TalkService, clock: Clock) -> None:
    talk = await service.create_talk(
        GUILD, ORGANIZER, talk_input(priority_roles=f"<@&{YEAR6}>", priority_until="2026-03-10 18:00")
    )
    first = await service.register(GUILD, talk.id, 60, "sixth year", roles=roles(GUILD, YEAR6))
    assert first.created and first.registration.confirmed
    unix = int(UNTIL.timestamp())
    clock.now = UNTIL - timedelta(seconds=1)
    with pytest.raises(StateError) as caught:
        await service.register(GUILD, talk.id, 10, "first year", roles=roles(GUILD, YEAR1))
    assert str(caught.value) == (
        f"Registration for **Pediatric cardiology** opens for everyone <t:{unix}:F> (<t:{unix}:R>); until then "
        f"only members with <@&{YEAR6}> may register."
    )
    assert render(caught.value.text, "fr") == (
        f"Les inscriptions à **Pediatric cardiology** s'ouvrent à tout le monde <t:{unix}:F> (<t:{unix}:R>){NBSP}; "
        f"d'ici là, elles sont réservées aux membres qui ont <@&{YEAR6}>."
    )
    assert await changes_of(service, talk, 10) == []
    assert [r.user_id for r in await service.attendees(talk)] == [60]
    clock.now = UNTIL
    opened = await service.register(GUILD, talk.id, 10, "first year", roles=roles(GUILD, YEAR1))
    assert opened.created and opened.registration.confirmed


async def test_several_priority_roles_are_named(service: TalkService) -> None:
    talk = await service.create_talk(
        GUILD, ORGANIZER, talk_input(priority_roles=f"{YEAR6} {YEAR2}", priority_until="2026-03-10 18:00")
    )
    assert (await service.register(GUILD, talk.id, 20, "second year", roles=roles(YEAR2))).created
    with pytest.raises(StateError) as caught:
        await service.register(GUILD, talk.id, 10, "first year", roles=roles(YEAR1))
    assert f"only members with one of these roles may register: <@&{YEAR2}>, <@&{YEAR6}>." in str(caught.value)


async def test_a_priority_role_does_not_make_a_member_eligible(service: TalkService, clock: Clock) -> None:
    talk = await service.create_talk(
        GUILD,
        ORGANIZER,
        talk_input(eligible_roles=f"{YEAR1} {YEAR2}", priority_roles=str(STAFF), priority_until="2026-03-10 18:00"),
    )
    with pytest.raises(PermissionDeniedError, match="is reserved for members with one of these roles"):
        await service.register(GUILD, talk.id, 90, "staff only", roles=roles(STAFF))
    with pytest.raises(StateError, match="opens for everyone"):
        await service.register(GUILD, talk.id, 10, "first year", roles=roles(YEAR1))
    assert (await service.register(GUILD, talk.id, 91, "staff and first year", roles=roles(STAFF, YEAR1))).created
    clock.now = UNTIL + timedelta(hours=1)
    assert (await service.register(GUILD, talk.id, 10, "first year", roles=roles(YEAR1))).created
    with pytest.raises(PermissionDeniedError):
        await service.register(GUILD, talk.id, 90, "staff only", roles=roles(STAFF))


async def test_promotion_skips_nobody_who_was_eligible_when_they_registered(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=1, eligible_roles=str(YEAR1)))
    await service.register(GUILD, talk.id, 10, "seated", roles=roles(YEAR1))
    waiting = await service.register(GUILD, talk.id, 11, "waiting", roles=roles(YEAR1))
    assert waiting.registration.status is RegistrationStatus.WAITLISTED
    # The organizer reserves the talk for another year: who is already registered keeps their place.
    await service.edit_talk(GUILD, talk.id, TalkInput(eligible_roles=str(YEAR2), server_roles=SERVER_ROLES))
    again = await service.register(GUILD, talk.id, 11, "waiting", roles=roles(YEAR1))
    assert not again.created and again.registration.position == 1  # pressing Register again is no refusal
    left = await service.unregister(GUILD, talk.id, 10)
    assert [r.user_id for r in left.promoted] == [11]
    assert left.owed  # the promoted member's invite
    # A capacity raised promotes the same way.
    await service.register(GUILD, talk.id, 12, "second year", roles=roles(YEAR2))
    await service.register(GUILD, talk.id, 13, "second year too", roles=roles(YEAR2))
    await service.edit_talk(GUILD, talk.id, TalkInput(eligible_roles=str(YEAR6), server_roles=SERVER_ROLES))
    raised = await service.edit_talk(GUILD, talk.id, TalkInput(capacity=3))
    assert [r.user_id for r in raised.promoted] == [12, 13]


def test_refusal_is_none_for_an_open_talk() -> None:
    talk = Talk(
        id=1,
        guild_id=GUILD,
        title="t",
        speaker="s",
        speaker_bio=None,
        description=None,
        location=None,
        start_at=UNTIL + timedelta(days=1),
        duration_min=60,
        capacity=None,
        reminders=(),
        announce_at=None,
        status=TalkStatus.SCHEDULED,
        cancel_reason=None,
        sequence=0,
        announcement_channel_id=None,
        announcement_message_id=None,
        created_by=ORGANIZER,
        created_at=UNTIL,
        updated_at=UNTIL,
    )
    assert refusal(talk, frozenset(), UNTIL) is None
    assert registration_rules(talk) == []


# --- the announcement ------------------------------------------------------------------------------------------


async def test_the_announcement_says_who_and_from_when(service: TalkService, clock: Clock) -> None:
    talk = await service.create_talk(
        GUILD,
        ORGANIZER,
        talk_input(eligible_roles=f"{YEAR2} {YEAR1}", priority_roles=str(YEAR6), priority_until="2026-03-10 18:00"),
    )
    unix = int(UNTIL.timestamp())
    seats = Seats(confirmed=0, waitlisted=0, capacity=None)
    english = {field.name: field.value for field in talk_embed(talk, seats, clock.now, "en").fields}
    assert english["Reserved for"] == f"Members with one of these roles: <@&{YEAR1}>, <@&{YEAR2}>"
    assert english["Registration opens"] == (
        f"For members with <@&{YEAR6}>: at once. For everyone: <t:{unix}:F> (<t:{unix}:R>)."
    )
    french = {field.name: field.value for field in talk_embed(talk, seats, clock.now, "fr").fields}
    assert french["Réservée à"] == f"Membres qui ont l'un de ces rôles{NBSP}: <@&{YEAR1}>, <@&{YEAR2}>"
    assert french["Ouverture des inscriptions"] == (
        f"Pour les membres qui ont <@&{YEAR6}>{NBSP}: tout de suite. Pour tout le monde{NBSP}: <t:{unix}:F> "
        f"(<t:{unix}:R>)."
    )
    # Once cancelled, the rules no longer matter.
    cancelled = (await service.cancel_talk(GUILD, talk.id, None)).talk
    assert "Reserved for" not in {field.name for field in talk_embed(cancelled, seats, clock.now, "en").fields}
