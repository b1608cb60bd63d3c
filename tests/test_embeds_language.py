"""The announcement embed, its buttons, list lines and choice labels in the language they are rendered in."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import discord
import pytest

from bot.embeds import CHOICE_MAX, choice_label, seats_text, talk_embed, talk_line, talk_view
from bot.i18n import render
from bot.messages import reminder_post, reminder_post_view
from bot.models import Seats, Talk, TalkStatus

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
BEFORE = START - timedelta(days=2)
NBSP = "\u00a0"
# Discord's limits: embed title and field name 256, field value 1024, footer 2048, button label 80.
TITLE_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX, FOOTER_MAX, LABEL_MAX = 256, 256, 1024, 2048, 80


def make_talk(**changes: object) -> Talk:
    talk = Talk(
        id=7,
        guild_id=1,
        title="Cardiologie",
        speaker="Dr Martin",
        speaker_bio="Cardiologue au CHU.",
        description="Le cœur, de près.",
        location="Amphi A",
        start_at=START,
        duration_min=90,
        capacity=10,
        reminders=(60,),
        announce_at=None,
        status=TalkStatus.SCHEDULED,
        cancel_reason=None,
        sequence=0,
        announcement_channel_id=5,
        announcement_message_id=6,
        created_by=1,
        created_at=BEFORE,
        updated_at=BEFORE,
    )
    return dataclasses.replace(talk, **changes)  # type: ignore[arg-type]


def fields(embed: discord.Embed) -> dict[str, str]:
    return {str(field.name): str(field.value) for field in embed.fields}


def labels(view: discord.ui.View) -> list[str]:
    return [str(getattr(item, "label", "")) for item in view.children]


def test_the_announcement_in_french() -> None:
    embed = talk_embed(make_talk(), Seats(confirmed=1, waitlisted=0, capacity=10), BEFORE, "fr")
    assert embed.title == "Cardiologie"
    assert list(fields(embed)) == ["Intervenant·e", "À propos de l'intervenant·e", "Date", "Durée", "Lieu", "Places"]
    assert fields(embed)["Durée"].replace(NBSP, " ") == "1 heure 30 minutes"  # Babel ties « 1 heure »
    assert fields(embed)["Places"] == "9 places restantes sur 10"
    assert fields(embed)["Date"] == f"<t:{int(START.timestamp())}:F> (<t:{int(START.timestamp())}:R>)"
    assert embed.footer.text == f"Conférence n°{NBSP}7"
    assert labels(talk_view(make_talk(), BEFORE, "fr")) == [
        "S'inscrire",
        "Se désinscrire",
        "Ajouter à l'agenda (.ics)",
        "Je suis présent·e",
    ]


def test_the_announcement_in_english() -> None:
    embed = talk_embed(make_talk(), Seats(confirmed=1, waitlisted=0, capacity=10), BEFORE, "en")
    assert list(fields(embed)) == ["Speaker", "About the speaker", "When", "Duration", "Where", "Seats"]
    assert fields(embed)["Duration"] == "1 hour 30 minutes"
    assert fields(embed)["Seats"] == "9 of 10 seats left"
    assert embed.footer.text == "Talk #7"
    assert labels(talk_view(make_talk(), BEFORE, "en")) == [
        "Register",
        "Unregister",
        "Add to calendar (.ics)",
        "Check in",
    ]


@pytest.mark.parametrize(
    ("seats", "french", "english"),
    [
        (Seats(9, 0, 10), "1 place restante sur 10", "1 of 10 seats left"),
        (Seats(1, 0, 1), "Complet (1 place) — inscrivez-vous pour rejoindre la liste d'attente", None),
        (Seats(2, 0, 2), None, "Full (2 seats) — register to join the waitlist"),
        (Seats(2, 1, 2), "Complet (2 places) — 1 personne en liste d'attente", "Full (2 seats) — 1 on the waitlist"),
        (Seats(2, 3, 2), "Complet (2 places) — 3 personnes en liste d'attente", "Full (2 seats) — 3 on the waitlist"),
        (Seats(1, 0, None), "Places illimitées — 1 inscrit·e", "Open seating — 1 registered"),
        (Seats(1200, 0, None), f"Places illimitées — 1{NBSP}200 inscrit·es", "Open seating — 1,200 registered"),
        (Seats(0, 0, 1500), f"1{NBSP}500 places restantes sur 1{NBSP}500", "1,500 of 1,500 seats left"),
    ],
)
def test_seat_counts_follow_the_plural_and_the_numbers_of_each_language(
    seats: Seats, french: str | None, english: str | None
) -> None:
    if french is not None:
        assert render(seats_text(seats), "fr").replace("\u202f", NBSP) == french
    if english is not None:
        assert render(seats_text(seats), "en") == english


def test_started_over_and_cancelled_in_french() -> None:
    seats = Seats(confirmed=4, waitlisted=0, capacity=10)
    live = talk_embed(make_talk(), seats, START + timedelta(minutes=5), "fr")
    assert live.title == f"En cours{NBSP}: Cardiologie"
    over = talk_embed(make_talk(), seats, START + timedelta(hours=3), "fr")
    assert over.title == f"Terminée{NBSP}: Cardiologie"
    assert fields(over)["Inscriptions"] == "Closes — 4 participant·es"
    cancelled = make_talk(status=TalkStatus.CANCELLED)
    embed = talk_embed(cancelled, seats, BEFORE, "fr")
    assert embed.title == f"Annulée{NBSP}: Cardiologie"
    assert fields(embed)["Annulée"] == "Aucun motif indiqué."
    closed = talk_view(cancelled, BEFORE, "fr")
    assert [getattr(item, "disabled", None) for item in closed.children] == [True, True, False, True]
    english = talk_embed(cancelled, seats, BEFORE, "en")
    assert english.title == "Cancelled: Cardiologie"
    assert fields(english)["Cancelled"] == "No reason given."


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_longest_talk_stays_within_discord_limits(language: str) -> None:
    longest = make_talk(
        title="T" * 100,
        speaker="S" * 100,
        location="L" * 200,
        status=TalkStatus.CANCELLED,
        cancel_reason="R" * 500,
        id=10**12,
        start_at=START.replace(year=2099),
    )
    for now in (BEFORE, START + timedelta(days=30_000)):
        embed = talk_embed(longest, Seats(10**6, 10**6, 10**6), now, language)
        assert embed.title is not None and len(embed.title) <= TITLE_MAX
        assert all(len(str(field.name)) <= FIELD_NAME_MAX for field in embed.fields)
        assert all(len(str(field.value)) <= FIELD_VALUE_MAX for field in embed.fields)
        assert embed.footer.text is not None and len(embed.footer.text) <= FOOTER_MAX
    assert all(0 < len(label) <= LABEL_MAX for label in labels(talk_view(longest, BEFORE, language)))
    label = choice_label(longest, PARIS, language)
    assert len(label) == CHOICE_MAX and label.startswith("T" * 50) and "…" in label


def test_lines_and_choice_labels_follow_their_reader() -> None:
    talk = make_talk()
    seats = Seats(confirmed=10, waitlisted=2, capacity=10)
    assert "Complet (10 places) — 2 personnes en liste d'attente" in talk_line(talk, seats, language="fr")
    assert "Full (10 seats) — 2 on the waitlist" in talk_line(talk, seats, language="en")
    assert choice_label(talk, PARIS, "fr") == "Cardiologie — 3 déc. 2026 18:00 CET"
    assert choice_label(talk, PARIS, "en") == "Cardiologie — Dec 3, 2026 18:00 CET"
    cancelled = make_talk(status=TalkStatus.CANCELLED)
    assert choice_label(cancelled, PARIS, "fr").endswith("18:00 CET (annulée)")
    assert choice_label(cancelled, PARIS, "en").endswith("18:00 CET (cancelled)")


def test_the_reminder_post_in_the_servers_language() -> None:
    talk = make_talk()
    french = reminder_post(talk, 60, 99, "fr")
    assert french.startswith("<@&99> ⏰ **Cardiologie** avec Dr Martin commence <t:")
    assert f"Détails et inscription{NBSP}: https://discord.com/channels/1/5/6" in french
    english = reminder_post(talk, 60, None, "en")
    assert english.startswith("⏰ **Cardiologie** with Dr Martin starts <t:")
    assert "Details and registration: https://discord.com/channels/1/5/6" in english
    assert labels(reminder_post_view(talk, "m1", "fr")) == ["S'inscrire"]
    assert labels(reminder_post_view(talk, "m1", "en")) == ["Register"]
