"""The feeds and the "Add to calendar" file over real HTTP, each in its reader's language: a personal feed in its
member's, the server feed in the server's, the talk file in the agenda page's (?lang=, Accept-Language)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.emulator import DiscordEmulator
from tests.harness import School
from tests.web_helpers import WebSide, both_parsers, create_talk, feed_link, local, set_up, vevents, web_bot

NBSP = "\u00a0"


@pytest.fixture
async def web(emu: DiscordEmulator, school: School, tmp_path: Path) -> AsyncIterator[WebSide]:
    async with web_bot(emu, school, tmp_path / "podium.sqlite3") as side:
        yield side


def only_event(vcal: Any) -> Any:
    [event] = vevents(vcal).values()
    return event


async def test_each_feed_and_the_talk_file_speak_their_readers_language(
    emu: DiscordEmulator, school: School, web: WebSide
) -> None:
    alice, bob = school.students["alice"], school.students["bob"]
    emu.world.users[alice].locale = "fr"
    emu.world.users[bob].locale = "en-US"
    await set_up(school, public_calendar=True)
    soon = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)
    talk = await create_talk(school, title="Cardiologie", speaker="Dr Martin", start=local(soon), capacity=1)
    await school.run(alice, "register", {"talk": talk})
    await school.run(bob, "register", {"talk": talk})  # the waitlist

    # Personal feeds: each member's own language, whatever the server's.
    https, _, _ = await feed_link(school, alice)
    cal, vcal = both_parsers((await web.get(https))[1])
    assert str(cal["NAME"]) == "Mes conférences — Faculty of Medicine"
    assert cal["NAME"].params["LANGUAGE"] == "fr"
    event = only_event(vcal)
    assert event.description.params["LANGUAGE"] == ["fr"]
    assert event.description.value.startswith(f"Intervenant·e{NBSP}: Dr Martin")
    assert event.valarm.description.value == f"Commence bientôt{NBSP}: Cardiologie — Dr Martin"
    https, _, _ = await feed_link(school, bob)
    cal, vcal = both_parsers((await web.get(https))[1])
    event = only_event(vcal)
    assert event.summary.value == "Cardiologie — Dr Martin (waitlist #1)"
    assert event.summary.params["LANGUAGE"] == ["en"]
    assert event.description.value.startswith("You are #1 on the waitlist.")

    # The server feed: the server's language, and again when /setup language: changes it.
    feed = await web.feed_path(school.guild_id)
    cal, vcal = both_parsers((await web.get(feed))[1])
    assert str(cal["NAME"]) == "Talks — Faculty of Medicine"
    assert only_event(vcal).description.value.startswith("Speaker: Dr Martin")
    await web.bot.service.update_settings(school.guild_id, language="fr")
    cal, vcal = both_parsers((await web.get(feed))[1])
    assert str(cal["NAME"]) == "Conférences — Faculty of Medicine"
    assert only_event(vcal).summary.params["LANGUAGE"] == ["fr"]

    # "Add to calendar": the agenda page links the file in its own language.
    agenda = await web.agenda_path(school.guild_id)
    english_page = (await web.get(agenda + "?lang=en"))[1].decode()
    [link] = re.findall(r'href="(/t/[0-9a-f]{32}\.ics\?lang=en)"', english_page)
    status, body, headers = await web.get(link)
    assert status == 200
    assert "Accept-Language" in headers["Vary"]
    cal, vcal = both_parsers(body)
    assert only_event(vcal).description.value.startswith("Speaker: Dr Martin")
    assert only_event(vcal).description.params["LANGUAGE"] == ["en"]
    bare = link.removesuffix("?lang=en")
    assert re.search(rf'href="{re.escape(bare)}\?lang=fr"', (await web.get(agenda))[1].decode())
    french = only_event(both_parsers((await web.get(bare))[1])[1])  # no preference: the server's language
    assert french.description.params["LANGUAGE"] == ["fr"]
    assert french.uid.value == only_event(vcal).uid.value
    browser = only_event(both_parsers((await web.get(bare, {"Accept-Language": "en-GB"}))[1])[1])
    assert browser.description.value.startswith("Speaker: Dr Martin")
