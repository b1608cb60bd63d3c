"""Issue 10, "Questions for the speaker", with the real bot against the emulator: asking (and bad input), the
board and its vote buttons, hiding, the organizers' list and CSV, and the speaker's DMs exactly once."""

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
from bot.jobplan import HORIZON, JobAction, PlannedJob, plan_jobs
from bot.models import DeliveryKind, DeliveryStatus
from tests.emulator import DiscordEmulator
from tests.harness import School, build_school, running_bot

DM_SEND = r"/channels/\d+/messages"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


async def setup_talk(school: School, start: datetime, **extra: object) -> None:
    await school.run(school.admin, "setup", {"channel": school.channel_id, "organizer_role": school.organizer_role})
    options: dict[str, object] = {"title": "Antibiotic resistance", "speaker": "Dr. Fleming", "start": iso(start)}
    options.update(extra)
    created = await school.run(school.organizer, "talk create", options)
    assert "Created talk **#1**" in created.all_text(), created.all_text()


@contextmanager
def clock_at(bot: PodiumBot, moment: datetime) -> Iterator[None]:
    real = bot.service.clock
    bot.service.clock = lambda: moment
    try:
        yield
    finally:
        bot.service.clock = real


async def question_rows(bot: PodiumBot) -> list[Any]:
    async with bot.db.reading() as conn:
        return list(await conn.execute_fetchall("SELECT id, user_id, text, anonymous, hidden FROM questions"))


def vote_ids(message: dict[str, Any]) -> list[str]:
    return [
        c["custom_id"]
        for row in message["components"]
        for c in row["components"]
        if c.get("custom_id", "").startswith("podium:vote:")
    ]


def speaker_dms(emu: DiscordEmulator, user: int) -> list[dict[str, Any]]:
    return [m for m in emu.dm_messages(user) if "question" in m["content"].lower()]


async def test_ask_and_its_bad_input(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start)
    alice = school.students["alice"]
    # registration is not required: anyone who can see the talk may ask
    asked = await school.run(alice, "ask", {"talk": 1, "question": "How fast does resistance spread?"})
    assert asked.ephemeral
    assert "Your question #1 for **Antibiotic resistance** is recorded (under your name)" in asked.all_text()
    too_long = await school.run(alice, "ask", {"talk": 1, "question": "x" * 501})
    assert "501 characters long; the limit is 500" in too_long.all_text()
    ping = f"@everyone and <@{school.organizer}> and <@&{school.organizer_role}>: **why** so slow?"
    mention = await school.run(school.students["bob"], "ask", {"talk": 1, "question": ping, "anonymous": True})
    reply = mention.message
    assert reply is not None
    assert "recorded (anonymously)" in reply["content"]
    assert reply["mentions"] == [] and reply["mention_roles"] == [] and reply["mention_everyone"] is False
    assert "@everyone" not in reply["content"] and f"<@{school.organizer}>" not in reply["content"]
    assert "\\*\\*why\\*\\*" in reply["content"]  # markdown shown as typed, not applied
    wrong = await school.run(alice, "ask", {"talk": 99, "question": "?"})
    assert "There is no talk #99 in this server" in wrong.all_text()
    rows = await question_rows(bot)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (alice, "How fast does resistance spread?", 0),
        (school.students["bob"], ping, 1),  # kept as typed; only its display is escaped
    ]
    # over and cancelled talks take no questions
    with clock_at(bot, start + timedelta(hours=2)):
        over = await school.run(alice, "ask", {"talk": 1, "question": "Late?"})
    assert "is over, so it takes no more questions" in over.all_text()
    await school.run(school.organizer, "talk cancel", {"talk": 1})
    cancelled = await school.run(alice, "ask", {"talk": 1, "question": "Still on?"})
    assert "was cancelled, so it takes no questions" in cancelled.all_text()
    assert len(await question_rows(bot)) == 2
    board = await school.run(alice, "questions", {"talk": 1})
    assert "was cancelled, so it has no questions" in board.all_text()
    assert "There is no talk #99" in (await school.run(alice, "questions", {"talk": 99})).all_text()
    assert "There is no talk #99" in (await school.run(school.organizer, "talk questions", {"talk": 99})).all_text()
    # organizers still read a cancelled talk's questions
    listing = await school.run(school.organizer, "talk questions", {"talk": 1})
    assert "2 questions, 0 hidden" in listing.all_text()


