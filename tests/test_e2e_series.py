"""Seminar series with the real bot against the emulator: a 10-week series across the end of daylight saving
time, its one announcement and select menu, registering for one date then for all, /register series:, single
dates edited and cancelled with /talk, the server feed over HTTP with one RRULE, a restart, and bad input."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.jobplan import JobAction, PlannedJob
from bot.talks import TalkInput
from tests.emulator import DiscordEmulator
from tests.harness import School
from tests.web_helpers import PARIS, WebSide, both_parsers, dm_invites, local, next_fall_back, set_up, web_bot

SELECT = "podium:series:{id}"


@pytest.fixture
async def web(emu: DiscordEmulator, school: School, tmp_path: Path) -> AsyncIterator[WebSide]:
    emu.set_command_permission(school.guild_id, "series", school.organizer_role)
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as side:
        yield side


def first_tuesday() -> datetime:
    """18:00 in Paris on the Tuesday three weeks before the clocks next go back: dates 0-2 are in summer time."""
    fall_back = next_fall_back(datetime.now(UTC))
    tuesday = fall_back - timedelta(days=(fall_back.weekday() - 1) % 7) - timedelta(weeks=2)
    return datetime(tuesday.year, tuesday.month, tuesday.day, 18, 0, tzinfo=PARIS)


def components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message["components"] for c in row["components"]]


def select_of(message: dict[str, Any], series_id: int) -> dict[str, Any]:
    [menu] = [c for c in components(message) if c["custom_id"] == SELECT.format(id=series_id)]
    return menu


async def pick(school: School, user: int, message: dict[str, Any], series_id: int, value: str) -> Any:
    interaction = await school.emu.click(school.guild_id, user, message, SELECT.format(id=series_id), values=[value])
    await interaction.wait_done(10)
    return interaction


def invites_by_uid(emu: DiscordEmulator, user: int) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for calendar in dm_invites(emu, user):
        for event in calendar.walk("VEVENT"):
            found.setdefault(str(event["UID"]), []).append(event)
    return found


async def talk_count(web: WebSide) -> int:
    async with web.bot.db.reading() as conn:
        [(count,)] = list(await conn.execute_fetchall("SELECT COUNT(*) FROM talks"))
    return int(count)


async def test_a_ten_week_series_from_creation_to_the_feed(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    alice, bob, carol = (school.students[name] for name in ("alice", "bob", "carol"))
    await set_up(school, public_calendar=True)
    start = first_tuesday()
    created = await school.run(
        school.organizer,
        "series create",
        {
            "title": "Grand rounds",
            "speaker": "Prof. Curie",
            "start": local(start),
            "repeat": "weekly",
            "count": 10,
            "capacity": 2,
            "location": "Amphi A",
        },
    )
    assert created.ephemeral
    text = created.all_text()
    assert "Created series **#1**: weekly, 10 dates from" in text, text
    assert "talks #1 to #10" in text and "one message for every date" in text

    # One announcement for the ten dates, with the menu and Check in; no talk announced on its own.
    [announcement] = school.announcements()
    talks = (await web.bot.office.series.get(school.guild_id, 1)).talks
    assert [t.start_at.astimezone(PARIS).strftime("%a %H:%M") for t in talks] == ["Tue 18:00"] * 10
    assert [t.start_at.astimezone(UTC).hour for t in talks] == [16, 16, 16] + [17] * 7  # across the clock change
    assert {t.announcement_message_id for t in talks} == {int(announcement["id"])}
    embed_text = str(announcement["embeds"])
    for talk in talks:
        assert f"<t:{int(talk.start_at.timestamp())}:F>" in embed_text
    assert "2 of 2 seats left" in embed_text
    menu = select_of(announcement, 1)
    assert [o["value"] for o in menu["options"]] == ["all", *(str(t.id) for t in talks)]
    assert menu["options"][0]["label"] == "All dates"
    assert "podium:scheckin:1" in [c["custom_id"] for c in components(announcement)]

    # Alice picks one date from the menu: the /register path, with its DM.
    third = talks[2]
    one = await pick(school, alice, announcement, 1, str(third.id))
    assert one.ephemeral
    assert "You're registered for **Grand rounds**" in one.all_text()
    await web.bot.courier.drain()
    assert list(invites_by_uid(emu, alice)) == [f"talk-{third.id}-guild-{school.guild_id}@podium"]

    # Then all of them: date by date, the one she had stays as it was.
    every = await pick(school, alice, announcement, 1, "all")
    every_text = every.all_text()
    assert "Your registrations for **Grand rounds**, date by date (10 dates not over)" in every_text
    assert every_text.count("— confirmed") == 9 and "already registered (confirmed)" in every_text
    assert "Your calendar invites for the 9 confirmed dates are on their way by DM" in every_text
    await web.bot.courier.drain()
    invites = invites_by_uid(emu, alice)
    assert len(invites) == 10 and all(len(events) == 1 for events in invites.values())  # one .ics per date

    # /register series: for Bob (a seat on every date) and Carol (the waitlist of every date).
    bobs = await school.run(bob, "register", {"series": 1})
    assert bobs.all_text().count("— confirmed") == 10
    carols = await school.run(carol, "register", {"series": 1})
    assert carols.all_text().count("— waitlist #1") == 10
    assert "The 10 dates where you are on the waitlist confirm you automatically" in carols.all_text()
    await emu.wait_for_message(
        lambda m: m["id"] == announcement["id"] and str(m["embeds"]).count("Full (2 seats) — 1 on the waitlist") == 10
    )
    seats = await web.bot.office.series.seats(await web.bot.office.series.get(school.guild_id, 1))
    assert {(s.confirmed, s.waitlisted) for s in seats.values()} == {(2, 1)}

    # One date moved on its own with /talk edit: its registrants get the updated invite of that date.
    fifth = talks[4]
    moved_to = fifth.start_at + timedelta(days=1, hours=-6)
    edited = await school.run(
        school.organizer, "talk edit", {"talk": fifth.id, "start": local(moved_to), "location": "Library"}
    )
    assert "Updated talk **#5**" in edited.all_text() and "The announcement is being updated" in edited.all_text()
    fifth_uid = f"talk-{fifth.id}-guild-{school.guild_id}@podium"
    for user in (alice, bob):
        await emu.wait_for_message(
            lambda m, u=user: m["channel_id"] == str(emu.dm_channel_id(u)) and "has changed" in m["content"]
        )
        [*_, latest] = invites_by_uid(emu, user)[fifth_uid]
        assert latest.decoded("DTSTART") == moved_to and int(latest["SEQUENCE"]) == 1
    # Another cancelled on its own with /talk cancel.
    seventh = talks[6]
    cancelled = await school.run(school.organizer, "talk cancel", {"talk": seventh.id, "reason": "Exams"})
    assert "Cancelled talk **#7**" in cancelled.all_text()
    await emu.wait_for_message(
        lambda m: m["id"] == announcement["id"] and f"~~<t:{int(seventh.start_at.timestamp())}:F>~~" in str(m)
    )
    refreshed = next(m for m in emu.messages(school.channel_id) if m["id"] == announcement["id"])
    assert str(seventh.id) not in [o["value"] for o in select_of(refreshed, 1)["options"]]

    # The server feed, from the web side: the series is one event with one RRULE.
    status, body, _headers = await web.get(await web.feed_path(school.guild_id))
    assert status == 200
    cal, vcal = both_parsers(body)
    uid = f"series-1-guild-{school.guild_id}@podium"
    events = cal.walk("VEVENT")
    assert {str(e["UID"]) for e in events} == {uid}
    assert body.decode().count("RRULE:") == 1
    [master] = [e for e in events if "RECURRENCE-ID" not in e]
    assert "FREQ=WEEKLY;COUNT=10" in body.decode()
    assert [d.dt for d in master["EXDATE"].dts] == [seventh.start_at.astimezone(PARIS)]
    [override] = [e for e in events if "RECURRENCE-ID" in e]
    assert override.decoded("RECURRENCE-ID") == fifth.start_at
    assert override.decoded("DTSTART") == moved_to and str(override["LOCATION"]) == "Library"
    [vmaster] = [e for e in vcal.contents["vevent"] if "recurrence-id" not in e.contents]
    assert [d.astimezone(UTC) for d in vmaster.getrruleset()] == [t.start_at for t in talks if t.id != seventh.id]

    # Bob's personal feed: his nine dates (the cancelled one is an EXDATE), one event.
    reply = await school.run(bob, "calendar")
    feed_url = re.search(r"<(https?://[^>\s]+/u/[A-Za-z0-9_-]+\.ics)>", reply.all_text())
    assert feed_url
    _status, mine, _ = await web.get(feed_url.group(1))
    _cal, mine_vcal = both_parsers(mine)
    [bob_master] = [e for e in mine_vcal.contents["vevent"] if "recurrence-id" not in e.contents]
    assert len(list(bob_master.getrruleset())) == 9

    # Check in from the announcement: the date whose check-in is open now (the clock is the bot's).
    real_clock = web.bot.service.clock
    web.bot.service.clock = lambda: talks[0].start_at - timedelta(minutes=5)
    try:
        checked = await school.click(alice, announcement, "podium:scheckin:1")
        assert "You're checked in to **Grand rounds**" in checked.all_text()
    finally:
        web.bot.service.clock = real_clock
    early = await school.click(bob, announcement, "podium:scheckin:1")
    assert "opens" in early.all_text(), early.all_text()


async def test_series_edit_and_cancel_from_a_date(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    alice = school.students["alice"]
    await set_up(school)
    start = first_tuesday()
    await school.run(
        school.organizer,
        "series create",
        {"title": "Journal club", "speaker": "Dr. Lee", "start": local(start), "repeat": "weekly", "count": 4},
    )
    await school.run(alice, "register", {"series": 1})
    await web.bot.courier.drain()
    talks = (await web.bot.office.series.get(school.guild_id, 1)).talks
    from_day = talks[2].start_at.astimezone(PARIS).date().isoformat()
    edited = await school.run(
        school.organizer, "series edit", {"series": 1, "time": "19:30", "title": "Journal club+", "from_date": from_day}
    )
    text = edited.all_text()
    assert "Updated 2 dates of series **#1**" in text, text
    assert "`time`" in text and "`title`" in text
    assert "Sending an updated calendar invite to the confirmed registrant" in text or "(2 in all)" in text
    after = (await web.bot.office.series.get(school.guild_id, 1)).talks
    assert [t.start_at.astimezone(PARIS).strftime("%H:%M") for t in after] == ["18:00", "18:00", "19:30", "19:30"]
    for talk in after[2:]:
        uid = f"talk-{talk.id}-guild-{school.guild_id}@podium"
        await emu.changed.wait_for(
            lambda u=uid: len(invites_by_uid(emu, alice).get(u, [])) == 2, 10, "the updated invite"
        )
    # /talk announce on any date re-posts the series' one message, and every date follows it.
    [before] = school.announcements()
    reposted = await school.run(school.organizer, "talk announce", {"talk": after[1].id})
    assert "Re-posted the announcement of talk **#2**" in reposted.all_text()
    [again] = school.announcements()
    assert again["id"] != before["id"] and "Journal club+" in str(again["embeds"])
    assert {t.announcement_message_id for t in (await web.bot.office.series.get(school.guild_id, 1)).talks} == {
        int(again["id"])
    }
    cancelled = await school.run(school.organizer, "series cancel", {"series": 1, "from_date": from_day})
    assert "Cancelled 2 dates of series **#1**" in cancelled.all_text()
    assert "(2 registrations)" in cancelled.all_text()
    assert [t.cancelled for t in (await web.bot.office.series.get(school.guild_id, 1)).talks] == [
        False,
        False,
        True,
        True,
    ]


async def test_bad_input_changes_nothing(emu: DiscordEmulator, school: School, web: WebSide) -> None:
    alice = school.students["alice"]
    await set_up(school)
    start = first_tuesday()
    base = {"title": "T", "speaker": "S", "start": local(start), "repeat": "weekly"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "count": 0}, "from 1 to 52; you gave 0"),
        ({**base, "count": 53}, "from 1 to 52; you gave 53"),
        ({**base}, "Say how long the series runs"),
        ({**base, "until": (start - timedelta(days=1)).date().isoformat()}, "comes before `start`"),
        ({**base, "until": "someday"}, "could not read `someday`"),
        ({**base, "repeat": "monthly", "start": local(start.replace(day=30)), "count": 2}, "not every month"),
    ]
    for options, fragment in cases:
        reply = await school.run(school.organizer, "series create", options)
        assert reply.ephemeral and fragment in reply.all_text(), (options, reply.all_text())
    assert await talk_count(web) == 0 and school.announcements() == []

    await school.run(school.organizer, "series create", {**base, "count": 2})
    # Another server's series reads like one that does not exist.
    other = await web.bot.office.series.create(
        999, 1, TalkInput(title="Elsewhere", speaker="S", start=local(start)), repeat="weekly", count=1, until=None
    )
    for series_id in (other.series.id, 42):
        for command, options in (
            ("series edit", {"series": series_id, "title": "X"}),
            ("series cancel", {"series": series_id}),
        ):
            reply = await school.run(school.organizer, command, options)
            assert f"There is no series #{series_id} in this server" in reply.all_text(), reply.all_text()
        reply = await school.run(alice, "register", {"series": series_id})
        assert f"There is no series #{series_id} in this server" in reply.all_text()
    late = (start + timedelta(weeks=3)).date().isoformat()
    after_last = await school.run(school.organizer, "series edit", {"series": 1, "title": "X", "from_date": late})
    assert "is after the last date of **T**" in after_last.all_text()
    nothing = await school.run(school.organizer, "series edit", {"series": 1})
    assert "Nothing to change" in nothing.all_text()
    bad_time = await school.run(school.organizer, "series edit", {"series": 1, "time": "soon"})
    assert "as a time of day" in bad_time.all_text()
    both = await school.run(alice, "register", {"series": 1, "talk": 1})
    neither = await school.run(alice, "register", {})
    for reply in (both, neither):
        assert "exactly one of the two" in reply.all_text()
    assert [t.title for t in (await web.bot.office.series.get(school.guild_id, 1)).talks] == ["T", "T"]
    assert await web.bot.service.attendees(await web.bot.service.get_talk(school.guild_id, 1)) == []

    # A series whose every date is cancelled has nothing left to edit, cancel or register for.
    await school.run(school.organizer, "series cancel", {"series": 1})
    for command, options, fragment in (
        ("series edit", {"series": 1, "title": "X"}, "there is nothing to change"),
        ("series cancel", {"series": 1}, "there is nothing to change"),
    ):
        reply = await school.run(school.organizer, command, options)
        assert fragment in reply.all_text(), reply.all_text()
    closed = await school.run(alice, "register", {"series": 1})
    assert "registration is closed" in closed.all_text()
    # Members cannot use /series at all; organizers' autocomplete answers them nothing.
    denied = await emu.autocomplete(school.guild_id, school.organizer, "series edit", {"series": ""}, focused="series")
    await denied.wait_done()
    assert [c["value"] for c in denied.choices or []] == [1]


async def test_autocomplete_and_a_restart(emu: DiscordEmulator, school: School, tmp_path: Path) -> None:
    emu.set_command_permission(school.guild_id, "series", school.organizer_role)
    alice = school.students["alice"]
    database = tmp_path / "podium.sqlite3"
    start = first_tuesday()
    async with web_bot(emu, school, database):
        await set_up(school)
        await school.run(
            school.organizer,
            "series create",
            {
                "title": "Held back",
                "speaker": "S",
                "start": local(start),
                "repeat": "biweekly",
                "count": 3,
                "announce_at": local(start - timedelta(days=2)),
            },
        )
        await school.run(
            school.organizer,
            "series create",
            {"title": "Ethics", "speaker": "S", "start": local(start), "repeat": "monthly", "count": 3},
        )
        member = await emu.autocomplete(school.guild_id, alice, "register", {"series": ""}, focused="series")
        await member.wait_done()
        assert [(c["value"], c["name"].split(" — ")[0]) for c in member.choices or []] == [(2, "Ethics")]
        organizer = await emu.autocomplete(
            school.guild_id, school.organizer, "series edit", {"series": ""}, focused="series"
        )
        await organizer.wait_done()
        names = [c["name"] for c in organizer.choices or []]
        assert sorted(c["value"] for c in organizer.choices or []) == [1, 2]
        assert any(name.startswith("Ethics — monthly from") and name.endswith("(3 dates)") for name in names)
        stranger = await emu.autocomplete(school.guild_id, alice, "register", {"series": "Held"}, focused="series")
        await stranger.wait_done()
        assert stranger.choices == []
    [announcement] = school.announcements()
    # The menu still works after a restart: the series id is in its custom id, nothing is kept in memory.
    async with web_bot(emu, school, database) as web:
        reply = await pick(school, alice, announcement, 2, "all")
        assert reply.all_text().count("— confirmed") == 3
        await web.bot.courier.drain()
        assert len(invites_by_uid(emu, alice)) == 3
        # The held-back series is posted at its announce_at: each date's job falls due at once, one message.
        held = (await web.bot.office.series.get(school.guild_id, 1)).talks
        await asyncio.gather(
            *(web.bot.scheduler.run(PlannedJob(JobAction.ANNOUNCE, t.id, t.announce_at or start)) for t in held)
        )
        posted = await emu.wait_for_message(lambda m: bool(m.get("embeds")) and "Held back" in str(m["embeds"]))
        assert [m["id"] for m in school.announcements()] == [announcement["id"], posted["id"]]
        held = (await web.bot.office.series.get(school.guild_id, 1)).talks
        assert {t.announcement_message_id for t in held} == {int(posted["id"])}
