"""Organizers read /talk in their own Discord language, and French organizers type dates the French way."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from bot.client import PodiumBot
from tests.emulator import DiscordEmulator
from tests.harness import School

NBSP = "\u00a0"
FRENCH_EXAMPLE = re.compile(r"`\d{2}/\d{2}/\d{4} 18h00`")  # a week from today, written the French way
ENGLISH_EXAMPLE = re.compile(r"`\d{4}-\d{2}-\d{2} 18:00`")


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


async def test_a_french_organizer_runs_talk_in_french_and_an_english_one_in_english(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    organizer = school.organizer
    emu.world.users[organizer].locale = "fr"
    await bot.service.update_settings(
        school.guild_id, channel_id=school.channel_id, organizer_role_id=school.organizer_role
    )
    year = datetime.now(UTC).year + 1

    created = await school.run(
        organizer,
        "talk create",
        {"title": "Cardiologie", "speaker": "Dr Martin", "start": f"03/12/{year} 18h00", "capacity": 2},
    )
    assert created.ephemeral
    reply = created.content or ""
    assert reply.startswith(f"Conférence **n°{NBSP}1** créée. Annoncée dans <#{school.channel_id}>{NBSP}: https://")
    assert reply.endswith(f"Aperçu{NBSP}:")
    [talk] = await bot.service.upcoming(school.guild_id, public_only=False)
    assert talk.start_at == datetime(year, 12, 3, 17, 0, tzinfo=UTC)  # 18:00 in Paris, in winter

    # An impossible date: a French error with a French example, ephemeral, and nothing created.
    bad = await school.run(
        organizer, "talk create", {"title": "Neurologie", "speaker": "Dr Petit", "start": f"31/02/{year} 18h00"}
    )
    assert bad.ephemeral
    error = bad.all_text()
    assert f"`31/02/{year} 18h00` n'est pas une date et une heure qui existent, pour `debut`." in error
    assert FRENCH_EXAMPLE.search(error), error
    assert len(await bot.service.upcoming(school.guild_id, public_only=False)) == 1

    edited = await school.run(organizer, "talk edit", {"talk": talk.id, "start": f"04/12/{year} 18h30"})
    assert (edited.content or "").startswith(f"Conférence **n°{NBSP}1** modifiée (`debut`).")
    assert (await bot.service.get_talk(school.guild_id, talk.id)).start_at == datetime(year, 12, 4, 17, 30, tzinfo=UTC)
    reposted = await school.run(organizer, "talk announce", {"talk": talk.id})
    assert (reposted.content or "").startswith(f"Annonce de la conférence **n°{NBSP}1** publiée de nouveau{NBSP}:")

    # The attendees: the reply and the CSV's columns in French.
    await school.run(school.students["alice"], "register", {"talk": talk.id})
    attendees = await school.run(organizer, "talk attendees", {"talk": talk.id})
    assert (attendees.content or "").startswith(
        f"**#1 Cardiologie** — inscriptions confirmées{NBSP}: 1 sur 2 places\u202f; liste d'attente{NBSP}: 0."
    )
    assert "La liste complète est dans le fichier CSV joint." in attendees.all_text()
    [(_name, data)] = attendees.attachments
    header, row = csv_rows(data)
    assert header == [
        "Nom affiché",
        "Identifiant Discord",
        "Statut",
        "Rang en liste d'attente",
        "Inscription (UTC)",
        "Invitation par message privé",
        "Présence (UTC)",
    ]
    assert row[1:3] == [str(school.students["alice"]), "confirmée"]

    # The same organizer with an English Discord: English replies, ISO only.
    emu.world.users[organizer].locale = "en-US"
    refused = await school.run(
        organizer, "talk create", {"title": "Neurology", "speaker": "Dr Small", "start": f"03/12/{year} 18h00"}
    )
    assert refused.ephemeral
    assert f"I could not read `03/12/{year} 18h00` as a date for `start`." in refused.all_text()
    assert ENGLISH_EXAMPLE.search(refused.all_text()), refused.all_text()
    english = await school.run(
        organizer, "talk create", {"title": "Neurology", "speaker": "Dr Small", "start": f"{year}-12-05 18:00"}
    )
    assert (english.content or "").startswith(f"Created talk **#2**. Announced in <#{school.channel_id}>: https://")
    english_attendees = await school.run(organizer, "talk attendees", {"talk": talk.id})
    [(_name, data)] = english_attendees.attachments
    assert csv_rows(data)[0] == [
        "display_name",
        "user_id",
        "status",
        "waitlist_position",
        "registered_at",
        "invite_dm",
        "checked_in_at",
    ]

    emu.world.users[organizer].locale = "fr"
    cancelled = await school.run(organizer, "talk cancel", {"talk": talk.id})
    assert (cancelled.content or "").startswith(
        f"Conférence **n°{NBSP}1** (Cardiologie) annulée. J'envoie l'annulation à la personne confirmée, avec un "
        "fichier qui retire la conférence de l'agenda."
    )