async def test_board_votes_hiding_and_organizer_csv(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start)
    alice, bob, carol = (school.students[n] for n in ("alice", "bob", "carol"))
    await school.run(alice, "ask", {"talk": 1, "question": "First: <@" + str(bob) + "> what about phages?"})
    await school.run(bob, "ask", {"talk": 1, "question": "Second: a rude one", "anonymous": False})
    await school.run(carol, "ask", {"talk": 1, "question": "Third, anonymous", "anonymous": True})

    board = await school.run(bob, "questions", {"talk": 1})
    assert board.ephemeral
    embed = board.embeds[0]
    assert embed["title"] == "Questions for Antibiotic resistance"
    assert embed["description"].index("phages") < embed["description"].index("rude")  # oldest first at 0 votes
    assert f"<@{bob}>" not in embed["description"] and "anonymous" in embed["description"]
    assert vote_ids(board.message or {}) == ["podium:vote:1", "podium:vote:2", "podium:vote:3"]
    board_id = int((board.message or {})["id"])

    # bob upvotes carol's question: the board is redrawn in place, carol's question now first
    click = await school.click(bob, board_id, "podium:vote:3")
    redrawn = emu.message(board_id)
    assert "Your vote is counted" in redrawn["content"]
    assert redrawn["embeds"][0]["description"].startswith("**1.** Third, anonymous")
    assert click.response_type == 7
    # his own question is refused, with a clear message
    own = await school.click(bob, board_id, "podium:vote:2")
    assert "your own question" in own.all_text()
    # a second click takes the vote back
    await school.click(bob, board_id, "podium:vote:3")
    assert "Your vote is taken back" in emu.message(board_id)["content"]
    await school.click(bob, board_id, "podium:vote:3")
    alice_board = await school.run(alice, "questions", {"talk": 1})
    await school.click(alice, int((alice_board.message or {})["id"]), "podium:vote:3")
    async with bot.db.reading() as conn:
        votes = list(await conn.execute_fetchall("SELECT question_id, user_id FROM question_votes ORDER BY user_id"))
    assert [(v[0], v[1]) for v in votes] == sorted([(3, alice), (3, bob)], key=lambda v: v[1])

    # organizers hide bob's question: members no longer see it, nor can vote for it
    hidden = await school.run(school.organizer, "talk hide_question", {"question": 2})
    assert "Question #2 is hidden" in hidden.all_text()
    again = await school.run(school.organizer, "talk hide_question", {"question": 2})
    assert "already hidden" in again.all_text()
    missing = await school.run(school.organizer, "talk hide_question", {"question": 42})
    assert "no question #42" in missing.all_text()
    after = await school.run(carol, "questions", {"talk": 1})
    assert "rude" not in after.all_text()
    assert "podium:vote:2" not in vote_ids(after.message or {})
    stale = await school.click(alice, int((alice_board.message or {})["id"]), "podium:vote:2")  # an old board
    assert "not open for votes" in stale.all_text()

    listing = await school.run(school.organizer, "talk questions", {"talk": 1})
    assert listing.ephemeral
    text = listing.all_text()
    assert "3 questions, 1 hidden" in text
    assert "`#2` hidden" in text and "No speaker account is set" in text
    [(name, data)] = listing.attachments
    assert name == "talk-1-questions.csv"
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    by_id = {row["question_id"]: row for row in rows}
    assert by_id["3"]["votes"] == "2" and by_id["3"]["rank"] == "1"
    assert by_id["3"]["anonymous"] == "yes" and by_id["3"]["display_name"] == "" and by_id["3"]["user_id"] == ""
    assert by_id["2"]["hidden"] == "yes" and by_id["2"]["rank"] == "" and by_id["2"]["user_id"] == str(bob)
    assert by_id["1"]["question"].startswith("First: <@")  # the file keeps the text as typed

    # the talk ends: the board can still be read, but voting is closed
    with clock_at(bot, start + timedelta(hours=2)):
        late_board = await school.run(carol, "questions", {"talk": 1})
        assert "voting is closed" in late_board.all_text()
        buttons = [c for row in (late_board.message or {})["components"] for c in row["components"]]
        assert buttons and all(c.get("disabled") for c in buttons)
        late_click = await school.click(carol, int((after.message or {})["id"]), "podium:vote:1")
        assert "voting is closed" in late_click.all_text()


