"""Podium's own words in .ics files in the reader's language, marked with RFC 5545's LANGUAGE parameter, read
back with icalendar and with vobject: DM invites, the personal and server feeds, "Add to calendar"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import vobject
from icalendar import Calendar, Event

from bot.calendar import Method, build_invite
from bot.feeds import MemberFeed, PublicFeed, member_calendar, public_calendar, talk_calendar
from bot.models import GuildSettings, Registration, RegistrationStatus, Talk, TalkStatus
from tests.conftest import PARIS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NBSP = "\u00a0"


def make_talk(**changes: object) -> Talk:
    fields: dict[str, object] = {
        "id": 7,
        "guild_id": 99,
        "title": "Pharmacogénomique",
        "speaker": "Dr Ada",
        "speaker_bio": "Pionnière.",
        "description": "Pourquoi les gènes comptent.",
        "location": "Amphi B",
        "start_at": datetime(2026, 3, 12, 17, 0, tzinfo=UTC),  # jeudi 12 mars, 18:00 à Paris
        "duration_min": 90,
        "capacity": 1,
        "reminders": (30,),
        "announce_at": None,
        "status": TalkStatus.SCHEDULED,
        "cancel_reason": None,
        "sequence": 2,
        "announcement_channel_id": 333,
        "announcement_message_id": 444,
        "created_by": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }
    fields.update(changes)
    return Talk(**fields)  # type: ignore[arg-type]


def registration(talk: Talk, status: RegistrationStatus, position: int | None = None) -> Registration:
    return Registration(1, talk.id, talk.guild_id, 10, "Ann", status, NOW, dm_failed=False, position=position)


def read(data: bytes) -> tuple[Event, Any]:
    """The one VEVENT as icalendar and as vobject read it."""
    [event] = Calendar.from_ical(data).walk("VEVENT")
    return event, vobject.readOne(data.decode("utf-8")).vevent


def language_of(prop: Any) -> str | None:
    found = prop.params.get("LANGUAGE")
    return str(found) if found is not None else None


def test_a_french_invite_says_everything_of_podiums_in_french_and_marks_it() -> None:
    event, vevent = read(build_invite(make_talk(), tz=PARIS, now=NOW, language="fr"))
    assert language_of(event["SUMMARY"]) == language_of(event["DESCRIPTION"]) == "fr"
    assert str(event["SUMMARY"]) == "Pharmacogénomique — Dr Ada"  # the organizers' words, as typed
    description = str(event["DESCRIPTION"])
    assert description.startswith(f"Intervenant·e{NBSP}: Dr Ada\n\nPionnière.\n\nPourquoi les gènes comptent.")
    assert f"Annonce{NBSP}: https://discord.com/channels/99/333/444" in description
    assert "Speaker" not in description and "Announcement" not in description
    assert "LANGUAGE" not in event["LOCATION"].params  # typed by an organizer: Podium does not know its language
    [alarm] = event.walk("VALARM")
    assert str(alarm["DESCRIPTION"]) == f"Commence bientôt{NBSP}: Pharmacogénomique — Dr Ada"
    assert language_of(alarm["DESCRIPTION"]) == "fr"
    assert alarm.decoded("TRIGGER") == timedelta(minutes=-30)

    # vobject, written independently, reads the same words and the same parameter
    assert vevent.summary.params["LANGUAGE"] == ["fr"]
    assert vevent.description.params["LANGUAGE"] == ["fr"]
    assert vevent.description.value == description
    assert vevent.valarm.description.value == str(alarm["DESCRIPTION"])
    assert vevent.valarm.description.params["LANGUAGE"] == ["fr"]
    assert vevent.dtstart.value == datetime(2026, 3, 12, 17, 0, tzinfo=UTC)


def test_a_french_cancellation_gives_the_reason_in_french_and_no_alarm() -> None:
    talk = make_talk(status=TalkStatus.CANCELLED, cancel_reason="Intervenante malade", sequence=3)
    data = build_invite(talk, tz=PARIS, now=NOW, language="fr", method=Method.CANCEL)
    event, vevent = read(data)
    assert f"Motif de l'annulation{NBSP}: Intervenante malade" in str(event["DESCRIPTION"])
    assert "Cancelled" not in str(event["DESCRIPTION"])
    assert vevent.status.value == "CANCELLED"
    assert event.walk("VALARM") == []


def test_english_reads_as_before_and_only_the_texts_change_with_the_language() -> None:
    talk = make_talk(status=TalkStatus.CANCELLED, cancel_reason="Speaker ill")
    english, english_v = read(build_invite(talk, tz=PARIS, now=NOW, language="en"))
    assert language_of(english["SUMMARY"]) == language_of(english["DESCRIPTION"]) == "en"
    assert str(english["DESCRIPTION"]).startswith("Speaker: Dr Ada\n\n")
    assert "Cancelled: Speaker ill" in str(english["DESCRIPTION"])
    assert "Announcement: https://discord.com/channels/99/333/444" in str(english["DESCRIPTION"])
    assert english_v.description.params["LANGUAGE"] == ["en"]
    [alarm] = read(build_invite(make_talk(), tz=PARIS, now=NOW, language="en"))[0].walk("VALARM")
    assert str(alarm["DESCRIPTION"]) == "Starting soon: Pharmacogénomique — Dr Ada"

    # the same event in both languages: a calendar updates it rather than adding a second one
    french = read(build_invite(talk, tz=PARIS, now=NOW, language="fr"))[0]
    for name in ("UID", "SEQUENCE", "DTSTART", "DTEND", "STATUS", "LOCATION", "URL"):
        assert english.decoded(name) == french.decoded(name), name


def test_the_personal_feed_is_in_the_members_language_the_waitlist_too() -> None:
    confirmed, waiting = make_talk(id=1), make_talk(id=2, title="Neurologie")
    feed = MemberFeed(
        99,
        10,
        PARIS,
        [
            (confirmed, registration(confirmed, RegistrationStatus.CONFIRMED)),
            (waiting, registration(waiting, RegistrationStatus.WAITLISTED, position=1)),
        ],
    )
    data = member_calendar(feed, "Faculté de médecine", "fr")
    calendar = Calendar.from_ical(data)
    assert str(calendar["NAME"]) == "Mes conférences — Faculté de médecine"
    assert language_of(calendar["NAME"]) == "fr"
    events = {str(event["SUMMARY"]): event for event in calendar.walk("VEVENT")}
    tentative = events[f"Neurologie — Dr Ada (liste d’attente, n°{NBSP}1)"]
    assert language_of(tentative["SUMMARY"]) == language_of(tentative["DESCRIPTION"]) == "fr"
    assert str(tentative["DESCRIPTION"]).startswith("Vous êtes ")
    assert f"Intervenant·e{NBSP}: Dr Ada" in str(tentative["DESCRIPTION"])
    assert tentative.walk("VALARM") == []
    [alarm] = events["Pharmacogénomique — Dr Ada"].walk("VALARM")
    assert str(alarm["DESCRIPTION"]).startswith("Commence bientôt")

    parsed = vobject.readOne(data.decode("utf-8"))
    summaries = {vevent.summary.value: vevent for vevent in parsed.vevent_list}
    assert summaries[f"Neurologie — Dr Ada (liste d’attente, n°{NBSP}1)"].summary.params["LANGUAGE"] == ["fr"]
    assert parsed.contents["name"][0].params["LANGUAGE"] == ["fr"]


def test_the_server_feed_and_the_talk_file_are_in_the_language_given() -> None:
    talk = make_talk()
    feed = PublicFeed(GuildSettings(99, public_calendar=True), PARIS, [talk])
    french = Calendar.from_ical(public_calendar(feed, "Faculté", "fr"))
    assert str(french["NAME"]) == "Conférences — Faculté"
    [event] = french.walk("VEVENT")
    assert language_of(event["DESCRIPTION"]) == "fr"
    english, english_v = read(talk_calendar(talk, PARIS, "en"))
    assert str(english["DESCRIPTION"]).startswith("Speaker: Dr Ada")
    assert english_v.summary.params["LANGUAGE"] == ["en"]
    single, _ = read(talk_calendar(talk, PARIS, "fr"))
    assert str(single["UID"]) == str(event["UID"]) == str(english["UID"])
