"""Issue 11, "A native scheduled event per talk", with the real bot against the emulator: the event's whole life,
a crash between creating it and recording it, events deleted by hand, the bot without the permission, the
per-server limit, and "Interested" registering and unregistering (members discord.py has not cached included)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import native_event_rows
from bot.client import PodiumBot
from bot.jobplan import JobAction, PlannedJob
from bot.native_events import EventState
from tests.emulator import DiscordEmulator, Perm
from tests.harness import School, build_school, running_bot

EVENTS = r"/guilds/\d+/scheduled-events"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@contextmanager
def at(bot: PodiumBot, moment: datetime) -> Iterator[None]:
    real = bot.service.clock
    bot.service.clock = lambda: moment
    try:
        yield
    finally:
        bot.service.clock = real


async def setup(school: School, **options: object) -> None:
    values: dict[str, object] = {"channel": school.channel_id, "organizer_role": school.organizer_role}
    values.update(options)
    reply = await school.run(school.admin, "setup", values)
    assert "Settings saved" in reply.all_text(), reply.all_text()


async def create(school: School, bot: PodiumBot, title: str, start: datetime, **options: object) -> int:
    values: dict[str, object] = {"title": title, "speaker": "Pr Lévy", "start": iso(start)}
    values.update(options)
    created = await school.run(school.organizer, "talk create", values)
    assert "Created talk" in created.all_text(), created.all_text()
    await bot.announcer.drain()
    async with bot.db.reading() as conn:
        rows = list(await conn.execute_fetchall("SELECT MAX(id) FROM talks"))
    return int(rows[0][0])


def patches(emu: DiscordEmulator) -> int:
    return sum(1 for r in emu.requests if r.method == "PATCH" and re.search(EVENTS, r.path))


async def until(emu: DiscordEmulator, predicate: Callable[[], Any], what: str) -> Any:
    """Wait for what the bot does in Discord: the predicate is checked again at each change in the emulator."""
    return await emu.changed.wait_for(predicate, 5.0, what)


def events(emu: DiscordEmulator, school: School) -> list[dict[str, Any]]:
    return emu.scheduled_events(school.guild_id)


async def row_of(bot: PodiumBot, talk_id: int) -> native_event_rows.EventRow | None:
    async with bot.db.reading() as conn:
        return await native_event_rows.get(conn, talk_id)


async def test_the_events_whole_life(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await setup(school)
    talk = await create(
        school, bot, "Immunothérapie", start, location="Amphi A", join_url="https://zoom.us/j/42?pwd=secret"
    )
    [event] = events(emu, school)
    assert event["name"] == "Immunothérapie" and event["entity_type"] == 3 and event["status"] == 1
    assert event["entity_metadata"] == {"location": "Amphi A"}
    assert event["scheduled_start_time"].startswith(iso(start)[:19])
    assert (
        "Pr Lévy" in event["description"]
        and f"/channels/{school.guild_id}/{school.channel_id}/" in event["description"]
    )
    assert "zoom" not in str(event)  # the join link never reaches what the whole server reads
    # A talk with only a join link says it is online, never where.
    online = await create(school, bot, "En ligne", start + timedelta(days=1), join_url="https://zoom.us/j/7")
    by_name = {e["name"]: e for e in events(emu, school)}
    assert by_name["En ligne"]["entity_metadata"] == {
        "location": "Online: the link is sent to registered members"
    } and "zoom" not in str(by_name["En ligne"])

    # Registrations redraw the announcement, but cost the event nothing.
    before = patches(emu)
    await school.run(school.students["alice"], "register", {"talk": talk})
    await bot.announcer.drain()
    assert patches(emu) == before
    edited = await school.run(school.organizer, "talk edit", {"talk": talk, "title": "Immunothérapie des cancers"})
    assert "Updated talk" in edited.all_text()
    await bot.announcer.drain()
    assert emu.scheduled_event(int(event["id"]))["name"] == "Immunothérapie des cancers"

    with at(bot, start + timedelta(minutes=1)):
        await bot.scheduler.run(PlannedJob(JobAction.START, talk, start))
    assert emu.scheduled_event(int(event["id"]))["status"] == 2
    with at(bot, start + timedelta(hours=1, minutes=1)):
        await bot.scheduler.run(PlannedJob(JobAction.END, talk, start + timedelta(hours=1)))
    assert emu.scheduled_event(int(event["id"]))["status"] == 3
    row = await row_of(bot, talk)
    assert row is not None and row.state is EventState.COMPLETED

    cancelled = await school.run(school.organizer, "talk cancel", {"talk": online})
    assert "Cancelled" in cancelled.all_text() or "cancelled" in cancelled.all_text()
    await bot.announcer.drain()
    assert emu.scheduled_event(int(by_name["En ligne"]["id"]))["status"] == 4
    assert len(events(emu, school)) == 2  # nothing was created twice


async def test_deleted_by_hand_is_made_again_once(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await setup(school)
    talk = await create(school, bot, "Génomique", start)
    [first] = events(emu, school)
    emu.delete_scheduled_event_by_hand(school.guild_id, int(first["id"]))
    second = await until(emu, lambda: [e for e in events(emu, school) if e["id"] != first["id"]], "a new event")
    assert second[0]["name"] == "Génomique"
    await bot.mirror.settled(talk)
    row = await row_of(bot, talk)
    assert row is not None and row.event_id == int(second[0]["id"]) and row.recreated == 1
    emu.delete_scheduled_event_by_hand(school.guild_id, int(second[0]["id"]))
    # Whether the gateway's DELETE or this pass notices it first, the talk is left without an event.
    await bot.mirror.reconcile_all()
    await bot.announcer.drain()
    assert events(emu, school) == []  # deleted twice: left deleted
    row = await row_of(bot, talk)
    assert row is not None and row.state is EventState.GONE


async def test_a_crash_before_the_id_is_recorded_makes_no_duplicate(emu: DiscordEmulator, tmp_path: Path) -> None:
    school = build_school(emu)
    database = tmp_path / "podium.sqlite3"
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        await setup(school)
        # Discord creates the event, then the answer is lost: the bot cannot record the event's id.
        emu.fail_next("POST", EVENTS, status=503, after_processing=True)
        talk = await create(school, bot, "Pharmacogénomique", start)
        assert len(events(emu, school)) == 1
        row = await row_of(bot, talk)
        assert row is not None and row.state is EventState.CREATING and row.event_id is None
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        await bot.mirror.reconcile_all()  # what start-up runs once connected (run again here to await it)
        await bot.announcer.drain()
        [event] = events(emu, school)
        row = await row_of(bot, talk)
        assert row is not None and row.event_id == int(event["id"]) and row.state is EventState.SCHEDULED
        edited = await school.run(school.organizer, "talk edit", {"talk": talk, "location": "Salle 2"})
        assert "Updated talk" in edited.all_text()
        await bot.announcer.drain()
        assert [e["entity_metadata"]["location"] for e in events(emu, school)] == ["Salle 2"]


async def test_without_the_permission_and_turned_off(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    emu.set_bot_permission(school.guild_id, Perm.CREATE_EVENTS | Perm.MANAGE_EVENTS, False)
    reply = await school.run(
        school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role}
    )
    assert "I lack the **Create Events** permission" in reply.all_text()
    talk = await create(school, bot, "Sans événement", start)
    assert events(emu, school) == []
    registered = await school.run(school.students["alice"], "register", {"talk": talk})
    assert "registered" in registered.all_text().lower() or "confirmed" in registered.all_text().lower()
    emu.set_bot_permission(school.guild_id, Perm.CREATE_EVENTS, True)
    guild = bot.get_guild(school.guild_id)
    assert guild is not None
    await until(emu, lambda: guild.me.guild_permissions.create_events, "the role update reaching the bot")
    await bot.mirror.reconcile_all()  # the periodic pass picks the talk up
    assert [e["name"] for e in events(emu, school)] == ["Sans événement"]
    off = await school.run(school.admin, "setup", {"native_events": False})
    assert "off (`/setup native_events:true`" in off.all_text()
    await create(school, bot, "Hors onglet", start + timedelta(days=1))
    assert [e["name"] for e in events(emu, school)] == ["Sans événement"]


async def test_the_soonest_talks_fill_the_limit(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    bot.mirror.limit = 3  # Discord's is 100; the rule is the same
    base = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    await setup(school)
    ids = [await create(school, bot, f"Talk {n}", base + timedelta(days=n)) for n in (1, 2, 3, 4)]
    assert sorted(e["name"] for e in events(emu, school)) == ["Talk 1", "Talk 2", "Talk 3"]
    sooner = await create(school, bot, "Talk 0", base)
    live = sorted(e["name"] for e in events(emu, school) if e["status"] in (1, 2))
    assert live == ["Talk 0", "Talk 1", "Talk 2"]  # Talk 3 gave its place to a sooner talk
    with at(bot, base + timedelta(hours=1, minutes=1)):
        await bot.scheduler.run(PlannedJob(JobAction.END, sooner, base + timedelta(hours=1)))
    await bot.announcer.drain()
    live = sorted(e["name"] for e in events(emu, school) if e["status"] in (1, 2))
    assert live == ["Talk 1", "Talk 2", "Talk 3"]  # Talk 0 ended: Talk 3 has its place back, Talk 4 waits
    assert await row_of(bot, ids[3]) is None


async def test_interested_registers_and_unregisters(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await setup(school, interested_registers=True)
    talk = await create(school, bot, "Épidémiologie", start, capacity=1)
    [event] = events(emu, school)
    event_id = int(event["id"])
    alice, bob = school.students["alice"], school.students["bob"]
    assert bot.get_user(alice) is None  # not cached: discord.py alone would drop the click
    emu.mark_interested(school.guild_id, event_id, alice)
    dm = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice) or 0) and "Épidémiologie" in m["content"]
    )
    assert dm["content"].startswith("You're registered for **Épidémiologie**")  # the same DM as /register
    assert [a["filename"].endswith(".ics") for a in dm["attachments"]] == [True]
    emu.mark_interested(school.guild_id, event_id, bob)  # the only seat is taken: waitlisted, like /register
    await emu.wait_for_message(
        lambda m: any("1 on the waitlist" in str(e) for e in m.get("embeds") or []), channel_id=school.channel_id
    )
    assert "waitlist #1" in (await school.run(bob, "mytalks")).all_text()
    emu.unmark_interested(school.guild_id, event_id, alice)  # alice leaves: bob is promoted
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(bob) or 0) and "a seat opened up" in m["content"]
    )
    mine = await school.run(alice, "mytalks")
    assert "Épidémiologie" not in mine.all_text()
    # A member registered with /register stays registered when they un-click "Interested".
    carol, dave = school.students["carol"], school.students["dave"]
    await school.run(carol, "register", {"talk": talk})
    emu.mark_interested(school.guild_id, event_id, carol)
    emu.unmark_interested(school.guild_id, event_id, carol)
    # Gateway events are read in order: once dave's click has registered him, carol's two were handled.
    emu.mark_interested(school.guild_id, event_id, dave)
    await emu.wait_for_message(
        lambda m: any("Épidémiologie" in str(e) and "2 on the waitlist" in str(e) for e in m.get("embeds") or []),
        channel_id=school.channel_id,
    )
    await bot.courier.drain()
    assert "Épidémiologie" in (await school.run(carol, "mytalks")).all_text()


async def test_a_lost_answer_sent_again_leaves_one_event(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await setup(school)
    # Discord makes the event, the answer is a 500: discord.py sends the request again, and events have no nonce.
    emu.fail_next("POST", EVENTS, status=500, after_processing=True)
    talk = await create(school, bot, "Toxicologie", start)
    await bot.mirror.settled(talk)
    [event] = events(emu, school)
    row = await row_of(bot, talk)
    assert row is not None and row.event_id == int(event["id"])
    assert sum(1 for r in emu.requests if r.method == "POST" and re.search(EVENTS, r.path)) == 2
