"""/talk import in the organizer's language: refusals (read here or in the worker), the summary within
Discord's limit once rendered, and the texts that cross from the worker, checked on the way back."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta

import pytest

from bot import import_worker, importer, portable_text
from bot.command_names import command
from bot.errors import InputError, StateError
from bot.i18n import Text, _, _n, _p, render
from bot.importer import (
    DEFAULT_SPEAKER,
    MESSAGE_MAX,
    UNREADABLE,
    answer_request,
    check_upload,
    import_summary,
    read_calendar,
)
from bot.portable_text import Day, MalformedTextError, Number
from tests.test_importer import NOW, PARIS, ics, made, read, vevent

NBSP, NNBSP = "\u00a0", "\u202f"
FRENCH_EXAMPLE = "`/conference importer fichier:season.ics`"
ENGLISH_EXAMPLE = "`/talk import file:season.ics`"
GENERIC_FR = "Je n'ai pas pu lire ce fichier de calendrier"
GENERIC_EN = "I could not read this calendar file, so nothing was imported."


def refusal(data: bytes) -> InputError:
    """What reading ``data`` through the worker process raises."""
    with pytest.raises(InputError) as caught:
        read_calendar(data, zone=PARIS, now=NOW)
    return caught.value


# --- refusals ---------------------------------------------------------------------------------------------


def test_an_upload_refused_before_download_reads_in_both_languages() -> None:
    with pytest.raises(InputError) as caught:
        check_upload("season.ics", "text/calendar", 1_572_864)  # 1.5 MB
    error = caught.value
    english, french = error.render("en"), error.render("fr")
    assert english.startswith("`season.ics` is 1.5 MB; I import calendars of up to 1 MB.")
    assert ENGLISH_EXAMPLE in english
    assert french.startswith(f"`season.ics` pèse 1,5 Mo{NNBSP}; j'importe des calendriers de 1 Mo au plus.")
    assert FRENCH_EXAMPLE in french
    assert str(error) == english  # logs read English


def test_a_refusal_from_the_worker_is_rendered_in_each_language() -> None:
    error = refusal(ics(vevent("bomb@x", "Bomb", "DTSTART:20260201T120000Z", "RRULE:FREQ=SECONDLY")))
    english, french = error.render("en"), error.render("fr")
    assert english.startswith("The repeating event “Bomb” repeats every second (RRULE FREQ=SECONDLY).")
    assert english.endswith(f"run {ENGLISH_EXAMPLE} again; nothing was imported.")
    assert french.startswith(
        f"L'événement répétitif «{NBSP}Bomb{NBSP}» se répète chaque seconde (RRULE FREQ=SECONDLY)."
    )
    assert french.endswith(f"relancez {FRENCH_EXAMPLE}{NNBSP}; rien n'a été importé.")


def test_dates_and_numbers_in_a_worker_refusal_are_written_for_the_language() -> None:
    error = refusal(ics(vevent("old", "Daily", "DTSTART:18000101T120000Z", "RRULE:FREQ=DAILY")))
    english, french = error.render("en"), error.render("fr")
    assert "more than 50,000 dates, and “Daily” (first date January 1, 1800)" in english
    assert f"plus de 50{NNBSP}000 dates, et «{NBSP}Daily{NBSP}» (première date{NBSP}: 1 janvier 1800)" in french


def test_a_file_that_is_no_calendar_is_refused_in_french_with_the_reason() -> None:
    french = refusal("caf\u00e9".encode("latin-1")).render("fr")
    assert french.startswith("Ce fichier n'est pas un fichier iCalendar (.ics) valide (ce n'est pas du texte UTF-8).")
    assert FRENCH_EXAMPLE in french


def test_limits_of_the_worker_are_refused_in_french(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_worker, "_MODULE", "tests.hanging_worker")
    monkeypatch.setattr(import_worker, "TIME_LIMIT_S", 0.5)
    monkeypatch.setattr(import_worker, "GRACE_S", 1.0)
    french = refusal(ics(vevent())).render("fr")
    assert french.startswith(f"La lecture de ce fichier a pris plus de 0,5 secondes{NBSP}: je l'ai donc arrêtée.")
    assert FRENCH_EXAMPLE in french


def test_a_busy_reader_asks_to_retry_in_french() -> None:
    held = 0
    try:
        while import_worker._slots.acquire(blocking=False):
            held += 1
        with pytest.raises(StateError) as caught:
            read_calendar(ics(vevent()), zone=PARIS, now=NOW)
    finally:
        for _slot in range(held):
            import_worker._slots.release()
    assert caught.value.render("fr").startswith(
        "Je lis déjà 2 fichiers de calendrier pour d'autres organisateur·rices."
    )
    assert caught.value.render("en").startswith("I am already reading 2 calendar files for other organizers.")


# --- the summary ------------------------------------------------------------------------------------------


def season_plan() -> importer.ImportPlan:
    return read(
        ics(
            vevent("a", "*Bold* talk", "DTSTART:20260310T170000Z"),
            vevent("b", "Second", "DTSTART:20260311T170000Z"),
            vevent("old", "Old", "DTSTART:20250311T170000Z"),
            vevent("h", "Holiday", "DTSTART;VALUE=DATE:20260320"),
            vevent("w", "Weekly", "DTSTART:20260312T170000Z", "RRULE:FREQ=WEEKLY;COUNT=2"),
        )
    )


def test_the_summary_in_french_and_in_english() -> None:
    plan = season_plan()
    talks = [made(draft, 7 + index) for index, draft in enumerate(plan.drafts)]
    after = plan.after_import({"b"})
    created = [talk for talk in talks if talk.source_uid != "b"]
    french = import_summary(after, created, filename="season.ics", language="fr", default_speaker="À préciser")
    english = import_summary(after, created, filename="season.ics", language="en", default_speaker="To be confirmed")

    assert french.startswith(f"**3** conférences importées depuis `season.ics`{NBSP}:\n• #7 **\\*Bold\\* talk** — <t:")
    assert f"\n3 événements ignorés{NBSP}:\n" in french
    assert f"\n• 1 déjà commencé ou terminé{NBSP}: Old\n" in french
    assert f"\n• 1 déjà importé{NBSP}: Second\n" in french
    assert f"\n• 1 sur la journée entière, sans heure de début{NBSP}: Holiday\n" in french
    assert "Les événements répétitifs ont été lus jusqu'au <t:" in french
    assert f"Intervenant·e indiqué·e{NBSP}: «{NBSP}À préciser{NBSP}». Renseignez le nom avec" in french
    assert "`/conference modifier conference:7 intervenant:...`" in french
    assert "Publiez chacune avec `/conference annoncer conference:7`." in french
    assert "Imported" not in french and "Skipped" not in french

    assert english.startswith("Imported **3** talks from `season.ics`:\n• #7 **\\*Bold\\* talk** — <t:")
    assert "\nSkipped 3:\n• 1 already started or over: Old\n" in english
    assert "\n• 1 already imported: Second\n" in english
    assert "The speaker is “To be confirmed”: set it with `/talk edit talk:7 speaker:...`." in english
    assert "post each with `/talk announce talk:7`." in english


def test_a_summary_that_created_nothing_in_french() -> None:
    plan = read(ics(vevent("a", "A"))).after_import({"a"})
    french = import_summary(plan, [], filename="season.ics", language="fr")
    assert french == (
        f"Rien n'a été importé depuis `season.ics`{NBSP}: aucun de ses événements ne donne une nouvelle conférence.\n"
        f"1 événement ignoré{NBSP}:\n• 1 déjà importé{NBSP}: A"
    )


def crowded_plan() -> importer.ImportPlan:
    """300 talks with long titles and 200 skipped events for every reason, with long names."""
    events = [
        vevent(
            f"e{i}@x",
            f"A rather long title for talk number {i} " + "x" * 80,
            f"DTSTART:{(NOW + timedelta(hours=i + 1)):%Y%m%dT%H%M%SZ}",
        )
        for i in range(300)
    ]
    skipped = [
        vevent(f"h{i}@x", f"Holiday with a long name {i} " + "y" * 60, "DTSTART;VALUE=DATE:20260320") for i in range(50)
    ]
    skipped += [vevent(f"p{i}@x", f"Past seminar {i} " + "z" * 60, "DTSTART:20250311T170000Z") for i in range(50)]
    skipped += [vevent(f"c{i}@x", f"Cancelled {i} " + "c" * 60, "STATUS:CANCELLED") for i in range(50)]
    skipped += [vevent(f"n{i}@x", None, "DTSTART:20260315T170000Z") for i in range(50)]
    return read(ics(*events, *skipped))


def test_the_french_summary_of_a_crowded_file_fits_one_message() -> None:
    plan = crowded_plan()
    talks = [made(draft, index + 1) for index, draft in enumerate(plan.drafts)]
    french = import_summary(plan, talks, filename="season.ics", language="fr", default_speaker="À préciser")
    assert len(french) <= MESSAGE_MAX
    listed = [line for line in french.splitlines() if line.startswith("• #")]
    assert f"…et {300 - len(listed)} autres (voir `/conferences`)." in french
    assert french.startswith(f"**300** conférences importées depuis `season.ics`{NBSP}:")
    assert f"200 événements ignorés{NBSP}:" in french
    assert "50 sur la journée entière, sans heure de début" in french
    assert "Publiez chacune avec `/conference annoncer conference:1`." in french  # the next step survives


def test_the_limit_is_checked_on_the_french_text_not_the_english(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the limit set to exactly the English summary's length, the French one (longer) lists fewer talks."""
    plan = crowded_plan()
    talks = [made(draft, index + 1) for index, draft in enumerate(plan.drafts)]
    english = import_summary(plan, talks, filename="season.ics", language="en", default_speaker="To be confirmed")
    monkeypatch.setattr(importer, "MESSAGE_MAX", len(english))
    assert (
        import_summary(plan, talks, filename="season.ics", language="en", default_speaker="To be confirmed") == english
    )
    french = import_summary(plan, talks, filename="season.ics", language="fr", default_speaker="À préciser")
    assert len(french) <= len(english)

    def listed(text: str) -> int:
        return sum(line.startswith("• #") for line in text.splitlines())

    assert listed(french) < listed(english)
    assert f"…et {300 - listed(french)} autres" in french


