"""Emails as built, in the recipient's language: subjects, both bodies, the labels, the footer, the code email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from bot.emails import Parties, code_email, invite_email
from bot.models import DeliveryKind, TalkStatus
from tests.test_mailer import NOW, OPERATOR, PARIS, PARTIES, SENDER, UNSUBSCRIBE, make_talk, parts

NBSP, NNBSP = "\u00a0", "\u202f"
WITH_LINK = Parties(SENDER, OPERATOR, "Faculté de médecine", "ann@uni.example", "", unsubscribe_url=UNSUBSCRIBE)


def plain(message: EmailMessage) -> str:
    return str(parts(message)["text/plain"].get_content())


@pytest.mark.parametrize(
    ("kind", "status", "subject"),
    [
        (DeliveryKind.EMAIL_CONFIRMED, TalkStatus.SCHEDULED, "Inscription confirmée : CRISPR in the clinic ("),
        (
            DeliveryKind.EMAIL_PROMOTED,
            TalkStatus.SCHEDULED,
            "Une place s'est libérée, votre inscription est confirmée : CRISPR in the clinic (",
        ),
        (DeliveryKind.EMAIL_UPDATED, TalkStatus.SCHEDULED, "Modification : CRISPR in the clinic a désormais lieu le "),
        (DeliveryKind.EMAIL_WITHDRAWN, TalkStatus.SCHEDULED, "Désinscription enregistrée : CRISPR in the clinic ("),
        (DeliveryKind.EMAIL_CONFIRMED, TalkStatus.CANCELLED, "Conférence annulée : CRISPR in the clinic ("),
    ],
)
def test_every_french_subject_keeps_its_no_break_spaces(kind: DeliveryKind, status: TalkStatus, subject: str) -> None:
    message = invite_email(
        make_talk(status=status), kind, PARTIES, tz=PARIS, now=NOW, message_id="<m@x>", language="fr"
    )
    assert message["Subject"].startswith(subject.replace(" :", f"{NBSP}:"))
    assert "dimanche 29 mars 2026 à 10:00" in message["Subject"]
    assert message["Content-Language"] == "fr"


def test_a_french_cancellation_explains_itself_in_french() -> None:
    talk = make_talk(status=TalkStatus.CANCELLED, cancel_reason="Intervenante malade")
    message = invite_email(
        talk, DeliveryKind.EMAIL_CANCELLED, WITH_LINK, tz=PARIS, now=NOW, message_id="<m@x>", language="fr"
    )
    text = plain(message)
    assert text.startswith(
        f"La conférence «{NBSP}CRISPR in the clinic{NBSP}» avec Prof. Doudna est annulée. "
        f"Motif{NBSP}: Intervenante malade"
    )
    assert "Cet e-mail retire la conférence de votre agenda" in text
    assert "Gene editing" not in text  # no abstract in a withdrawal, as in English
    assert f"sur le serveur Discord «{NBSP}Faculté de médecine{NBSP}»" in text
    assert f"ouvrez {UNSUBSCRIBE}?lang=fr ou lancez /courriel supprimer" in text
    html = str(parts(message)["text/html"].get_content())
    assert html.startswith("<!DOCTYPE html><html lang='fr'>")
    assert f"<a href='{UNSUBSCRIBE}?lang=fr'>Se désabonner</a>" in html
    assert "<th align='left' style='padding-right:1em'>Lieu</th><td>Amphi A</td>" in html


def test_the_when_line_names_the_end_day_of_a_talk_that_ends_on_another_day() -> None:
    late = make_talk(start_at=datetime(2026, 3, 12, 21, 0, tzinfo=UTC), duration_min=180)  # 22:00 to 01:00
    text = plain(
        invite_email(late, DeliveryKind.EMAIL_CONFIRMED, PARTIES, tz=PARIS, now=NOW, message_id="<m@x>", language="fr")
    )
    assert (
        f"Date{NBSP}: jeudi 12 mars 2026 à 22:00, jusqu'à vendredi 13 mars 2026 à 01:00 "
        "(heure normale d’Europe centrale)" in text
    )
    english = plain(
        invite_email(late, DeliveryKind.EMAIL_CONFIRMED, PARTIES, tz=PARIS, now=NOW, message_id="<m@x>", language="en")
    )
    assert "When: Thursday, March 12, 2026 at 22:00, until Friday, March 13, 2026 at 01:00" in english


def test_the_code_email_in_french() -> None:
    message = code_email(
        code="042137", parties=WITH_LINK, expires_in=timedelta(minutes=1), now=NOW, message_id="<c@x>", language="fr"
    )
    assert message["Subject"] == f"042137 est votre code de confirmation {OPERATOR}"
    assert message["Content-Language"] == "fr"
    body = message.get_content()
    assert body.startswith("Bonjour,\n\n")  # no name to greet
    assert f"Dans Discord, lancez{NBSP}: /courriel confirmer code:042137\nLe code est valable 1 minute.\n" in body
    assert f"Si ce n'était pas vous, ignorez cet e-mail{NBSP}: rien ne sera envoyé" in body
    assert f"à ce sujet{NBSP}: {UNSUBSCRIBE}?lang=fr" in body
    english = code_email(
        code="042137", parties=WITH_LINK, expires_in=timedelta(minutes=1), now=NOW, message_id="<c@x>", language="en"
    )
    assert english.get_content().startswith("Hello there,\n\n")
    assert "The code works for 1 minute." in english.get_content()
    assert NNBSP not in english.get_content() and NBSP not in english.get_content()