async def test_many_questions_are_paged(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start)
    for n in range(12):
        user = school.students[("alice", "bob", "carol", "dave")[n % 4]]
        await school.run(user, "ask", {"talk": 1, "question": f"Question number {n} " + "y" * 470})
    board = await school.run(school.students["alice"], "questions", {"talk": 1})
    message = board.message or {}
    assert len(vote_ids(message)) == 5
    assert "Page 1 of 3" in board.all_text()
    page = await school.click(school.students["alice"], int(message["id"]), "podium:questions:1:1")
    assert page.response_type == 7
    assert "Page 2 of 3" in emu.message(int(message["id"]))["embeds"][0]["footer"]["text"]
    assert vote_ids(emu.message(int(message["id"])))[0] == "podium:vote:6"


async def test_speaker_gets_the_ranked_list_at_24h_and_1h(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    speaker = emu.add_user("fleming")
    emu.add_member(school.guild_id, speaker)
    await setup_talk(school, start, speaker_user=speaker)
    assert {"questions:1:1440", "questions:1:60"} <= bot.scheduler.job_ids(1)
    alice, bob = school.students["alice"], school.students["bob"]
    await school.run(alice, "ask", {"talk": 1, "question": "@everyone Why do bacteria share genes?"})
    await school.run(bob, "ask", {"talk": 1, "question": "Hidden one"})
    await school.run(school.organizer, "talk hide_question", {"question": 2})

    await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(days=1), 1440))
    [first] = speaker_dms(emu, speaker)
    assert "The question members asked for your talk **Antibiotic resistance**" in first["content"]
    assert "bacteria share genes" in first["content"] and "Hidden one" not in first["content"]
    assert first["mention_everyone"] is False and first["mentions"] == []
    button = first["components"][0]["components"][0]["custom_id"]
    assert button.startswith("podium:speakerq:1:m")
    # the same job again (a duplicate fire, a restart's planning pass): nothing new
    await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(days=1), 1440))
    assert len(speaker_dms(emu, speaker)) == 1

    await school.run(bob, "ask", {"talk": 1, "question": "What about farms?"})
    await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(hours=1), 60))
    dms = speaker_dms(emu, speaker)
    assert len(dms) == 2 and "The 2 questions" in dms[1]["content"] and "farms" in dms[1]["content"]
    # the button gives the speaker the latest list at any time; nobody else
    refresh = await emu.click(None, speaker, dms[1], dms[1]["components"][0]["components"][0]["custom_id"])
    await refresh.wait_done()
    assert "farms" in refresh.all_text()
    async with bot.db.reading() as conn:
        rows = await store.deliveries_for(conn, 1, DeliveryKind.QUESTIONS)
    assert sorted((r.key, r.status) for r in rows) == [(60, DeliveryStatus.SENT), (1440, DeliveryStatus.SENT)]
    # after the start a late job sends nothing
    with clock_at(bot, start + timedelta(minutes=5)):
        await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(hours=1), 60))
    assert len(speaker_dms(emu, speaker)) == 2


async def test_long_lists_are_attached(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    speaker = emu.add_user("fleming")
    emu.add_member(school.guild_id, speaker)
    await setup_talk(school, start, speaker_user=speaker)
    for n in range(8):
        user = school.students[("alice", "bob", "carol", "dave")[n % 4]]
        await school.run(user, "ask", {"talk": 1, "question": f"Long question {n} " + "z" * 480})
    await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(days=1), 1440))
    [dm] = speaker_dms(emu, speaker)
    assert len(dm["content"]) <= 2000
    [attachment] = dm["attachments"]
    assert attachment["filename"].startswith("talk-1-questions-m") and attachment["filename"].endswith(".txt")
    text = emu.attachment_bytes(attachment).decode("utf-8")
    assert all(f"Long question {n}" in text for n in range(8))


async def test_no_questions_sends_a_short_note(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    speaker = emu.add_user("fleming")
    emu.add_member(school.guild_id, speaker)
    await setup_talk(school, start, speaker_user=speaker)
    await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(days=1), 1440))
    [note] = speaker_dms(emu, speaker)
    assert note["content"].startswith("No questions yet for your talk")


