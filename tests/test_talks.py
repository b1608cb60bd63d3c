from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot import store
from bot.errors import InputError, NotFoundError, PermissionDeniedError, StateError
from bot.models import GuildSettings, RegistrationStatus, TalkStatus
from bot.talks import ChangeLimit, TalkInput, TalkService, ensure_organizer
from tests.conftest import Clock

GUILD = 111
OTHER_GUILD = 222
ORGANIZER = 1


def talk_input(**overrides: object) -> TalkInput:
    values: dict[str, object] = {"title": "Drug discovery", "speaker": "Prof. Curie", "start": "2026-03-14 18:30"}
    values.update(overrides)
    return TalkInput(**values)  # type: ignore[arg-type]


async def test_create_talk_defaults_and_utc(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(location="Amphi A"))
    assert talk.start_at == datetime(2026, 3, 14, 17, 30, tzinfo=UTC)
    assert talk.duration_min == 60
    assert talk.capacity is None
    assert talk.reminders == (1440, 60)
    assert talk.status is TalkStatus.SCHEDULED
    assert talk.sequence == 0
    assert talk.location == "Amphi A"
    assert (await service.get_talk(GUILD, talk.id)) == talk


async def test_create_uses_server_settings(service: TalkService) -> None:
    await service.update_settings(GUILD, timezone="America/New_York", reminders="2h,15m")
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    assert talk.start_at == datetime(2026, 3, 14, 22, 30, tzinfo=UTC)
    assert talk.reminders == (120, 15)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"start": "2026-02-01 10:00"}, "in the past"),
        ({"start": "next week"}, "YYYY-MM-DD HH:MM"),
        ({"duration": 0}, "duration"),
        ({"duration": -5}, "duration"),
        ({"duration": 24 * 60 + 1}, "24 hours"),
        ({"capacity": 0}, "at least 1"),
        ({"capacity": -3}, "at least 1"),
        ({"title": "x" * 101}, "limit is 100"),
        ({"title": "   "}, "cannot be empty"),
        ({"description": "d" * 2001}, "limit is 2000"),
        ({"reminders": "1w"}, "not a reminder offset"),
        ({"announce_at": "2026-03-15 10:00"}, "must come before the talk starts"),
        ({"announce_at": "2026-02-28 10:00"}, "in the past"),
        ({"announce_at": "2026-03-14 18:30"}, "must come before"),
    ],
)
async def test_create_rejects_bad_input_and_changes_nothing(
    service: TalkService, overrides: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InputError, match=fragment):
        await service.create_talk(GUILD, ORGANIZER, talk_input(**overrides))
    assert await service.upcoming(GUILD, public_only=False) == []


async def test_talks_are_scoped_by_server(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    with pytest.raises(NotFoundError, match=f"no talk #{talk.id}"):
        await service.get_talk(OTHER_GUILD, talk.id)
    with pytest.raises(NotFoundError):
        await service.register(OTHER_GUILD, talk.id, 5, "eve")
    with pytest.raises(NotFoundError):
        await service.edit_talk(OTHER_GUILD, talk.id, TalkInput(title="Hijacked"))
    assert await service.upcoming(OTHER_GUILD) == []


async def test_register_until_full_then_waitlist(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=2))
    first = await service.register(GUILD, talk.id, 10, "a")
    second = await service.register(GUILD, talk.id, 11, "b")
    third = await service.register(GUILD, talk.id, 12, "c")
    fourth = await service.register(GUILD, talk.id, 13, "d")
    assert [o.registration.status for o in (first, second)] == [RegistrationStatus.CONFIRMED] * 2
    assert third.registration.status is RegistrationStatus.WAITLISTED
    assert (third.registration.position, fourth.registration.position) == (1, 2)
    assert fourth.seats.confirmed == 2
    assert fourth.seats.waitlisted == 2
    assert fourth.seats.left == 0


async def test_register_twice_changes_nothing(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=1))
    await service.register(GUILD, talk.id, 10, "a")
    again = await service.register(GUILD, talk.id, 10, "a")
    assert not again.created
    assert again.registration.confirmed
    assert len(await service.attendees(talk)) == 1


