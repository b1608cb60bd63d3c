"""/talk import with the real bot and real discord.py against the emulator: a season file becomes talks,
a second import of it creates nothing, bad files or members are refused without creating anything, and
the bot keeps answering others while a costly file is read."""

from __future__ import annotations

import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import discord
import pytest

from bot import import_worker
from bot.client import PodiumBot
from bot.importer import DEFAULT_SPEAKER, MAX_BYTES
from bot.models import Talk
from tests.emulator import DiscordEmulator
from tests.harness import School

PARIS = ZoneInfo("Europe/Paris")


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def paris(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y%m%dT%H%M%S")


def vevent(uid: str, summary: str, *lines: str) -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"SUMMARY:{summary}", *lines, "END:VEVENT"]


def calendar(*events: list[str]) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Tests//Season//EN"]
    for event in events:
        lines += event
    return "\r\n".join([*lines, "END:VCALENDAR", ""]).encode()


def season() -> tuple[bytes, datetime, datetime]:
    """A weekly seminar (4 dates, one excluded), a keynote tomorrow, a past talk and an all-day event."""
    now = datetime.now(UTC)
    first = (now + timedelta(days=7)).astimezone(PARIS).replace(hour=18, minute=0, second=0, microsecond=0)
    keynote = (now + timedelta(days=1)).replace(second=0, microsecond=0)
    data = calendar(
        vevent(
            "seminar@uni.example",
            "Weekly seminar",
            f"DTSTART;TZID=Europe/Paris:{paris(first)}",
            f"DTEND;TZID=Europe/Paris:{paris(first + timedelta(minutes=90))}",
            "RRULE:FREQ=WEEKLY;COUNT=4",
            f"EXDATE;TZID=Europe/Paris:{paris(first + timedelta(days=7))}",
            "LOCATION:Amphi B",
        ),
        vevent(
            "keynote@uni.example",
            "Opening keynote",
            f"DTSTART:{stamp(keynote)}",
            "DURATION:PT45M",
            "DESCRIPTION:The opening talk of the season.",
        ),
        vevent("old@uni.example", "Last year's talk", f"DTSTART:{stamp(now - timedelta(days=365))}"),
        vevent("break@uni.example", "Spring break", f"DTSTART;VALUE=DATE:{(now + timedelta(days=20)):%Y%m%d}"),
    )
    return data, first, keynote


async def configure(school: School) -> None:
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})