async def test_speaker_with_closed_dms_and_speaker_changes(
    emu: DiscordEmulator, school: School, bot: PodiumBot
) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    speaker = emu.add_user("fleming", dms_open=False)
    emu.add_member(school.guild_id, speaker)
    other = emu.add_user("pasteur")
    emu.add_member(school.guild_id, other)
    await setup_talk(school, start, speaker_user=speaker)
    await school.run(school.students["alice"], "ask", {"talk": 1, "question": "Any question"})
    await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(days=1), 1440))
    async with bot.db.reading() as conn:
        [row] = await store.deliveries_for(conn, 1, DeliveryKind.QUESTIONS)
    assert row.status is DeliveryStatus.FAILED and "50007" in (row.last_error or "")
    assert await bot.courier.retry_due() == 0  # not retried
    listing = await school.run(school.organizer, "talk questions", {"talk": 1})
    assert f"could not be DMed to <@{speaker}>" in listing.all_text()
    # the organizer gives another account; the 1-hour list goes there, and a bot is refused
    edited = await school.run(school.organizer, "talk edit", {"talk": 1, "speaker_user": other})
    assert "Updated talk **#1**" in edited.all_text() and "`speaker_user`" in edited.all_text()
    await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(hours=1), 60))
    assert len(speaker_dms(emu, other)) == 1
    cleared = await school.run(school.organizer, "talk edit", {"talk": 1, "remove_speaker_user": True})
    assert "Updated talk **#1**" in cleared.all_text()
    async with bot.db.reading() as conn:
        talk = await store.get_talk_by_id(conn, 1)
    assert talk is not None and talk.speaker_user_id is None
    now = bot.service.clock()
    assert not [job for job in plan_jobs(talk, now, now + HORIZON) if job.action is JobAction.QUESTIONS]
    await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(hours=1), 60))  # a stray fire
    assert len(speaker_dms(emu, other)) == 1


async def test_speaker_list_exactly_once_across_a_restart(emu: DiscordEmulator, tmp_path: Path) -> None:
    school = build_school(emu, students=("ann",))
    speaker = emu.add_user("fleming")
    emu.add_member(school.guild_id, speaker)
    database = tmp_path / "podium.sqlite3"
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")
        await setup_talk(school, start, speaker_user=speaker)
        await school.run(school.students["ann"], "ask", {"talk": 1, "question": "Before the crash?"})
        # Discord posts the DM, then the answer is lost: the row stays pending with its attempt recorded.
        emu.fail_next("POST", DM_SEND, status=503, after_processing=True)
        await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(days=1), 1440))
        async with bot.db.reading() as conn:
            [row] = await store.deliveries_for(conn, 1, DeliveryKind.QUESTIONS)
        assert row.status is DeliveryStatus.PENDING and row.attempted_at is not None
        assert len(speaker_dms(emu, speaker)) == 1
    emu.expire_nonces()  # down longer than Discord remembers nonces
    async with running_bot(emu, database, DEV_GUILD_ID=str(school.guild_id)) as bot:
        bot.scheduler.scheduler.pause_job("retry-deliveries")
        real = bot.service.clock
        bot.service.clock = lambda: real() + timedelta(minutes=10)  # past the back-off
        try:
            await bot.courier.retry_due()
            # the planning pass after the restart runs the past-due job again: still nothing new
            await bot.scheduler.run(PlannedJob(JobAction.QUESTIONS, 1, start - timedelta(days=1), 1440))
        finally:
            bot.service.clock = real
        await bot.courier.drain()
        async with bot.db.reading() as conn:
            [row] = await store.deliveries_for(conn, 1, DeliveryKind.QUESTIONS)
        assert row.status is DeliveryStatus.SENT
        dms = speaker_dms(emu, speaker)
        assert len(dms) == 1 and row.message_id == int(dms[0]["id"])


async def test_a_french_member_reads_french(emu: DiscordEmulator, school: School, bot: PodiumBot) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    await setup_talk(school, start)
    marie = emu.add_user("marie", locale="fr")
    emu.add_member(school.guild_id, marie)
    too_long = await school.run(marie, "ask", {"talk": 1, "question": "é" * 501})
    assert "la limite est de 500" in too_long.all_text()
    asked = await school.run(marie, "ask", {"talk": 1, "question": "Pourquoi ?"})
    assert "Votre question n°1 pour **Antibiotic resistance** est enregistrée" in asked.all_text()
    assert "`/voir-questions conference:1`" in asked.all_text()
    own = await school.run(marie, "questions", {"talk": 1})
    assert own.embeds[0]["title"] == "Questions pour Antibiotic resistance"
    refused = await school.click(marie, int((own.message or {})["id"]), "podium:vote:1")
    assert "C'est votre propre question" in refused.all_text()