async def test_unregister_promotes_first_waitlisted(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=1))
    for user in (10, 11, 12):
        await service.register(GUILD, talk.id, user, f"user{user}")
    outcome = await service.unregister(GUILD, talk.id, 10)
    assert outcome.removed.confirmed
    assert [r.user_id for r in outcome.promoted] == [11]
    remaining = await service.attendees(talk)
    assert [(r.user_id, r.status, r.position) for r in remaining] == [
        (11, RegistrationStatus.CONFIRMED, None),
        (12, RegistrationStatus.WAITLISTED, 1),
    ]


async def test_leaving_the_waitlist_promotes_nobody(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=1))
    for user in (10, 11, 12):
        await service.register(GUILD, talk.id, user, "x")
    outcome = await service.unregister(GUILD, talk.id, 11)
    assert outcome.promoted == []
    assert (await service.registration(talk, 12)).position == 1  # type: ignore[union-attr]


async def test_unregister_when_not_registered(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    with pytest.raises(StateError, match="not registered"):
        await service.unregister(GUILD, talk.id, 99)


async def test_capacity_lowered_keeps_confirmed_and_raised_promotes(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=3))
    for user in range(10, 16):
        await service.register(GUILD, talk.id, user, "x")
    lowered = await service.edit_talk(GUILD, talk.id, TalkInput(capacity=1))
    assert lowered.over_capacity == 2
    assert lowered.seats.confirmed == 3
    assert lowered.promoted == []
    assert not lowered.invite_changed
    late = await service.register(GUILD, talk.id, 20, "late")
    assert late.registration.status is RegistrationStatus.WAITLISTED
    raised = await service.edit_talk(GUILD, talk.id, TalkInput(capacity=5))
    assert [r.user_id for r in raised.promoted] == [13, 14]
    assert raised.seats.confirmed == 5
    assert raised.seats.waitlisted == 2


async def test_edit_time_bumps_sequence_and_reports_confirmed(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=1))
    await service.register(GUILD, talk.id, 10, "a")
    await service.register(GUILD, talk.id, 11, "b")
    outcome = await service.edit_talk(GUILD, talk.id, TalkInput(start="2026-03-15 10:00", location="Room 2"))
    assert outcome.invite_changed
    assert outcome.changed == {"start_at", "location"}
    assert outcome.talk.sequence == 1
    assert [r.user_id for r in outcome.confirmed] == [10]
    description_only = await service.edit_talk(GUILD, talk.id, TalkInput(description="New abstract"))
    assert not description_only.invite_changed
    assert description_only.talk.sequence == 1
    same = await service.edit_talk(GUILD, talk.id, TalkInput(location="Room 2"))
    assert same.changed == frozenset()


async def test_edit_clears_optional_text(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(location="Amphi", description="abc"))
    outcome = await service.edit_talk(GUILD, talk.id, TalkInput(location="-", description="-"))
    assert outcome.talk.location is None
    assert outcome.talk.description is None


async def test_edit_without_fields_and_bad_values_change_nothing(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    with pytest.raises(InputError, match="Nothing to change"):
        await service.edit_talk(GUILD, talk.id, TalkInput())
    with pytest.raises(InputError):
        await service.edit_talk(GUILD, talk.id, TalkInput(title="ok", duration=0))
    assert (await service.get_talk(GUILD, talk.id)).title == "Drug discovery"


async def test_cancel_then_nothing_more(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=1))
    await service.register(GUILD, talk.id, 10, "a")
    await service.register(GUILD, talk.id, 11, "b")
    outcome = await service.cancel_talk(GUILD, talk.id, "Speaker ill")
    assert outcome.talk.status is TalkStatus.CANCELLED
    assert outcome.talk.sequence == talk.sequence + 1
    assert [r.user_id for r in outcome.confirmed] == [10]
    with pytest.raises(StateError, match="cancelled"):
        await service.register(GUILD, talk.id, 12, "c")
    with pytest.raises(StateError, match="cancelled"):
        await service.edit_talk(GUILD, talk.id, TalkInput(title="again"))
    with pytest.raises(StateError, match="cancelled"):
        await service.cancel_talk(GUILD, talk.id, None)


