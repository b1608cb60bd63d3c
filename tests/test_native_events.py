"""What a talk's native event shows and which talks get one (no Discord), and the mirror's rows on a real SQLite."""

from __future__ import annotations

from datetime import timedelta

from bot import native_event_rows as rows
from bot.models import Talk
from bot.native_events import (
    DESCRIPTION_MAX,
    EventState,
    desired_state,
    event_fields,
    fingerprint,
    location,
    marker,
    soonest,
)
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

GUILD = 111


async def make_talk(service: TalkService, **overrides: object) -> Talk:
    values: dict[str, object] = {"title": "Immunothérapie", "speaker": "Pr Lévy", "start": "2026-03-14 18:30"}
    values.update(overrides)
    talk = await service.create_talk(GUILD, 1, TalkInput(**values))  # type: ignore[arg-type]
    return await service.set_announcement(talk, 20, 3000 + talk.id)


async def test_the_event_never_shows_the_join_link(service: TalkService) -> None:
    online = await make_talk(service, join_url="https://zoom.us/j/123?pwd=secret")
    fields = event_fields(online, "en")
    assert fields["entity_metadata"] == {"location": "Online: the link is sent to registered members"}
    assert "zoom" not in str(fields) and "secret" not in str(fields)
    assert location(online, "fr") == "En ligne\u00a0: le lien est envoyé aux personnes inscrites"
    room = await make_talk(service, location="Amphi A", join_url="https://zoom.us/j/9")
    assert event_fields(room, "en")["entity_metadata"] == {"location": "Amphi A"}
    nowhere = await make_talk(service)
    assert location(nowhere, "en") == "See the announcement in Discord"


async def test_fields_times_description_and_limits(service: TalkService) -> None:
    talk = await make_talk(service, title="T" * 100, description="x" * 2000, duration=90)
    fields = event_fields(talk, "en")
    assert fields["name"] == "T" * 100
    assert fields["scheduled_start_time"] == talk.start_at.isoformat()
    assert fields["scheduled_end_time"] == (talk.start_at + timedelta(minutes=90)).isoformat()
    assert (fields["entity_type"], fields["privacy_level"], fields["channel_id"]) == (3, 2, None)
    text = fields["description"]
    assert len(text) <= DESCRIPTION_MAX and text.startswith("With Pr Lévy.")
    link = marker(talk)
    assert link is not None and text.endswith(f"Details and registration: {link}")  # whole, whatever the abstract


async def test_fingerprint_moves_only_with_what_the_event_shows(service: TalkService) -> None:
    talk = await make_talk(service)
    first = fingerprint(event_fields(talk, "en"))
    assert fingerprint(event_fields(talk, "en")) == first
    assert fingerprint(event_fields(talk, "fr")) != first  # the server's language changed
    moved = (await service.edit_talk(GUILD, talk.id, TalkInput(start="2026-03-15 18:30"))).talk
    assert fingerprint(event_fields(moved, "en")) != first


async def test_states_and_the_soonest_hundred(service: TalkService, clock: Clock) -> None:
    talks = [await make_talk(service, start=f"2026-03-{10 + n % 15:02d} {8 + n // 15}:00") for n in range(105)]
    picked = soonest(talks, clock.now)
    assert len(picked) == 100 and picked == sorted(picked, key=lambda t: t.start_at)
    left_out = {t.id for t in talks} - {t.id for t in picked}
    assert all(t.start_at >= max(p.start_at for p in picked) for t in talks if t.id in left_out)
    first = picked[0]
    assert desired_state(first, clock.now) is EventState.SCHEDULED
    assert desired_state(first, first.start_at) is EventState.ACTIVE
    assert desired_state(first, first.end_at) is EventState.COMPLETED
    cancelled = (await service.cancel_talk(GUILD, first.id, None)).talk
    assert desired_state(cancelled, clock.now) is EventState.CANCELLED
    unannounced = await service.create_talk(GUILD, 1, TalkInput(title="X", speaker="Y", start="2026-03-02 10:00"))
    assert unannounced.id not in {t.id for t in soonest([*talks, unannounced], clock.now)}


async def test_rows_record_and_count(service: TalkService, clock: Clock) -> None:
    talk = await make_talk(service)
    async with service.db.transaction() as conn:
        begun = await rows.begin(conn, talk.id, GUILD, clock.now)
        assert (begun.state, begun.event_id) == (EventState.CREATING, None)
        assert await rows.live_count(conn, GUILD) == 1
        await rows.record(conn, talk.id, event_id=77, state=EventState.SCHEDULED, fingerprint="f", now=clock.now)
        again = await rows.begin(conn, talk.id, GUILD, clock.now)  # an existing row is kept as it is
        assert (again.state, again.event_id) == (EventState.SCHEDULED, 77)
        assert (await rows.by_event(conn, 77)) == again
        await rows.record(conn, talk.id, event_id=None, state=EventState.GONE, fingerprint=None, now=clock.now)
        assert await rows.live_count(conn, GUILD) == 0
        await rows.add_interest(conn, talk.id, 5, clock.now)
        await rows.mark_left(conn, talk.id, 5)
        assert await rows.interested(conn, talk.id) == {5: True}
        await rows.add_interest(conn, talk.id, 5, clock.now)  # clicked again
        assert await rows.interested(conn, talk.id) == {5: False}
