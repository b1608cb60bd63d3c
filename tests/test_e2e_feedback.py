"""Issue 10, "Feedback", with the real bot against the emulator: the request DM reaches only attendees, answers are
accepted once and can be changed, the window closes, the organizers' summary adds up, and each DM goes out
exactly once across restarts (the bot down at the end included)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import store
from bot.client import PodiumBot
from bot.jobplan import JobAction, PlannedJob
from bot.models import DeliveryKind, DeliveryStatus
from tests.databases import run_sql
from tests.emulator import DiscordEmulator, EmulatedInteraction
from tests.harness import School, build_school, running_bot

DM_SEND = r"/channels/\d+/messages"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@contextmanager
def at(bot: PodiumBot, moment: datetime) -> Iterator[None]:
    real = bot.service.clock
    bot.service.clock = lambda: moment
    try:
        yield
    finally:
        bot.service.clock = real


async def setup_talk(school: School, start: datetime, members: tuple[int, ...]) -> None:
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
    created = await school.run(
        school.organizer,
        "talk create",
        {"title": "Gene therapy", "speaker": "Dr. Doudna", "start": iso(start), "duration": 60},
    )
    assert "Created talk **#1**" in created.all_text(), created.all_text()
    for member in members:
        assert "**Gene therapy**" in (await school.run(member, "register", {"talk": 1})).all_text()


def requests(emu: DiscordEmulator, user: int) -> list[dict[str, Any]]:
    return [m for m in emu.dm_messages(user) if any("podium:rate:" in c for c in custom_ids(m))]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c.get("custom_id", "") for row in message.get("components") or [] for c in row["components"]]


def button(message: dict[str, Any], prefix: str) -> str:
    return next(c for c in custom_ids(message) if c.startswith(prefix))


async def click(emu: DiscordEmulator, user: int, message: dict[str, Any], prefix: str) -> EmulatedInteraction:
    interaction = await emu.click(None, user, message, button(message, prefix))
    await interaction.wait_done()
    return interaction


async def ask(bot: PodiumBot, end: datetime) -> None:
    with at(bot, end + timedelta(minutes=1)):
        await bot.scheduler.run(PlannedJob(JobAction.FEEDBACK, 1, end))


async def test_attendees_answer_change_and_organizers_read(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    # The end falls within the planning horizon, so the feedback job is planned at creation.
    start = (datetime.now(UTC) + timedelta(hours=30)).replace(microsecond=0)
    end = start + timedelta(hours=1)
    alice, bob, carol, dave = (school.students[n] for n in ("alice", "bob", "carol", "dave"))
    await setup_talk(school, start, (alice, bob, carol))
    assert "feedback:1" in bot.scheduler.job_ids(1)
    with at(bot, start + timedelta(minutes=5)):
        for member in (alice, carol, dave):  # Dave walks in; Bob does not come
            assert "checked in" in (await school.run(member, "checkin", {"talk": 1})).all_text()
    await ask(bot, end)
    assert requests(emu, bob) == []
    [dm] = requests(emu, alice)
    assert len(requests(emu, carol)) == len(requests(emu, dave)) == 1
    assert dm["content"].startswith("Thank you for attending **Gene therapy** with Dr. Doudna")
    assert f"<t:{int((end + timedelta(days=7)).timestamp())}:f>" in dm["content"]
    ids = custom_ids(dm)
    marker = ids[0].rsplit(":", 1)[1]
    assert marker.startswith("m")
    assert ids == [f"podium:rate:1:{n}:{marker}" for n in range(1, 6)] + [f"podium:feedback:1:{marker}"]
    await ask(bot, end)  # the job again (a duplicate fire, a planning pass): nothing new
    assert len(requests(emu, alice)) == 1

    with at(bot, end + timedelta(hours=2)):
        rated = await click(emu, alice, dm, "podium:rate:1:4")
        assert rated.response_type == 7  # the DM itself is redrawn
        redrawn = emu.message(int(dm["id"]))
        assert "✅ Thank you! Your answer is recorded: **4/5**, without a comment." in redrawn["content"]
        assert custom_ids(redrawn) == ids  # the marker stays, so the courier still recognises the message
        styles = [c["style"] for row in redrawn["components"] for c in row["components"]]
        assert styles[:5] == [2, 2, 2, 1, 2]  # the chosen rating is highlighted
        again = await click(emu, alice, redrawn, "podium:rate:1:4")
        assert "already **4/5**" in emu.message(int(dm["id"]))["content"] and again.response_type == 7
        await click(emu, alice, redrawn, "podium:rate:1:5")
        assert "Your answer is changed: **5/5**" in emu.message(int(dm["id"]))["content"]

        form = await click(emu, alice, emu.message(int(dm["id"])), "podium:feedback:1")
        assert form.modal is not None and form.modal["custom_id"] == f"podium:feedback-form:1:{marker}"
        fields = {c["custom_id"]: c for row in form.modal["components"] for c in row.get("components", [row])}
        assert fields["rating"]["value"] == "5" and fields["comment"]["max_length"] == 1000
        ping = f"@everyone <@{bob}> <@&{school.organizer_role}> loved it"
        submitted = await emu.submit_modal(form, {"rating": "5", "comment": ping})
        await submitted.wait_done()
        assert submitted.response_type == 7
        final = emu.message(int(dm["id"]))
        assert "**5/5**, with a comment" in final["content"] and "Edit your comment" in str(final["components"])
        assert final["mention_everyone"] is False and final["mentions"] == [] and "@everyone" not in final["content"]
        await click(emu, carol, requests(emu, carol)[0], "podium:rate:1:2")
        await click(emu, dave, requests(emu, dave)[0], "podium:rate:1:3")

        summary = await school.run(school.organizer, "talk feedback", {"talk": 1})
    assert summary.ephemeral
    text = summary.all_text()
    assert "3 answers from 3 attendees asked, average **3.3/5**" in text
    assert "`5 ★ ███░░░░░░░` 1" in text and "`4 ★ ░░░░░░░░░░` 0" in text
    assert "1 comment is in the attached file" in text
    assert "alice" not in text.lower() and str(alice) not in text
    [(name, data)] = summary.attachments
    assert name == "talk-1-feedback.csv"
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table == [["rating", "comment"], ["5", "'" + ping]]  # a leading "@" would start a formula
    async with bot.db.reading() as conn:
        rows = list(await conn.execute_fetchall("SELECT user_id, rating FROM feedback ORDER BY user_id"))
    assert sorted((r[0], r[1]) for r in rows) == sorted([(alice, 5), (carol, 2), (dave, 3)])


async def test_bad_input_and_the_window(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    end = start + timedelta(hours=1)
    alice = school.students["alice"]
    await setup_talk(school, start, (alice,))
    early = await school.run(school.organizer, "talk feedback", {"talk": 1})
    assert "is not over yet" in early.all_text() and "`/talk feedback talk:1`" in early.all_text()
    assert "There is no talk #99" in (await school.run(school.organizer, "talk feedback", {"talk": 99})).all_text()
    await ask(bot, end)
    [dm] = requests(emu, alice)

    with at(bot, end + timedelta(days=1)):
        form = await click(emu, alice, dm, "podium:feedback")
        assert form.modal is not None
        assert form.modal["components"][0]["components"][0].get("value") in (None, "")  # nothing to fill in yet
        wrong = await emu.submit_modal(form, {"rating": "9", "comment": "fine"})
        await wrong.wait_done()
        assert wrong.ephemeral and "whole number from 1 (poor) to 5 (excellent)" in wrong.all_text()
        # A tampered client ignores the field's limit: the bot refuses what Discord would have.
        form = await click(emu, alice, dm, "podium:feedback")
        assert form.modal is not None
        form.modal["components"][1]["components"][0]["max_length"] = 4000
        long = await emu.submit_modal(form, {"rating": "4", "comment": "y" * 1001})
        await long.wait_done()
        assert "1001 characters long; the limit is 1000" in long.all_text()
    async with bot.db.reading() as conn:
        assert list(await conn.execute_fetchall("SELECT * FROM feedback")) == []
    assert "Thank you for attending" in emu.message(int(dm["id"]))["content"]  # unchanged

    with at(bot, end + timedelta(days=7, minutes=1)):
        late = await click(emu, alice, dm, "podium:rate:1:5")
        assert late.ephemeral and "closed on" in late.all_text() and "7 days after the talk" in late.all_text()
        late_form = await click(emu, alice, dm, "podium:feedback")
        assert late_form.modal is None and "closed on" in late_form.all_text()
        closed = await school.run(school.organizer, "talk feedback", {"talk": 1})
    assert "No answers yet from the 1 attendee asked." in closed.all_text()
    assert "Answers closed on" in closed.all_text() and not closed.attachments


async def test_cancelled_talk_closed_dms_and_french(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    end = start + timedelta(hours=1)
    shut = emu.add_user("shut", dms_open=False)
    marie = emu.add_user("marie", locale="fr")
    for user in (shut, marie):
        emu.add_member(school.guild_id, user)
    await setup_talk(school, start, (shut, marie))
    await ask(bot, end)
    async with bot.db.reading() as conn:
        rows = await store.deliveries_for(conn, 1, DeliveryKind.FEEDBACK_REQUEST)
    by_user = {row.recipient_id: row for row in rows}
    assert by_user[shut].status is DeliveryStatus.FAILED and "50007" in (by_user[shut].last_error or "")
    assert by_user[marie].status is DeliveryStatus.SENT
    [french] = requests(emu, marie)
    assert french["content"].startswith("Merci d'avoir assisté à **Gene therapy** avec Dr. Doudna")
    assert "Ajouter un commentaire" in str(french["components"])
    with at(bot, end + timedelta(hours=1)):
        assert await bot.courier.retry_due() == 0  # closed DMs are not retried
        await click(emu, marie, french, "podium:rate:1:5")
        redrawn = emu.message(int(french["id"]))["content"]
        assert "✅ Merci\u00a0! Votre réponse est enregistrée\u00a0: **5/5**" in redrawn
        summary = await school.run(school.organizer, "talk feedback", {"talk": 1})
    assert "1 attendee could not be asked: their direct messages are closed." in summary.all_text()

    # A cancelled talk asks nobody, even if its job fires.
    later = (datetime.now(UTC) + timedelta(hours=30)).replace(microsecond=0)
    created = await school.run(
        school.organizer, "talk create", {"title": "Cancelled one", "speaker": "X", "start": iso(later)}
    )
    assert "Created talk **#2**" in created.all_text()
    await school.run(marie, "register", {"talk": 2})
    assert "feedback:2" in bot.scheduler.job_ids(2)
    await school.run(school.organizer, "talk cancel", {"talk": 2})
    assert "feedback:2" not in bot.scheduler.job_ids(2)
    with at(bot, later + timedelta(hours=2)):
        await bot.scheduler.run(PlannedJob(JobAction.FEEDBACK, 2, later + timedelta(hours=1)))
        refused = await school.run(school.organizer, "talk feedback", {"talk": 2})
    assert len(requests(emu, marie)) == 1
    assert "was cancelled, so no feedback was asked for" in refused.all_text()


async def end_now(bot: PodiumBot) -> datetime:
    """The talk took place and just ended, in real time: Discord's message times (which the courier's history
    look-up compares with its own) then agree with the bot's clock."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=61)
    async with bot.db.transaction() as conn:
        await conn.execute("UPDATE talks SET start_at = ? WHERE id = 1", (int(start.timestamp()),))
    return start + timedelta(hours=1)