async def test_over_talk_is_closed(service: TalkService, clock: Clock) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(duration=90))
    clock.now = talk.start_at + timedelta(minutes=30)
    assert (await service.register(GUILD, talk.id, 10, "late")).created  # in progress: still open
    clock.now = talk.end_at
    with pytest.raises(StateError, match="over"):
        await service.register(GUILD, talk.id, 11, "later")
    with pytest.raises(StateError, match="over"):
        await service.edit_talk(GUILD, talk.id, TalkInput(title="x"))
    assert await service.upcoming(GUILD) == []


async def test_talk_held_back_until_announce_at(service: TalkService, clock: Clock) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(announce_at="2026-03-10 09:00"))
    assert await service.upcoming(GUILD) == []
    assert [t.id for t in await service.upcoming(GUILD, public_only=False)] == [talk.id]
    with pytest.raises(NotFoundError):
        await service.register(GUILD, talk.id, 10, "early bird")
    clock.now = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    assert (await service.register(GUILD, talk.id, 10, "on time")).created


async def test_hundreds_of_concurrent_registrations_never_exceed_capacity(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=37))
    outcomes = await asyncio.gather(*(service.register(GUILD, talk.id, 1000 + i, f"s{i}") for i in range(300)))
    confirmed = [o for o in outcomes if o.registration.confirmed]
    waitlisted = sorted(o.registration.position for o in outcomes if not o.registration.confirmed)
    assert len(confirmed) == 37
    assert waitlisted == list(range(1, 264))
    seats = await service.seats(talk)
    assert (seats.confirmed, seats.waitlisted, seats.left) == (37, 263, 0)


async def test_concurrent_unregisters_promote_exactly_once(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=50))
    for user in range(100):
        await service.register(GUILD, talk.id, user, "x")
    outcomes = await asyncio.gather(*(service.unregister(GUILD, talk.id, user) for user in range(0, 50, 2)))
    promoted = [r.user_id for o in outcomes for r in o.promoted]
    assert sorted(promoted) == list(range(50, 75))
    seats = await service.seats(talk)
    assert (seats.confirmed, seats.waitlisted) == (50, 25)


async def test_member_talks_lists_positions(service: TalkService) -> None:
    full = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=1))
    other = await service.create_talk(GUILD, ORGANIZER, talk_input(title="Second", start="2026-03-20 10:00"))
    await service.register(GUILD, full.id, 1, "a")
    await service.register(GUILD, full.id, 2, "b")
    await service.register(GUILD, other.id, 2, "b")
    pairs = await service.member_talks(GUILD, 2)
    assert [(t.id, r.status, r.position) for t, r in pairs] == [
        (full.id, RegistrationStatus.WAITLISTED, 1),
        (other.id, RegistrationStatus.CONFIRMED, None),
    ]
    assert await service.member_talks(OTHER_GUILD, 2) == []


async def test_settings_validation_changes_nothing(service: TalkService) -> None:
    await service.update_settings(GUILD, channel_id=5, timezone="Europe/Paris")
    with pytest.raises(InputError):
        await service.update_settings(GUILD, channel_id=6, timezone="Nowhere/Land")
    with pytest.raises(InputError):
        await service.update_settings(GUILD, channel_id=6, reminders="soon")
    settings = await service.settings(GUILD)
    assert settings.channel_id == 5
    assert settings.reminders is None
    updated = await service.update_settings(GUILD, reminders="none")
    assert updated.reminders == ()
    assert updated.channel_id == 5


async def test_notifications_preference(service: TalkService) -> None:
    assert await service.notifications_enabled(GUILD, 1)
    await service.set_notifications(GUILD, 1, False)
    assert not await service.notifications_enabled(GUILD, 1)
    assert await service.notifications_enabled(OTHER_GUILD, 1)


def test_organizer_rule() -> None:
    settings = GuildSettings(guild_id=GUILD, organizer_role_id=77)
    ensure_organizer(settings, [77], server_wide=False)
    ensure_organizer(settings, [], server_wide=True)
    with pytest.raises(PermissionDeniedError, match="Manage Events"):
        ensure_organizer(settings, [78], server_wide=False)
    with pytest.raises(PermissionDeniedError, match="/setup organizer_role"):
        ensure_organizer(GuildSettings(guild_id=GUILD), [], server_wide=False)
    # Manage Events from one channel's overwrites is refused, and the member is told why
    with pytest.raises(PermissionDeniedError, match="in this channel only") as refused:
        ensure_organizer(settings, [78], server_wide=False, in_channel_only=True)
    assert "<@&77>" in str(refused.value) and "whole server" in str(refused.value)
    ensure_organizer(settings, [77], server_wide=False, in_channel_only=True)  # the organizer role still counts


