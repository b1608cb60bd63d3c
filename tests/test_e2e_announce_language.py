"""What the whole server reads, the announcement and the reminder post, speaks the server's language (/setup
language:), and a new language re-renders the live announcements in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.client import PodiumBot
from bot.i18n import short_datetime
from bot.jobplan import JobAction, PlannedJob
from tests.emulator import DiscordEmulator
from tests.harness import School

NBSP = "\u00a0"
PARIS = ZoneInfo("Europe/Paris")  # the harness's DEFAULT_TIMEZONE


def field_names(message: dict[str, Any]) -> list[str]:
    return [field["name"] for field in message["embeds"][0]["fields"]]


def field(message: dict[str, Any], name: str) -> str:
    [value] = [f["value"] for f in message["embeds"][0]["fields"] if f["name"] == name]
    return str(value)


def button_labels(message: dict[str, Any]) -> list[str]:
    return [button["label"] for row in message["components"] for button in row["components"]]


def reminder_posts(school: School) -> list[dict[str, Any]]:
    return [m for m in school.emu.messages(school.channel_id) if m["content"].startswith("⏰")]


async def create_talk(school: School, title: str, start: datetime) -> dict[str, Any]:
    created = await school.run(
        school.organizer,
        "talk create",
        {
            "title": title,
            "speaker": "Dr Martin",
            "start": start.isoformat(timespec="minutes"),
            "duration": 90,
            "location": "Amphi A",
            "capacity": 2,
            "reminders": "1d",
        },
    )
    assert "#" in created.all_text(), created.all_text()
    [announcement] = [m for m in school.announcements() if m["embeds"][0]["title"] == title]
    # The organizer's preview is the announcement as the server reads it.
    assert [f["name"] for f in created.embeds[0]["fields"]] == field_names(announcement)
    return announcement


async def remind(bot: PodiumBot, talk_id: int) -> None:
    await bot.scheduler.run(PlannedJob(JobAction.REMINDER, talk_id, bot.service.clock(), 24 * 60))
    await bot.courier.drain()


async def test_a_french_server_reads_french_and_a_new_language_edits_the_same_announcement(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    await school.run(
        school.admin,
        "setup",
        {"channel": school.channel_id, "organizer_role": school.organizer_role, "language": "fr"},
    )
    start = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    announcement = await create_talk(school, "Cardiologie", start)
    assert field_names(announcement) == ["Intervenant·e", "Date", "Durée", "Lieu", "Places"]
    assert field(announcement, "Durée").replace(NBSP, " ") == "1 heure 30 minutes"
    assert field(announcement, "Places") == "2 places restantes sur 2"
    assert field(announcement, "Date") == f"<t:{int(start.timestamp())}:F> (<t:{int(start.timestamp())}:R>)"
    assert announcement["embeds"][0]["footer"]["text"] == f"Conférence n°{NBSP}1"
    assert button_labels(announcement) == [
        "S'inscrire",
        "Se désinscrire",
        "Ajouter à l'agenda (.ics)",
        "Je suis présent·e",
    ]

    # A cancelled talk keeps its last words when the language changes: nobody registers from it any more.
    gone = await create_talk(school, "Néphrologie", start + timedelta(days=1))
    await school.run(school.organizer, "talk cancel", {"talk": 2})
    gone = await emu.wait_for_message(lambda m: m["id"] == gone["id"] and m["embeds"][0]["title"].startswith("Annulée"))

    # The seats count follows a registration, still in French.
    await school.run(school.students["carol"], "register", {"talk": 1})
    edited = await emu.wait_for_message(
        lambda m: m["id"] == announcement["id"] and "1 place restante sur 2" in str(m["embeds"])
    )
    assert field_names(edited)[0] == "Intervenant·e"

    # What one member asks for follows that member's language, not the server's.
    alice, bob = school.students["alice"], school.students["bob"]
    emu.world.users[alice].locale = "fr"
    typed = await emu.autocomplete(school.guild_id, alice, "register", {"talk": "cardio"}, focused="talk")
    await typed.wait_done()
    zone = f"{start.astimezone(PARIS):%Z}"
    assert typed.choices == [{"name": f"Cardiologie — {short_datetime(start, PARIS, 'fr')} {zone}", "value": 1}]
    listing = await school.run(bob, "talks")  # bob's Discord is in English
    assert "1 of 2 seats left" in listing.all_text()
    assert "place restante" not in listing.all_text()

    # The reminder post in the channel, in French, with its French button.
    await remind(bot, 1)
    [post] = reminder_posts(school)
    assert post["content"].startswith(f"⏰ **Cardiologie** avec Dr Martin commence <t:{int(start.timestamp())}:F>")
    assert f"Détails et inscription{NBSP}: https://discord.com/channels/" in post["content"]
    assert button_labels(post) == ["S'inscrire"]

    # /setup language:en edits the same announcement into English, without posting a new one.
    announced_before = len(school.announcements())
    switched = await school.run(school.admin, "setup", {"language": "en"})
    assert "Settings saved." in switched.all_text()
    await emu.wait_for_message(lambda m: m["id"] == announcement["id"] and "Speaker" in str(m["embeds"]))
    await bot.announcer.drain()  # every live announcement's edit is done, so the cancelled one's would be too
    english = emu.message(int(announcement["id"]))
    assert english["embeds"][0]["title"] == "Cardiologie"
    assert field_names(english) == ["Speaker", "When", "Duration", "Where", "Seats"]
    assert field(english, "Duration") == "1 hour 30 minutes"
    assert field(english, "Seats") == "1 of 2 seats left"
    assert english["embeds"][0]["footer"]["text"] == "Talk #1"
    assert button_labels(english) == ["Register", "Unregister", "Add to calendar (.ics)", "Check in"]
    assert len(school.announcements()) == announced_before
    assert emu.message(int(gone["id"]))["embeds"] == gone["embeds"]

    # The buttons still work after the edit, and later edits stay in English.
    clicked = await school.click(school.students["bob"], english, "podium:register:1")
    assert "You're registered" in clicked.all_text()
    await emu.wait_for_message(lambda m: m["id"] == announcement["id"] and "Full (2 seats)" in str(m["embeds"]))


async def test_an_english_server_reads_english(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    await school.run(
        school.admin,
        "setup",
        {"channel": school.channel_id, "organizer_role": school.organizer_role, "language": "en"},
    )
    start = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    created = await school.run(
        school.organizer,
        "talk create",
        {"title": "Cardiology", "speaker": "Dr Martin", "start": start.isoformat(timespec="minutes")},
    )
    # The organizer's preview is the announcement as the server reads it.
    assert [f["name"] for f in created.embeds[0]["fields"]] == ["Speaker", "When", "Duration", "Seats"]
    [announcement] = school.announcements()
    assert field_names(announcement) == ["Speaker", "When", "Duration", "Seats"]
    assert field(announcement, "Duration") == "1 hour"
    assert field(announcement, "Seats") == "Open seating — 0 registered"
    assert button_labels(announcement) == ["Register", "Unregister", "Add to calendar (.ics)", "Check in"]
    await remind(bot, 1)
    [post] = reminder_posts(school)
    assert post["content"].startswith("⏰ **Cardiology** with Dr Martin starts")
    assert "Details and registration: https://discord.com/channels/" in post["content"]
    assert button_labels(post) == ["Register"]