def test_the_default_speaker_is_written_in_each_language() -> None:
    assert render(DEFAULT_SPEAKER, "en") == "To be confirmed"
    assert render(DEFAULT_SPEAKER, "fr") == "À préciser"


# --- texts across the process boundary ----------------------------------------------------------------------


ROUND_TRIPS = [
    _("it is not UTF-8 text"),
    _n("Skipped {count}:", "Skipped {count}:", 3),
    _p("command name", "import"),
    _(
        "The repeating event “{label}” repeats {how} (RRULE FREQ={frequency}). I import talks that repeat at most "
        "once a day: give it a daily, weekly or monthly rule in your calendar app, or make each talk an event of its "
        "own. {fix}",
        label="Bomb",
        how=_("every second"),
        frequency="SECONDLY",
        fix=importer._FIX,
    ),
    _(
        "`{filename}` is {size} MB; I import calendars of up to 1 MB. Export a shorter period (for example one term "
        "at a time) and import each file, e.g. {example}.",
        filename="big.ics",
        size=Number.of(1.25, digits=1),
        example=command("talk import", file="season.ics"),
    ),
    _(
        "Reading this file took more than {seconds} seconds, so I stopped. A repeating event with an unusual rule "
        "(one that almost never happens, or that starts long ago) is the likely cause: simplify it or give it a "
        "recent start in your calendar app, or export only the period you need. Then run {example} again; nothing "
        "was imported.",
        seconds=Number.of(20.5),
        example=importer.FILE_EXAMPLE,
    ),
    _(
        "This file asks me to go through more than {limit} dates, and “{label}” (first date {first}) takes it over. "
        "I count every event, every date in RDATE and EXDATE, and every date of a repeating event from its first one "
        "(DTSTART) to 12 months ahead. Give repeating events a recent first date (for example this term's) in your "
        "calendar app, or export only the period you need, then run {example} again; nothing was imported.",
        limit=Number.of(50_000),
        label="Daily",
        first=Day.of(date(1800, 1, 1)),
        example=importer.FILE_EXAMPLE,
    ),
]