HELD_BACK = {"announce_at": "2026-03-10 09:00"}  # the clock stands at 2026-03-01


async def test_a_held_back_talk_is_named_to_no_member(service: TalkService) -> None:
    secret = await service.create_talk(GUILD, ORGANIZER, talk_input(title="Secret keynote", **HELD_BACK))
    missing = secret.id + 1000
    for call in (
        lambda talk_id: service.member_talk(GUILD, talk_id, 10),
        lambda talk_id: service.unregister(GUILD, talk_id, 10),
        lambda talk_id: service.register(GUILD, talk_id, 10, "a"),
    ):
        with pytest.raises(NotFoundError) as hidden:
            await call(secret.id)
        with pytest.raises(NotFoundError) as unknown:
            await call(missing)
        assert str(hidden.value) == str(unknown.value).replace(f"#{missing}", f"#{secret.id}")
        assert "Secret" not in str(hidden.value)
    # an Unregister button in a DM names no server: an unknown talk is refused in the same words
    with pytest.raises(NotFoundError) as hidden:
        await service.unregister(GUILD, secret.id, 10)
    with pytest.raises(NotFoundError) as unknown:
        await service.guild_of(missing)
    assert str(hidden.value) == str(unknown.value).replace(f"#{missing}", f"#{secret.id}")
    assert await service.upcoming(GUILD) == []
    assert await service.member_talks(GUILD, 10) == []
    assert (await service.get_talk(GUILD, secret.id)).title == "Secret keynote"  # organizers' lookup


async def test_held_back_talks_do_not_crowd_public_ones_out_of_a_listing(service: TalkService) -> None:
    for day in range(11, 17):  # six held-back talks sooner than the public one
        await service.create_talk(GUILD, ORGANIZER, talk_input(start=f"2026-03-{day} 10:00", **HELD_BACK))
    public = await service.create_talk(GUILD, ORGANIZER, talk_input(title="Open", start="2026-03-20 10:00"))
    assert [talk.id for talk in await service.upcoming(GUILD, limit=3)] == [public.id]
    assert len(await service.upcoming(GUILD, limit=3, public_only=False)) == 3


