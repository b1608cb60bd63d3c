"""The series' announcement stays within Discord's limits whatever the series holds, in both languages."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.models import Seats
from bot.series import SeriesDates, SeriesService
from bot.series_messages import (
    ALL_DATES,
    EMBED_MAX,
    FIELD_MAX,
    OPTION_MAX,
    SELECT_DATES,
    series_embed,
    series_view,
)
from bot.talks import TalkInput, TalkService
from tests.conftest import Clock

GUILD = 111


async def longest(service: TalkService) -> SeriesDates:
    """52 dates with every text at its limit, each date with its own title, speaker and room."""
    data = TalkInput(
        title="T" * 100,
        speaker="S" * 100,
        start="2026-03-03 18:00",
        location="L" * 200,
        description="D" * 2000,
        speaker_bio="B" * 1000,
        capacity=100_000,
    )
    dates = await SeriesService(service).create(GUILD, 1, data, repeat="weekly", count=52, until=None)
    talks = [
        replace(talk, title=f"{index} " + "t" * 97, speaker=f"{index} " + "s" * 97, location=f"{index}" + "l" * 190)
        for index, talk in enumerate(dates.talks)
    ]
    return SeriesDates(dates.series, talks)


def check(embed_size: int, embed: dict[str, object]) -> None:
    assert embed_size <= EMBED_MAX
    fields = embed.get("fields") or []
    assert isinstance(fields, list) and len(fields) <= 25
    for field in fields:
        assert len(field["name"]) <= 256 and len(field["value"]) <= FIELD_MAX
    assert len(str(embed.get("description") or "")) <= 4096
    assert len(str(embed["title"])) <= 256


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_a_52_date_series_fits(service: TalkService, clock: Clock, language: str) -> None:
    dates = await longest(service)
    seats = {talk.id: Seats(confirmed=99_999, waitlisted=12_345, capacity=100_000) for talk in dates.talks}
    for now in (clock.now, dates.talks[30].start_at + timedelta(minutes=5)):
        embed = series_embed(dates, seats, now, language)
        check(len(embed), embed.to_dict())  # type: ignore[arg-type]
        text = str(embed.to_dict())
        assert f"**#{dates.talks[-1].id - 21}**" in text or "later dates" in text or "dates suivantes" in text
        view = series_view(dates, seats, now, language, dates.series.zone)
        [select, button] = view.children
        options = select.to_component_dict()["options"]  # type: ignore[attr-defined]
        assert len(options) <= 25 and options[0]["value"] == ALL_DATES
        assert len(options) == 1 + min(SELECT_DATES, len(dates.open(now)))
        for option in options:
            assert len(option["label"]) <= OPTION_MAX and len(option.get("description", "")) <= OPTION_MAX
        assert button.to_component_dict()["custom_id"] == f"podium:scheckin:{dates.series.id}"  # type: ignore[attr-defined]


async def test_a_short_series_lists_every_date_with_what_differs(service: TalkService, clock: Clock) -> None:
    data = TalkInput(title="Grand rounds", speaker="Prof. Curie", start="2026-03-03 18:00", capacity=10)
    created = await SeriesService(service).create(GUILD, 1, data, repeat="weekly", count=3, until=None)
    await service.edit_talk(GUILD, created.talks[1].id, TalkInput(title="Special *guest*"))
    await service.cancel_talk(GUILD, created.talks[2].id, None)
    dates = await SeriesService(service).get(GUILD, created.series.id)
    seats = await SeriesService(service).seats(dates)
    embed = series_embed(dates, seats, clock.now, "en").to_dict()
    lines = next(field["value"] for field in embed["fields"] if field["name"] == "Dates").split("\n")
    first, second, third = (int(talk.start_at.timestamp()) for talk in dates.talks)
    assert lines == [
        f"**#{dates.talks[0].id}** <t:{first}:F> — 10 of 10 seats left",
        f"**#{dates.talks[1].id}** <t:{second}:F> — 10 of 10 seats left · Special \\*guest\\*",
        f"**#{dates.talks[2].id}** ~~<t:{third}:F>~~ — Cancelled",
    ]
    assert embed["title"] == "Grand rounds"
    assert {"name": "Repeats", "value": "weekly, 3 dates", "inline": True} in embed["fields"]
    view = series_view(dates, seats, clock.now, "en", dates.series.zone)
    options = view.children[0].to_component_dict()["options"]  # type: ignore[attr-defined]
    assert [option["value"] for option in options] == [ALL_DATES, *(str(t.id) for t in dates.talks[:2])]
    assert options[1]["label"] == "Mar 3, 2026 18:00 CET"
    assert options[2]["description"] == "Special *guest* · 10 of 10 seats left"
    # Every date over or cancelled: the menu and Check in are closed.
    closed = series_view(dates, seats, dates.talks[1].end_at, "en", dates.series.zone)
    assert all(item.to_component_dict().get("disabled") for item in closed.children)  # type: ignore[attr-defined]
    # The last date held then speaks for the series.
    assert series_embed(dates, seats, dates.talks[1].end_at, "en").title == "Over: Special *guest*"