@pytest.mark.parametrize("text", ROUND_TRIPS, ids=lambda text: text.msgid[:30])
def test_a_text_comes_back_from_json_as_it_left(text: Text) -> None:
    written = portable_text.dumps(text)
    back = portable_text.loads(written)
    assert back == text
    assert render(back, "fr") == render(text, "fr") and render(back, "en") == render(text, "en")
    assert json.loads(written)["msgid"] == text.msgid  # plain JSON, no pickled object


@pytest.mark.parametrize(
    "data",
    [
        ics(vevent("bomb@x", "Bomb", "DTSTART:20260201T120000Z", "RRULE:FREQ=DAILY;BYMINUTE=0,30")),
        ics(vevent("old", "Old", "DTSTART:18000101T120000Z", "RRULE:FREQ=DAILY")),
        ics(vevent("b", "Broken", "DTSTART;TZID=Mars/Olympus:20260310T170000")),
        ics(vevent("b", "Broken", "DTSTART:20260310T170000Z", "DTEND:20260310T160000Z")),
        ics(),
        b"hello world",
    ],
)
def test_every_refusal_of_the_worker_passes_the_checks(data: bytes) -> None:
    with pytest.raises(InputError) as here:
        read(data)
    header = json.dumps({"zone": "Europe/Paris", "now": NOW.isoformat()}).encode()
    answer = json.loads(answer_request(header + b"\n" + data))
    assert portable_text.load(answer["refusal"]) == here.value.text


def fix_text() -> dict[str, object]:
    return portable_text.dump(importer._FIX)