async def test_a_member_still_sees_a_talk_they_joined_before_it_was_held_back(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    await service.register(GUILD, talk.id, 10, "a")
    await service.edit_talk(GUILD, talk.id, TalkInput(announce_at="2026-03-10 09:00"))  # never announced: allowed
    assert (await service.member_talk(GUILD, talk.id, 10)).id == talk.id
    with pytest.raises(NotFoundError):
        await service.member_talk(GUILD, talk.id, 11)
    assert (await service.unregister(GUILD, talk.id, 10)).removed.user_id == 10


def test_change_limit_rule() -> None:
    limit = ChangeLimit(per_window=3, window=timedelta(hours=1), hold=timedelta(seconds=10))
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert limit.next_allowed([], t0) is None
    assert limit.held_until([], t0) is None  # a lone change is sent at once
    changes = [t0, t0 + timedelta(seconds=2), t0 + timedelta(minutes=5)]
    assert limit.next_allowed(changes[:2], t0 + timedelta(minutes=1)) is None
    assert limit.next_allowed(changes, t0 + timedelta(minutes=6)) == t0 + timedelta(hours=1)
    assert limit.next_allowed(changes, t0 + timedelta(hours=1, seconds=1)) is None  # the first has aged out
    assert limit.held_until(changes[:1], t0 + timedelta(seconds=2)) == t0 + timedelta(seconds=12)
    assert limit.held_until(changes, t0 + timedelta(minutes=6)) is None  # a minute after the last change
    assert limit.forget_before(changes, t0 + timedelta(minutes=30)) is None
    assert limit.forget_before(changes, t0 + timedelta(hours=2)) == t0 + timedelta(hours=1)


async def test_toggling_is_limited_per_member_and_talk(service: TalkService, clock: Clock) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=5))
    other = await service.create_talk(GUILD, ORGANIZER, talk_input(title="Other"))
    start = clock.now
    for _ in range(2):  # four changes within a minute are accepted
        assert (await service.register(GUILD, talk.id, 10, "a")).created
        clock.now += timedelta(seconds=5)
        await service.unregister(GUILD, talk.id, 10)
        clock.now += timedelta(seconds=5)
    with pytest.raises(StateError) as refused:
        await service.register(GUILD, talk.id, 10, "a")
    retry_at = int((start + timedelta(hours=1)).timestamp())
    assert f"<t:{retry_at}:R>" in str(refused.value)
    assert "still not registered" in str(refused.value) and "Nothing changed" in str(refused.value)
    assert await service.registration(talk, 10) is None
    # other members and other talks are not affected
    assert (await service.register(GUILD, talk.id, 11, "b")).created
    assert (await service.register(GUILD, other.id, 10, "a")).created
    # an hour after the first change, one more is accepted; the next waits for the second to age out
    clock.now = start + timedelta(hours=1, seconds=1)
    assert (await service.register(GUILD, talk.id, 10, "a")).registration.confirmed
    with pytest.raises(StateError, match="still registered, with a confirmed seat") as again:
        await service.unregister(GUILD, talk.id, 10)
    assert f"<t:{retry_at + 5}:R>" in str(again.value)
    assert (await service.registration(talk, 10)) is not None  # the refused unregister changed nothing
    # pressing Register while registered is no change: answered as before, whatever the count
    assert not (await service.register(GUILD, talk.id, 10, "a")).created
    async with service.db.reading() as conn:
        kept = await store.registration_changes(conn, talk.id, 10)
    assert len(kept) == 4  # the change that aged out was pruned


async def test_re_registering_goes_to_the_back_of_the_waitlist(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input(capacity=1))
    for user in (10, 11, 12):
        await service.register(GUILD, talk.id, user, f"user{user}")
    await service.unregister(GUILD, talk.id, 11)
    back = await service.register(GUILD, talk.id, 11, "user11")
    assert (back.registration.status, back.registration.position) == (RegistrationStatus.WAITLISTED, 2)
    promoted = await service.unregister(GUILD, talk.id, 10)
    assert [r.user_id for r in promoted.promoted] == [12]


async def test_migrations_are_recorded(db: object) -> None:
    from bot.database import Database

    assert isinstance(db, Database)
    assert await db.schema_version() >= 1
    assert await db.migrate() == await db.schema_version()  # running again is a no-op


# --- errors in the reader's language, dates the organizer's way -------------------------------------------


def french_input(**overrides: object) -> TalkInput:
    values: dict[str, object] = {"title": "Cardiologie", "speaker": "Dr Martin", "start": "14/03/2026 18h30"}
    values.update(overrides)
    return TalkInput(language="fr", **values)  # type: ignore[arg-type]


async def test_a_french_organizer_types_the_day_first(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, french_input(announce_at="10/03/2026 9h"))
    assert talk.start_at == datetime(2026, 3, 14, 17, 30, tzinfo=UTC)
    assert talk.announce_at == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    with pytest.raises(InputError):  # the same typed in English is refused: 14/03 is no month-first date
        await service.create_talk(GUILD, ORGANIZER, talk_input(start="14/03/2026 18h30"))