async def test_exactly_once_across_a_restart(emu: DiscordEmulator, tmp_path: Path) -> None:
    school = build_school(emu, students=("ann",))
    ann = school.students["ann"]
    database = tmp_path / "podium.sqlite3"
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")
        await setup_talk(school, start, (ann,))
        await bot.courier.drain()  # the invite DM is out
        end = await end_now(bot)
        # Discord posts the DM, then the answer is lost: the row stays pending with its attempt recorded.
        emu.fail_next("POST", DM_SEND, status=503, after_processing=True)
        await bot.scheduler.run(PlannedJob(JobAction.FEEDBACK, 1, end))
        async with bot.db.reading() as conn:
            [row] = await store.deliveries_for(conn, 1, DeliveryKind.FEEDBACK_REQUEST)
        assert row.status is DeliveryStatus.PENDING and row.attempted_at is not None
        assert len(requests(emu, ann)) == 1
    emu.expire_nonces()  # down longer than Discord remembers nonces
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")
        real = bot.service.clock
        bot.service.clock = lambda: real() + timedelta(minutes=10)  # past the back-off
        try:
            await bot.courier.retry_due()
            await bot.scheduler.run(PlannedJob(JobAction.FEEDBACK, 1, end))  # the planning pass's re-run
        finally:
            bot.service.clock = real
        await bot.courier.drain()
        async with bot.db.reading() as conn:
            [row] = await store.deliveries_for(conn, 1, DeliveryKind.FEEDBACK_REQUEST)
        assert row.status is DeliveryStatus.SENT
        [dm] = requests(emu, ann)
        assert row.message_id == int(dm["id"])
        # The buttons of a DM sent before the restart still work.
        clicked = await click(emu, ann, dm, "podium:rate:1:3")
        assert clicked.response_type == 7


async def test_a_talk_that_ended_while_the_bot_was_down(emu: DiscordEmulator, tmp_path: Path) -> None:
    school = build_school(emu, students=("ann", "ben"))
    database = tmp_path / "podium.sqlite3"
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        await setup_talk(school, start, tuple(school.students.values()))
    # While the bot is down the talk takes place and ends (its start moved into the past, as time would).
    ended = int((datetime.now(UTC) - timedelta(hours=3)).timestamp())
    await run_sql(database, "UPDATE talks SET start_at = ? WHERE id = 1", (ended,))
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        for user in school.students.values():
            await emu.wait_for_message(
                lambda m, user=user: (
                    m["channel_id"] == str(emu.dm_channel_id(user) or 0) and "Thank you for attending" in m["content"]
                ),
                timeout=10,
            )
        await bot.courier.drain()
        await bot.scheduler.plan_all()  # the next hourly pass owes nothing more
        await bot.courier.drain()
    for user in school.students.values():
        assert len(requests(emu, user)) == 1
