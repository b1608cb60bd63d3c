"""The private join link's rules on a real SQLite: what is accepted, who is owed which DM and when, what is
stale, what the Join link button answers, and that no public surface ever carries the link."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot import joinlink, store
from bot.calendar import build_invite
from bot.database import Database
from bot.emails import Parties, invite_email
from bot.embeds import talk_embed, talk_view
from bot.errors import InputError, NotFoundError, StateError
from bot.feeds import FeedService, MemberFeed, PublicFeed, member_calendar, public_calendar, talk_calendar
from bot.jobplan import JobAction, plan_jobs
from bot.messages import invite_message, reminder_message, reminder_post, reminder_post_view, reminder_view
from bot.models import DeliveryKind, DeliveryStatus, Seats, Talk, TalkStatus
from bot.talks import TalkInput, TalkService
from tests.conftest import PARIS, Clock

GUILD = 111
ORGANIZER = 1
URL = "https://meet.example.edu/room-42?pwd=s3cret"
K = DeliveryKind
START = datetime(2026, 3, 14, 17, 30, tzinfo=UTC)  # "2026-03-14 18:30" in Paris


async def new_talk(service: TalkService, **fields: object) -> Talk:
    values: dict[str, object] = {
        "title": "Sepsis",
        "speaker": "Dr. Singer",
        "start": "2026-03-14 18:30",
        "join_url": URL,
        "reminders": "1d",
    }
    values.update(fields)
    return await service.create_talk(GUILD, ORGANIZER, TalkInput(**values))  # type: ignore[arg-type]


async def rows_of(db: Database, talk: Talk, kind: DeliveryKind = K.JOIN_LINK) -> list[tuple[int, int, DeliveryStatus]]:
    async with db.reading() as conn:
        rows = await store.deliveries_for(conn, talk.id, kind)
    return [(row.recipient_id, row.key, row.status) for row in rows]


async def release(service: TalkService, talk: Talk) -> list[tuple[int, int]]:
    async with service.db.transaction() as conn:
        fresh = await store.get_talk_by_id(conn, talk.id)
        assert fresh is not None
        return [(row.recipient_id, row.key) for row in await joinlink.owe_release(conn, fresh, service.clock())]


# --- what organizers type -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "ftp://files.example.edu/talk",
        "javascript:alert(1)",
        "data:text/html,<b>hi</b>",
        "meet.example.edu/room",
        "https://",
        "https://" + "a" * 520 + ".example",
        "https://meet.example.edu/@everyone",
        "https://meet.example.edu/<@123>",
        "https://meet.example.edu/room 42",
        "https://zoom.us@evil.example/j/1",
        "https://user:pass@meet.example.edu/",
        "https://meet.example.edu/`x`",
    ],
)
def test_bad_links_are_refused(value: str) -> None:
    with pytest.raises(InputError):
        joinlink.parse_join_url(value, creating=True)


def test_good_links_and_clearing() -> None:
    assert joinlink.parse_join_url(f"  {URL} ", creating=True) == URL
    assert (
        joinlink.parse_join_url("http://room.example.edu:8443/a_b", creating=False)
        == "http://room.example.edu:8443/a_b"
    )
    assert joinlink.parse_join_url("-", creating=False) is None
    assert joinlink.parse_join_url("", creating=True) is None
    assert joinlink.parse_join_url("https://" + "a" * 490 + ".example", creating=True)


@pytest.mark.parametrize(
    ("text", "minutes"), [("15m", 15), ("1h", 60), ("0m", 0), ("0", 0), ("24h", 1440), ("1d", 1440)]
)
def test_lead_is_written_like_a_reminder(text: str, minutes: int) -> None:
    assert joinlink.parse_lead(text) == minutes


@pytest.mark.parametrize("text", ["25h", "2d", "-5m", "15", "soon", "", "1h30m"])
def test_lead_out_of_bounds_is_refused(text: str) -> None:
    with pytest.raises(InputError):
        joinlink.parse_lead(text)


async def test_setup_saves_the_lead_and_a_bad_one_changes_nothing(service: TalkService) -> None:
    assert (await service.settings(GUILD)).join_link_lead() == 15
    saved = await service.update_settings(GUILD, join_link_before="30m")
    assert saved.join_link_before == 30
    with pytest.raises(InputError):
        await service.update_settings(GUILD, join_link_before="48h", reminders="1h")
    assert (await service.settings(GUILD)).join_link_before == 30
    assert (await service.settings(GUILD)).reminders is None


async def test_create_edit_and_clear(service: TalkService, clock: Clock) -> None:
    talk = await new_talk(service)
    assert talk.join_url == URL
    with pytest.raises(InputError):
        await service.edit_talk(GUILD, talk.id, TalkInput(join_url="javascript:alert(1)"))
    edited = await service.edit_talk(GUILD, talk.id, TalkInput(join_url="https://other.example.edu/x"))
    assert edited.changed == {"join_url"}
    assert edited.talk.sequence == talk.sequence  # not a calendar change: no updated invites
    assert edited.owed == []  # before the release nothing is owed yet
    cleared = await service.edit_talk(GUILD, talk.id, TalkInput(join_url="-"))
    assert cleared.talk.join_url is None


# --- when and to whom -------------------------------------------------------------------------------------------


def test_the_release_job_is_derived_from_the_talk_and_the_setting() -> None:
    now = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    talk = Talk(
        id=1, guild_id=GUILD, title="T", speaker="S", speaker_bio=None, description=None, location=None,
        start_at=START, duration_min=60, capacity=None, reminders=(60,), announce_at=None, status=TalkStatus.SCHEDULED,
        cancel_reason=None, sequence=0, announcement_channel_id=None, announcement_message_id=None, created_by=1,
        created_at=now - timedelta(days=1), updated_at=now, join_url=URL,
    )  # fmt: skip
    jobs = {job.id: job for job in plan_jobs(talk, now, now + timedelta(days=2), 30)}
    assert jobs["join_link:1"].run_at == START - timedelta(minutes=30)
    assert jobs["join_link:1"].action is JobAction.JOIN_LINK
    assert "join_link:1" in {job.id for job in plan_jobs(talk, START + timedelta(minutes=5), START + timedelta(days=2))}
    assert "join_link:1" not in {
        job.id for job in plan_jobs(replace(talk, join_url=None), now, now + timedelta(days=2))
    }
    late = replace(talk, created_at=START - timedelta(minutes=10))  # created after its release time
    assert "join_link:1" not in {job.id for job in plan_jobs(late, now, now + timedelta(days=2), 15)}


async def test_release_owes_confirmed_members_once(service: TalkService, db: Database, clock: Clock) -> None:
    talk = await new_talk(service, capacity=2)
    for member in (10, 11, 12):
        await service.register(GUILD, talk.id, member, f"M{member}")
    assert await release(service, talk) == []  # before the release: nothing
    clock.now = START - timedelta(minutes=15)
    key = joinlink.link_key(URL)
    assert sorted(await release(service, talk)) == [(10, key), (11, key)]  # 12 is on the waitlist
    assert len(await release(service, talk)) == 2  # the job again: the same rows, still pending
    async with db.transaction() as conn:
        for row in await store.deliveries_for(conn, talk.id, K.JOIN_LINK):
            await store.finish_delivery(conn, row.id, DeliveryStatus.SENT, clock.now)
    assert await release(service, talk) == []  # once sent, a re-run (a restart) owes nothing new
    assert len(await rows_of(db, talk)) == 2


async def test_merged_with_the_reminder_at_that_moment(service: TalkService, db: Database, clock: Clock) -> None:
    talk = await new_talk(service, reminders="1d,15m")
    for member in (10, 11):
        await service.register(GUILD, talk.id, member, f"M{member}")
    await service.set_notifications(GUILD, 11, False)  # 11 gets no reminder, so gets the link on its own
    clock.now = START - timedelta(minutes=15)
    assert [member for member, _key in await release(service, talk)] == [11]
    reminders = await service.owe_reminder(talk, 15, clock.now)
    assert {row.recipient_id for row in reminders if row.kind is K.REMINDER} == {10}
    # Late after a restart (the talk has started): the reminder was sent, so still no separate DM for 10.
    async with db.transaction() as conn:
        for row in reminders:
            await store.finish_delivery(conn, row.id, DeliveryStatus.SENT, clock.now)
    clock.now = START + timedelta(minutes=5)
    assert [member for member, _key in await release(service, talk)] == [11]  # still only 11's (pending) row
    assert [member for member, _key, _status in await rows_of(db, talk)] == [11]


async def test_reminder_missed_before_sending_gives_the_link_on_its_own(
    service: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(service, reminders="15m")
    await service.register(GUILD, talk.id, 10, "M10")
    clock.now = START + timedelta(minutes=1)  # the bot came back after the start: the reminder is missed
    assert await service.owe_reminder(talk, 15, START - timedelta(minutes=15)) == []
    assert [member for member, _key in await release(service, talk)] == [10]


async def test_confirmed_or_promoted_after_the_release_get_it_at_once(
    service: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(service, capacity=1)
    early = await service.register(GUILD, talk.id, 10, "M10")
    assert K.JOIN_LINK not in {row.kind for row in early.owed}
    await service.register(GUILD, talk.id, 11, "M11")  # waitlisted
    clock.now = START - timedelta(minutes=5)
    await release(service, talk)
    gone = await service.unregister(GUILD, talk.id, 10)
    assert {(row.kind, row.recipient_id) for row in gone.owed} >= {(K.INVITE_PROMOTED, 11), (K.JOIN_LINK, 11)}
    clock.now += timedelta(minutes=1)
    unlimited = await service.edit_talk(GUILD, talk.id, TalkInput(capacity=0))
    assert unlimited.owed == []
    late = await service.register(GUILD, talk.id, 12, "M12")
    assert {(row.kind, row.recipient_id) for row in late.owed} == {(K.INVITE_CONFIRMED, 12), (K.JOIN_LINK, 12)}


async def test_a_link_changed_after_the_release_goes_out_again_and_the_old_one_is_stale(
    service: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(service)
    for member in (10, 11):
        await service.register(GUILD, talk.id, member, f"M{member}")
    clock.now = START - timedelta(minutes=10)
    await release(service, talk)
    async with db.transaction() as conn:  # 10's DM went out; 11's is still pending (a retry)
        [first, second] = await store.deliveries_for(conn, talk.id, K.JOIN_LINK)
        await store.finish_delivery(conn, first.id, DeliveryStatus.SENT, clock.now)
    new = "https://meet.example.edu/new-room"
    edited = await service.edit_talk(GUILD, talk.id, TalkInput(join_url=new))
    key = joinlink.link_key(new)
    assert {(row.recipient_id, row.key) for row in edited.owed} == {(10, key), (11, key)}
    states = await rows_of(db, talk)
    assert (11, joinlink.link_key(URL), DeliveryStatus.MISSED) in states  # superseded: never sends the old link
    # and a stale row that was still around is refused at claim time
    assert await service.claim_delivery(second.id) is DeliveryStatus.MISSED
    # back to the first link: it is news again for everyone
    again = await service.edit_talk(GUILD, talk.id, TalkInput(join_url=URL))
    assert {row.recipient_id for row in again.owed} == {10, 11}


async def test_stale_join_link_rows(service: TalkService, db: Database, clock: Clock) -> None:
    talk = await new_talk(service)
    for member in (10, 11):
        await service.register(GUILD, talk.id, member, f"M{member}")
    clock.now = START - timedelta(minutes=10)
    await release(service, talk)
    async with db.reading() as conn:
        rows = {row.recipient_id: row for row in await store.deliveries_for(conn, talk.id, K.JOIN_LINK)}
    await service.unregister(GUILD, talk.id, 11)
    assert await service.claim_delivery(rows[11].id) is DeliveryStatus.MISSED
    claimed = await service.claim_delivery(rows[10].id)
    assert not isinstance(claimed, DeliveryStatus)
    await service.cancel_talk(GUILD, talk.id, None)
    async with db.transaction() as conn:
        fresh = await store.get_talk_by_id(conn, talk.id)
        assert fresh is not None
        reason = await joinlink.stale_reason(conn, rows[10], fresh, clock.now)
    assert reason == "the talk was cancelled"


async def test_moving_the_talk_before_its_new_release_owes_the_link_again(
    service: TalkService, db: Database, clock: Clock
) -> None:
    talk = await new_talk(service)
    await service.register(GUILD, talk.id, 10, "M10")
    clock.now = START - timedelta(minutes=10)
    assert len(await release(service, talk)) == 1
    await service.edit_talk(GUILD, talk.id, TalkInput(start="2026-03-15 18:30"))
    assert await rows_of(db, talk) == []
    clock.now = START + timedelta(days=1, minutes=-15)
    assert len(await release(service, talk)) == 1


async def test_what_the_button_answers(service: TalkService, db: Database, clock: Clock) -> None:
    talk = await new_talk(service, capacity=1)
    await service.register(GUILD, talk.id, 10, "M10")
    await service.register(GUILD, talk.id, 11, "M11")
    links = joinlink.JoinLinks(service)
    early = await links.access(GUILD, talk.id, 10)
    assert early.url is None and early.opens_at == START - timedelta(minutes=15)
    with pytest.raises(StateError, match="waitlist"):
        await links.access(GUILD, talk.id, 11)
    with pytest.raises(StateError, match="confirmed seat"):
        await links.access(GUILD, talk.id, 12)
    clock.now = START - timedelta(minutes=15)
    assert (await links.access(GUILD, talk.id, 10)).url == URL
    with pytest.raises(StateError, match="waitlist"):
        await links.access(GUILD, talk.id, 11)
    with pytest.raises(NotFoundError, match="no talk #99"):
        await links.access(GUILD, 99, 10)  # a forged or stale button
    plain = await new_talk(service, join_url=None)
    with pytest.raises(StateError, match="no online link"):
        await links.access(GUILD, plain.id, 10)
    clock.now = START + timedelta(hours=2)
    with pytest.raises(StateError, match="over"):
        await links.access(GUILD, talk.id, 10)


# --- never public -----------------------------------------------------------------------------------------------


async def test_public_surfaces_never_carry_the_link(service: TalkService, db: Database, clock: Clock) -> None:
    """Announcement (embed and buttons), reminder post, invite DM and its file, emails (every part), the server
    feed and the /t/ file: none carries the link, before or after the release. Only the member's own feed does."""
    talk = await new_talk(service, reminders="1d,15m", description="See you there", location="Amphi A", capacity=1)
    await service.register(GUILD, talk.id, 10, "M10")
    await service.register(GUILD, talk.id, 11, "M11")
    async with db.transaction() as conn:
        await store.update_talk(conn, talk.id, clock.now, {"announcement_channel_id": 5, "announcement_message_id": 6})
        talk = await store.get_talk_by_id(conn, talk.id)  # type: ignore[assignment]
    assert talk is not None
    clock.now = START - timedelta(minutes=5)  # released
    public: list[str] = []
    for language in ("en", "fr"):
        embed = talk_embed(talk, Seats(1, 1, 1), clock.now, language)
        public.append(str(embed.to_dict()))
        public.append(str(talk_view(talk, clock.now, language).to_components()))
        public.append(reminder_post(talk, 15, None, language))
        public.append(str(reminder_post_view(talk, "m1", language).to_components()))
        for kind in (K.INVITE_CONFIRMED, K.INVITE_UPDATED, K.INVITE_CANCELLED):
            public.append(invite_message(talk, kind, language))
        public.append(build_invite(talk, tz=PARIS, now=clock.now, language=language).decode())
        public.append(talk_calendar(talk, PARIS, language).decode())
        settings = await service.settings(GUILD)
        public.append(public_calendar(PublicFeed(settings, PARIS, [talk]), "School", language).decode())
        parties = Parties("podium@uni.example", "Podium", "School", "m10@uni.example", "M10", None)
        for kind in (K.EMAIL_CONFIRMED, K.EMAIL_UPDATED, K.EMAIL_CANCELLED):
            mail = invite_email(talk, kind, parties, tz=PARIS, now=clock.now, message_id="<x@y>", language=language)
            public.append(mail.as_string())
            public.extend(str(part.get_content()) for part in mail.walk() if not part.is_multipart())
    leaks = [text for text in public if "meet.example.edu" in text or "s3cret" in text]
    assert leaks == []
    # The reminder DM that does not fall at the release time does not carry it either.
    assert "meet.example.edu" not in reminder_message(talk, 1440) + str(reminder_view(talk).to_components())
    # The join button is there, without the link; hidden without one.
    [button] = [c for row in talk_view(talk, clock.now, "en").to_components() for c in row["components"]][4:]
    assert button["custom_id"] == f"podium:join:{talk.id}" and "url" not in button
    no_link = replace(talk, join_url=None)
    assert len([c for row in talk_view(no_link, clock.now, "en").to_components() for c in row["components"]]) == 4

    # The member's own feed: the confirmed member's copy carries it, the waitlisted one's does not.
    feeds = FeedService(service)
    for member, expected in ((10, True), (11, False)):
        link = await feeds.link(GUILD, member, reset=False)
        assert link.token is not None
        feed = await feeds.member_feed(link.token)
        assert feed is not None
        body = member_calendar(feed, "School", "en").decode()
        assert ("meet.example.edu" in body.replace("\r\n ", "")) is expected, member


async def test_the_personal_feed_carries_it_from_the_release(service: TalkService, clock: Clock) -> None:
    talk = await new_talk(service)
    await service.register(GUILD, talk.id, 10, "M10")
    feeds = FeedService(service)
    link = await feeds.link(GUILD, 10, reset=False)
    assert link.token is not None
    before = await feeds.member_feed(link.token)
    assert isinstance(before, MemberFeed)
    assert before.join_links == {}
    assert before.changes_at == START - timedelta(minutes=15)  # a cached rendering expires at the release
    assert "meet.example.edu" not in member_calendar(before, "School", "en").decode()
    clock.now = START - timedelta(minutes=15)
    after = await feeds.member_feed(link.token)
    assert after is not None and after.join_links == {talk.id: URL}
    body = member_calendar(after, "School", "fr").decode().replace("\r\n ", "")
    assert "CONFERENCE;" in body and "Lien de connexion" in body
    assert URL.replace(",", "\\,") in body
