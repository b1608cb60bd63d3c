"""The whole walk of issue "Podium core" with the real bot and real discord.py against the emulator:
setup → create → announcement → register by command and by button → DM with .ics → edit → updated invite →
waitlist and promotion → cancel."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School, ics_attachments, ics_of

PARIS = ZoneInfo("Europe/Paris")


def local(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")


def dms_with_ics(emu: DiscordEmulator, user: int) -> list[dict]:
    return [m for m in emu.dm_messages(user) if any(a["filename"].endswith(".ics") for a in m["attachments"])]


async def test_the_whole_walk(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    alice, bob, carol, dave = (school.students[n] for n in ("alice", "bob", "carol", "dave"))
    emu.set_dms_open(dave, False)

    # setup
    setup = await school.run(
        school.admin,
        "setup",
        {
            "channel": school.channel_id,
            "organizer_role": school.organizer_role,
            "timezone": "Europe/Paris",
            "reminders": "1d,1h",
        },
    )
    assert setup.ephemeral
    assert "Settings saved" in setup.all_text()
    shown = await school.run(school.admin, "setup")
    assert f"<#{school.channel_id}>" in shown.all_text()
    assert "1d,1h" in shown.all_text()

    # create: announced at once in the channel
    start = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    created = await school.run(
        school.organizer,
        "talk create",
        {
            "title": "CRISPR in the clinic",
            "speaker": "Prof. Jennifer Doudna",
            "start": local(start),
            "duration": 90,
            "location": "Amphi A",
            "capacity": 2,
            "description": "Gene editing, from bench to bedside.",
            "speaker_bio": "Nobel laureate in Chemistry.",
        },
    )
    assert created.ephemeral
    assert "Created talk **#1**" in created.all_text()
    [announcement] = school.announcements()
    embed = announcement["embeds"][0]
    assert embed["title"] == "CRISPR in the clinic"
    text = str(embed)
    assert f"<t:{int(start.timestamp())}:F>" in text
    assert f"<t:{int(start.timestamp())}:R>" in text
    assert "2 of 2 seats left" in text
    assert "Nobel laureate" in text
    custom_ids = [c["custom_id"] for row in announcement["components"] for c in row["components"]]
    assert custom_ids == ["podium:register:1", "podium:unregister:1", "podium:ics:1", "podium:checkin:1"]

    # register by command: confirmed, DM with the invite
    registered = await school.run(alice, "register", {"talk": 1})
    assert registered.ephemeral
    assert "You're registered" in registered.all_text()
    assert "on its way by DM" in registered.all_text()
    await bot.courier.drain()  # the reply does not wait for the invite DM
    [dm] = dms_with_ics(emu, alice)
    calendar = ics_of(emu, dm)
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "PUBLISH"
    assert event.decoded("DTSTART") == start
    assert event["SEQUENCE"] == 0
    uid = str(event["UID"])

    # register by button
    clicked = await school.click(bob, announcement, "podium:register:1")
    assert clicked.ephemeral
    assert "You're registered" in clicked.all_text()
    await bot.courier.drain()
    assert len(dms_with_ics(emu, bob)) == 1

    # the announcement follows the seats
    await emu.wait_for_message(lambda m: m["id"] == announcement["id"] and "Full (2 seats)" in str(m["embeds"]))

    # registering twice changes nothing
    again = await school.run(alice, "register", {"talk": 1})
    assert "already registered" in again.all_text()
    await bot.courier.drain()
    assert len(dms_with_ics(emu, alice)) == 1

    # waitlist (carol), and dave whose DMs are closed is waitlisted too
    waitlisted = await school.run(carol, "register", {"talk": 1})
    assert "#1 on the waitlist" in waitlisted.all_text()
    await bot.courier.drain()
    assert dms_with_ics(emu, carol) == []
    waitlisted_dave = await school.run(dave, "register", {"talk": 1})
    assert "#2 on the waitlist" in waitlisted_dave.all_text()

    mine = await school.run(carol, "mytalks")
    assert "waitlist #1" in mine.all_text()

    # edit: new time and room, every confirmed registrant gets an updated invite with a higher SEQUENCE
    new_start = start + timedelta(days=1, hours=2)
    edited = await school.run(
        school.organizer, "talk edit", {"talk": 1, "start": local(new_start), "location": "Amphi B"}
    )
    assert "Updated talk **#1**" in edited.all_text()
    assert "updated calendar invite to 2" in edited.all_text()
    for user in (alice, bob):
        message = await emu.wait_for_message(
            lambda m, u=user: m["channel_id"] == str(emu.dm_channel_id(u)) and "has changed" in m["content"]
        )
        [updated] = ics_of(emu, message).walk("VEVENT")
        assert str(updated["UID"]) == uid
        assert updated["SEQUENCE"] == 1
        assert updated.decoded("DTSTART") == new_start
        assert str(updated["LOCATION"]) == "Amphi B"
    await emu.wait_for_message(lambda m: m["id"] == announcement["id"] and str(int(new_start.timestamp())) in str(m))

    # unregister (alice): seat freed, carol promoted at once and told by DM with the invite
    left = await school.run(alice, "unregister", {"talk": 1})
    assert "no longer registered" in left.all_text()
    # alice registered seconds ago, so her withdrawal waits the short hold that lets a quick change of mind
    # replace it (ChangeLimit.hold); carol's promotion does not wait
    cancel_copy = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(alice)) and "no longer registered" in m["content"],
        timeout=bot.service.change_limit.hold.total_seconds() + 5,
    )
    assert ics_of(emu, cancel_copy)["METHOD"] == "CANCEL"
    promoted = await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(carol) or 0) and "now **confirmed**" in m["content"]
    )
    assert ics_of(emu, promoted).walk("VEVENT")[0]["SEQUENCE"] == 1

    # attendees: CSV and who could not be reached
    attendees = await school.run(school.organizer, "talk attendees", {"talk": 1})
    assert "2 confirmed of 2 seats, 1 on the waitlist" in attendees.all_text()
    [(_name, data)] = attendees.attachments
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r["user_id"], r["status"], r["waitlist_position"]) for r in rows] == [
        (str(bob), "confirmed", ""),
        (str(carol), "confirmed", ""),
        (str(dave), "waitlisted", "1"),
    ]

    # cancel: confirmed registrants get METHOD:CANCEL, the announcement says so, buttons close
    cancelled = await school.run(school.organizer, "talk cancel", {"talk": 1, "reason": "Speaker's flight cancelled"})
    assert "Cancelled talk **#1**" in cancelled.all_text()
    for user in (bob, carol):
        message = await emu.wait_for_message(
            lambda m, u=user: m["channel_id"] == str(emu.dm_channel_id(u)) and "cancelled" in m["content"]
        )
        calendar = ics_of(emu, message)
        assert calendar["METHOD"] == "CANCEL"
        assert str(calendar.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    final = await emu.wait_for_message(lambda m: m["id"] == announcement["id"] and "Cancelled:" in str(m["embeds"]))
    assert all(c.get("disabled") for c in final["components"][0]["components"][:2])
    late = await school.run(alice, "register", {"talk": 1})
    assert late.ephemeral
    assert "cancelled" in late.all_text()


async def test_closed_dms_still_register_and_get_the_file_in_the_reply(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    dave = school.students["dave"]
    emu.set_dms_open(dave, False)
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
    start = datetime.now(UTC) + timedelta(days=3)
    created = await school.run(school.organizer, "talk create", {"title": "T", "speaker": "S", "start": local(start)})
    assert "Created talk **#1**" in created.all_text(), created.all_text()
    reply = await school.run(dave, "register", {"talk": 1})
    assert reply.ephemeral
    # The answer does not wait for the DM; when it fails, a follow-up on the same interaction brings the file.
    assert "You're registered" in reply.all_text()
    await emu.changed.wait_for(lambda: "could not DM you" in reply.all_text(), 10, "the follow-up with the file")
    assert all(message["flags"] & 64 for message in reply.messages)  # every part of the answer is ephemeral
    [calendar] = ics_attachments(reply)
    assert calendar["METHOD"] == "PUBLISH"
    attendees = await school.run(school.organizer, "talk attendees", {"talk": 1})
    assert f"<@{dave}>" in attendees.all_text()
    assert "Could not be reached" in attendees.all_text()
    [(_, data)] = attendees.attachments
    assert "failed" in data.decode("utf-8-sig")


async def test_capacity_changes_by_edit(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
    start = datetime.now(UTC) + timedelta(days=4)
    await school.run(
        school.organizer, "talk create", {"title": "T", "speaker": "S", "start": local(start), "capacity": 1}
    )
    alice, bob, carol = (school.students[n] for n in ("alice", "bob", "carol"))
    for user in (alice, bob, carol):
        await school.run(user, "register", {"talk": 1})
    raised = await school.run(school.organizer, "talk edit", {"talk": 1, "capacity": 3})
    assert "2 members moved from the waitlist to confirmed" in raised.all_text()
    for user in (bob, carol):
        await emu.wait_for_message(
            lambda m, u=user: m["channel_id"] == str(emu.dm_channel_id(u) or 0) and "now **confirmed**" in m["content"]
        )
    lowered = await school.run(school.organizer, "talk edit", {"talk": 1, "capacity": 1})
    assert "3 members were already confirmed, 2 more than the new capacity of 1" in lowered.all_text()
    assert "they keep their seats" in lowered.all_text()
    waitlisted = await school.run(school.students["dave"], "register", {"talk": 1})
    assert "#1 on the waitlist" in waitlisted.all_text()
    bad = await school.run(school.organizer, "talk edit", {"talk": 1, "capacity": -2})
    assert "at least 1" in bad.all_text()
    assert "give 0 for unlimited seats" in bad.all_text()
    assert (await bot.service.get_talk(school.guild_id, 1)).capacity == 1
    # capacity 0: unlimited seats again, and the whole waitlist is confirmed
    unlimited = await school.run(school.organizer, "talk edit", {"talk": 1, "capacity": 0})
    assert "1 member moved from the waitlist to confirmed" in unlimited.all_text()
    assert "Open seating" in unlimited.all_text()
    assert (await bot.service.get_talk(school.guild_id, 1)).capacity is None
    dave = school.students["dave"]
    await emu.wait_for_message(
        lambda m: m["channel_id"] == str(emu.dm_channel_id(dave) or 0) and "now **confirmed**" in m["content"]
    )