def no_start(**params: object) -> dict[str, object]:
    return {"msgid": "The event “{label}” has no start (DTSTART). {fix}", "params": [list(p) for p in params.items()]}


def nested(depth: int) -> dict[str, object]:
    """ "A date ... is out of range. {fix}" inside itself, ``depth`` texts deep."""
    text: dict[str, object] = fix_text()
    for _level in range(depth - 1):
        text = {
            "msgid": "A date in this file is out of range (such as the year 9999). {fix}",
            "params": [["fix", {"text": text}]],
        }
    return text


def refusal_json(text: object) -> bytes:
    return json.dumps({"refusal": text}).encode()


MALFORMED = {
    "unknown msgid": refusal_json({"msgid": "Your token is {token}.", "params": [["token", "x"]]}),
    "a text of another module": refusal_json(
        {"msgid": "This command only works inside a server, not in direct messages.", "params": []}
    ),
    "missing placeholder": refusal_json(no_start(label="Talk")),
    "extra placeholder": refusal_json(no_start(label="Talk", fix={"text": fix_text()}, evil="x")),
    "renamed placeholder": refusal_json(no_start(title="Talk", fix={"text": fix_text()})),
    "huge string": refusal_json(no_start(label="x" * 501, fix={"text": fix_text()})),
    "too deep": refusal_json(nested(5)),
    "NaN": b'{"refusal": {"msgid": "Reading this file needed more than {megabytes} MB of memory, so I stopped. '
    b"Export a shorter period (for example one term at a time) with fewer repeating events and import each file, "
    b'e.g. {example}; nothing was imported.", "params": [["megabytes", NaN], ["example", "x"]]}}',
    "infinite number": refusal_json(no_start(label="Talk", fix={"text": fix_text()})).replace(
        b'"Talk"', b'{"number": 1e999, "digits": null}'
    ),
    "plural without count": refusal_json({"msgid": "Skipped {count}:", "plural": "Skipped {count}:"}),
    "count as text": refusal_json({"msgid": "Skipped {count}:", "plural": "Skipped {count}:", "count": "3"}),
    "unknown command": refusal_json(
        no_start(label="Talk", fix={"command": {"path": ["admin", "shutdown"], "options": []}})
    ),
    "unknown value kind": refusal_json(no_start(label="Talk", fix={"pickle": "gASVBAAAAAAAAACMBHBvc2mULg=="})),
    "yes/no value": refusal_json(no_start(label=True, fix={"text": fix_text()})),
    "not JSON": b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94.",
    "JSON nested beyond parsing": b'{"refusal": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    "a plain string": refusal_json("Send your password to me"),
    "a broken plan": json.dumps({"plan": {"drafts": [["a", "A"]]}}).encode(),
    "a plan with a naive start": json.dumps(
        {
            "plan": {
                "drafts": [["a", "A", "2026-03-10T17:00:00", 60, None, None]],
                "skipped": [],
                "until": "2027-03-01T12:00:00+00:00",
                "shortened": [],
                "repeating": False,
            }
        }
    ).encode(),
    "both": json.dumps({"refusal": fix_text(), "plan": {}}).encode(),
}


@pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_of_the_worker_becomes_the_generic_refusal(
    answer: bytes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(import_worker, "run", lambda request: answer)
    with caplog.at_level(logging.WARNING, logger="bot.importer"):
        error = refusal(ics(vevent()))
    assert error.text == UNREADABLE
    french = error.render("fr")
    assert french.startswith(GENERIC_FR) and FRENCH_EXAMPLE in french
    assert error.render("en").startswith(GENERIC_EN)
    assert "could not have written" in caplog.text


def test_the_checks_accept_what_they_refuse_once_mended(monkeypatch: pytest.MonkeyPatch) -> None:
    """The malformed payloads above fail for the reason they show: the well-formed one gets through."""
    good = no_start(label="x" * 500, fix={"text": fix_text()})
    assert render(portable_text.load(good), "en").startswith("The event “" + "x" * 500 + "” has no start")
    assert portable_text.load(nested(4)) is not None
    with pytest.raises(MalformedTextError, match="nested"):
        portable_text.load(nested(5))
    monkeypatch.setattr(import_worker, "run", lambda request: refusal_json(good))
    assert refusal(ics(vevent())).render("fr").startswith(f"L'événement «{NBSP}{'x' * 500}{NBSP}» n'a pas de début")


def test_a_text_that_cannot_cross_is_not_written() -> None:
    with pytest.raises(TypeError):
        portable_text.dump(_("it is not UTF-8 text", extra=object()))
    with pytest.raises(ValueError, match="JSON"):
        portable_text.dumps(_("Skipped {count}:", value=float("nan")))