async def all_talks(bot: PodiumBot, school: School) -> list[Talk]:
    return await bot.service.upcoming(school.guild_id, limit=100, public_only=False)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the attachments the bot downloaded (the real Attachment.read, observed)."""
    seen: list[str] = []
    original: Callable[..., Awaitable[bytes]] = discord.Attachment.read

    async def read(self: discord.Attachment, **kwargs: object) -> bytes:
        seen.append(self.filename)
        return await original(self, **kwargs)

    monkeypatch.setattr(discord.Attachment, "read", read)
    return seen


async def test_a_season_is_imported_once(
    emu: DiscordEmulator, school: School, bot: PodiumBot, downloads: list[str]
) -> None:
    await configure(school)
    data, first, keynote = season()

    reply = await school.run(school.organizer, "talk import", {"file": ("season.ics", data)}, timeout=20)
    text = reply.all_text()
    assert reply.ephemeral
    assert downloads == ["season.ics"]
    assert "Imported **4** talks from `season.ics`" in text, text
    assert "• 1 already started or over: Last year's talk" in text
    assert "• 1 all-day, with no start time: Spring break" in text
    assert "Repeating events were read up to" in text
    assert "`/talk announce talk:1`" in text
    assert f"<t:{int(keynote.timestamp())}:f>" in text

    talks = await all_talks(bot, school)
    expected_starts = [keynote, first, first + timedelta(days=14), first + timedelta(days=21)]
    assert [talk.start_at for talk in talks] == [moment.astimezone(UTC) for moment in expected_starts]
    assert [talk.title for talk in talks] == ["Opening keynote"] + ["Weekly seminar"] * 3
    assert talks[0].source_uid == "keynote@uni.example"
    assert talks[0].duration_min == 45
    assert talks[0].description == "The opening talk of the season."
    assert talks[1].source_uid == f"seminar@uni.example/{stamp(first)}"
    for talk in talks:
        assert talk.speaker == str(DEFAULT_SPEAKER)
        assert talk.capacity is None
        assert talk.reminders == (1440, 60)  # the server's default
        assert talk.created_by == school.organizer
        assert f"<t:{int(talk.start_at.timestamp())}:f>" in text
    for talk in talks[1:]:
        assert (talk.duration_min, talk.location) == (90, "Amphi B")
        # 18:00 in Paris whatever the season: the UTC hour follows daylight saving time
        assert talk.start_at.astimezone(PARIS).hour == 18
    # planned like /talk create: the keynote tomorrow has its reminder, start, end and feedback jobs already
    assert bot.scheduler.job_ids(talks[0].id) == {
        f"reminder:{talks[0].id}:60",
        f"start:{talks[0].id}",
        f"end:{talks[0].id}",
        f"feedback:{talks[0].id}",
    }
    assert school.announcements() == []  # not announced unless asked
    listed = await school.run(school.students["alice"], "talks")
    assert "Opening keynote" in listed.all_text()  # open for registration at once

    again = await school.run(school.organizer, "talk import", {"file": ("season.ics", data)}, timeout=20)
    assert again.ephemeral
    assert "Nothing was imported from `season.ics`" in again.all_text()
    assert "• 4 already imported: Opening keynote, Weekly seminar\n" in again.all_text()
    assert "/talk announce" not in again.all_text()
    assert await all_talks(bot, school) == talks


async def test_options_and_announcing_at_once(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    data = calendar(*(vevent(f"t{i}@x", f"Talk {i}", f"DTSTART:{stamp(start + timedelta(days=i))}") for i in range(3)))
    await school.run(school.admin, "setup", {"organizer_role": school.organizer_role})
    options = {"file": ("three.ics", data), "speaker": "Prof. Ada Lovelace", "capacity": 30, "announce": True}
    unannounced = await school.run(school.organizer, "talk import", options, timeout=20)
    assert "Imported **3** talks" in unannounced.all_text()
    assert "No announcement channel is set" in unannounced.all_text()
    assert "speaker:" not in unannounced.all_text()

    await configure(school)
    more = calendar(
        *(vevent(f"u{i}@x", f"Later {i}", f"DTSTART:{stamp(start + timedelta(days=10 + i))}") for i in range(2))
    )
    announced = await school.run(school.organizer, "talk import", {**options, "file": ("more.ics", more)}, timeout=20)
    assert f"Announced 2 in <#{school.channel_id}>" in announced.all_text(), announced.all_text()
    assert sorted(m["embeds"][0]["title"] for m in school.announcements()) == ["Later 0", "Later 1"]
    talks = await all_talks(bot, school)
    assert len(talks) == 5
    assert {(talk.speaker, talk.capacity) for talk in talks} == {("Prof. Ada Lovelace", 30)}


def over_the_limit() -> bytes:
    start = datetime.now(UTC) + timedelta(days=1)
    return calendar(
        *(vevent(f"e{i}@x", f"Talk {i}", f"DTSTART:{stamp(start + timedelta(hours=i))}") for i in range(501))
    )


def every_second() -> bytes:
    """The reported file: 250 bytes, repeating every second from a month ago."""
    start = datetime.now(UTC) - timedelta(days=30)
    return calendar(vevent("bomb@x", "Bomb", f"DTSTART:{stamp(start)}", "RRULE:FREQ=SECONDLY"))


def since_1800() -> bytes:
    return calendar(vevent("old@x", "Daily", "DTSTART:18000101T120000Z", "RRULE:FREQ=DAILY;COUNT=100000000"))


def never_happening() -> bytes:
    """Rules that never give a date (30 February): reading each goes through every day up to the year 9999."""
    return calendar(
        *(
            vevent(f"n{i}@x", f"Never {i}", "DTSTART:20250101T120000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
            for i in range(20)
        )
    )


@pytest.mark.parametrize(
    ("filename", "data", "fragment", "downloaded"),
    [
        ("bomb.ics", every_second(), "The repeating event “Bomb” repeats every second", True),
        ("ancient.ics", since_1800(), "more than 50,000 dates", True),
        ("broken.ics", b"this is not a calendar", "not a valid iCalendar", True),
        ("empty-season.ics", calendar(), "no events", True),
        ("bad-dates.ics", calendar(vevent("b@x", "Bad", "DTSTART:2026-13-45")), "broken DTSTART", True),
        ("huge.ics", over_the_limit(), "more than 500 events", True),
        ("big.ics", b"x" * (MAX_BYTES + 1), "up to 1 MB", False),
        ("photo.png", b"\x89PNG\r\n", "not an iCalendar (.ics) file", False),
    ],
)
async def test_bad_files_create_nothing(
    emu: DiscordEmulator,
    school: School,
    bot: PodiumBot,
    downloads: list[str],
    filename: str,
    data: bytes,
    fragment: str,
    downloaded: bool,
) -> None:
    await configure(school)
    reply = await school.run(school.organizer, "talk import", {"file": (filename, data)}, timeout=20)
    assert reply.ephemeral
    assert fragment in reply.all_text(), reply.all_text()
    assert "/talk import file:" in reply.all_text()  # says what to do
    assert downloads == ([filename] if downloaded else [])
    assert await all_talks(bot, school) == []


async def test_students_cannot_import(
    emu: DiscordEmulator, school: School, bot: PodiumBot, downloads: list[str]
) -> None:
    await configure(school)
    data, _, _ = season()
    emu.set_command_permission(school.guild_id, "talk", school.students["alice"])  # /talk shown to her by mistake
    reply = await school.run(school.students["alice"], "talk import", {"file": ("season.ics", data)})
    assert reply.ephemeral
    assert "Only organizers" in reply.all_text()
    assert downloads == []
    assert await all_talks(bot, school) == []


async def test_the_reported_file_is_refused_without_the_bot_holding_its_dates(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    await configure(school)
    tracemalloc.start()
    try:
        reply = await school.run(school.organizer, "talk import", {"file": ("bomb.ics", every_second())}, timeout=30)
        peak_mb = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    finally:
        tracemalloc.stop()
    text = reply.all_text()
    assert reply.ephemeral
    assert "repeats every second (RRULE FREQ=SECONDLY)" in text
    assert "at most once a day" in text and "nothing was imported" in text
    assert await all_talks(bot, school) == []
    # the bot, the emulator and discord.py together; reading this file in the bot took 205 MB
    assert peak_mb < 32, f"{peak_mb:.1f} MB"


async def test_members_are_answered_while_a_costly_file_is_read(
    emu: DiscordEmulator, school: School, bot: PodiumBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await configure(school)
    data, _, _ = season()
    await school.run(school.organizer, "talk import", {"file": ("season.ics", data)}, timeout=20)
    talks = await all_talks(bot, school)
    # Unstopped, this file takes minutes; stopped at 6 s it still outlasts the other answers many times over.
    monkeypatch.setattr(import_worker, "TIME_LIMIT_S", 6.0)

    costly = await emu.slash(
        school.guild_id,
        school.organizer,
        "talk import",
        {"file": ("slow.ics", never_happening())},
        channel_id=school.channel_id,
    )
    await costly.wait_response()  # the bot has deferred: it is downloading and reading the file
    registered = await school.run(school.students["alice"], "register", {"talk": talks[0].id})
    listed = await school.run(school.students["bob"], "talks")
    assert not costly.done, "the import finished before the other members were answered"
    assert "You're registered" in registered.all_text()
    assert "Opening keynote" in listed.all_text()

    await costly.wait_done(timeout=60)
    text = costly.all_text()
    assert costly.ephemeral
    assert "Reading this file took more than 6 seconds, so I stopped" in text, text
    assert "/talk import file:" in text and "nothing was imported" in text
    assert await all_talks(bot, school) == talks


async def test_a_french_organizer_reads_the_import_in_french(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    """The summary and the refusals follow the organizer's Discord language; the default speaker is stored in
    the server's (English here), whoever imports."""
    await configure(school)
    emu.world.users[school.organizer].locale = "fr"
    data, _, keynote = season()

    reply = await school.run(school.organizer, "talk import", {"file": ("season.ics", data)}, timeout=20)
    text = reply.all_text()
    assert reply.ephemeral
    assert text.startswith("**4** conférences importées depuis `season.ics`\u00a0:"), text
    assert f"<t:{int(keynote.timestamp())}:f>" in text
    assert "\n2 événements ignorés\u00a0:\n" in text
    assert "• 1 déjà commencé ou terminé\u00a0: Last year's talk" in text
    assert "• 1 sur la journée entière, sans heure de début\u00a0: Spring break" in text
    assert "Les événements répétitifs ont été lus jusqu'au <t:" in text
    assert "Intervenant·e indiqué·e\u00a0: «\u00a0To be confirmed\u00a0»" in text  # the server speaks English
    assert "`/conference modifier conference:1 intervenant:...`" in text
    assert "Publiez chacune avec `/conference annoncer conference:1`." in text
    assert "Imported" not in text and "Skipped" not in text
    assert {talk.speaker for talk in await all_talks(bot, school)} == {"To be confirmed"}

    refused = await school.run(school.organizer, "talk import", {"file": ("bomb.ics", every_second())}, timeout=20)
    assert refused.ephemeral
    assert "L'événement répétitif «\u00a0Bomb\u00a0» se répète chaque seconde" in refused.all_text()
    assert "`/conference importer fichier:season.ics`" in refused.all_text()
    assert len(await all_talks(bot, school)) == 4


async def test_an_english_organizer_in_a_french_server_reads_english(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    await configure(school)
    await bot.service.update_settings(school.guild_id, language="fr")
    emu.world.users[school.organizer].locale = "en-US"
    data, _, _ = season()

    reply = await school.run(school.organizer, "talk import", {"file": ("season.ics", data)}, timeout=20)
    text = reply.all_text()
    assert reply.ephemeral
    assert text.startswith("Imported **4** talks from `season.ics`:"), text
    assert "\nSkipped 2:\n• 1 already started or over: Last year's talk\n" in text
    assert "The speaker is “À préciser”: set it with `/talk edit talk:1 speaker:...`." in text
    assert "post each with `/talk announce talk:1`." in text
    assert "conférence" not in text
    # the talks' placeholder speaker is the one every member of this French server reads
    assert {talk.speaker for talk in await all_talks(bot, school)} == {"À préciser"}