async def test_the_organizers_language_is_not_an_edit(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    assert not TalkInput(language="fr").given()
    assert TalkInput(start="15/03/2026 18h00", language="fr").given()
    with pytest.raises(InputError) as nothing:
        await service.edit_talk(GUILD, talk.id, TalkInput(language="fr"))
    # the example is a week after the clock (2026-03-01), at 18:00, written the reader's way
    assert (
        nothing.value.render("fr")
        == "Rien à modifier\u00a0: indiquez au moins un champ, par exemple `debut:08/03/2026 18h00`."
    )
    assert (
        nothing.value.render("en")
        == "Nothing to change: give at least one field, for example `start:2026-03-08 18:00`."
    )
    moved = await service.edit_talk(GUILD, talk.id, TalkInput(start="15/03/2026 18h00", language="fr"))
    assert moved.changed == frozenset({"start_at"})
    assert moved.talk.start_at == datetime(2026, 3, 15, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "french", "english"),
    [
        (
            {"start": "14/02/2026 18h00"},
            "`debut` (14/02/2026 18h00) est déjà passé. Indiquez une date à venir, par exemple `08/03/2026 18h00`.",
            "`start` (2026-02-14 18:00) is in the past. Give a future date, for example `2026-03-08 18:00`.",
        ),
        ({"start": "31/02/2026 18h00"}, "n'est pas une date et une heure qui existent", "is not a real date"),
        (
            {"title": "   "},
            "`titre` ne peut pas rester vide. Par exemple\u00a0: `La découverte",
            "`title` cannot be empty",
        ),
        ({"speaker": "x" * 101}, "`intervenant` compte 101 caractères, pour 100 au plus", "limit is 100"),
        ({"duration": 0}, "`duree` s'exprime en minutes, de 1 à 1440 (24 heures)", "`duration` is in minutes"),
        (
            {"capacity": 0},
            "La valeur de `places` doit être comprise entre 1 et 100000",
            "leave it empty for unlimited seats",
        ),
        ({"reminders": "1w"}, "`1w` n'est pas un délai de rappel", "`1w` is not a reminder offset"),
        (
            {"announce_at": "15/03/2026 10h00"},
            "`annonce_le` (15/03/2026 10h00) doit précéder le début de la conférence (14/03/2026 18h30)",
            "`announce_at` (2026-03-15 10:00) must come before the talk starts (2026-03-14 18:30)",
        ),
    ],
)
async def test_validation_errors_read_in_each_language(
    service: TalkService, overrides: dict[str, object], french: str, english: str
) -> None:
    with pytest.raises(InputError) as refused:
        await service.create_talk(GUILD, ORGANIZER, french_input(**overrides))
    assert french in refused.value.render("fr")
    assert english in refused.value.render("en")
    assert await service.upcoming(GUILD, public_only=False) == []


async def test_not_found_not_allowed_and_closed_in_each_language(service: TalkService, clock: Clock) -> None:
    with pytest.raises(NotFoundError) as missing:
        await service.get_talk(GUILD, 404)
    assert missing.value.render("en") == (
        "There is no talk #404 in this server. Pick one from the list as you type, or see `/talks`."
    )
    assert missing.value.render("fr") == (
        "Il n'y a pas de conférence n°\u00a0404 sur ce serveur. Choisissez-en une dans la liste proposée pendant la "
        "saisie, ou consultez `/conferences`."
    )
    with pytest.raises(PermissionDeniedError) as refused:
        ensure_organizer(GuildSettings(guild_id=GUILD), [], server_wide=False)
    assert "`/configuration role_organisateur:`" in refused.value.render("fr")
    assert refused.value.render("fr").startswith("Seule l'équipe d'organisation peut faire cela")
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    await service.cancel_talk(GUILD, talk.id, None)
    with pytest.raises(StateError) as cancelled:
        await service.edit_talk(GUILD, talk.id, TalkInput(title="again", language="fr"))
    assert cancelled.value.render("fr") == (
        "La conférence **Drug discovery** a été annulée\u202f; elle ne peut plus être modifiée."
    )
    assert cancelled.value.render("en") == "**Drug discovery** was cancelled, so it cannot be changed any more."
    with pytest.raises(StateError) as closed:
        await service.register(GUILD, talk.id, 10, "a")
    assert (
        closed.value.render("fr")
        == "La conférence **Drug discovery** a été annulée\u00a0: les inscriptions sont closes."
    )


async def test_the_change_limit_speaks_french(service: TalkService) -> None:
    talk = await service.create_talk(GUILD, ORGANIZER, talk_input())
    for _ in range(2):
        await service.register(GUILD, talk.id, 10, "a")
        await service.unregister(GUILD, talk.id, 10)
    with pytest.raises(StateError) as refused:
        await service.register(GUILD, talk.id, 10, "a")
    french = refused.value.render("fr")
    assert "4 fois au cours de la dernière heure" in french
    assert "vous êtes toujours non inscrit·e" in french
