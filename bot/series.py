"""Seminar series: one talk per date of a rule (weekly, every two weeks, monthly), managed together.

A series is created, edited and cancelled as one, but each of its dates is an ordinary talk with its own seats,
waitlist, invites, reminders and check-in: every rule of bot/talks.py applies to each date unchanged, and a
single date can still be edited or cancelled with /talk edit and /talk cancel. What this module adds is the rule
the dates come from, which dates a series command touches, and doing it for all of them in one transaction.

Dates are computed in the server's zone, each at the same local wall-clock time, then converted to UTC: a
weekly 18:00 seminar stays at 18:00 in Paris when the clocks go back (16:00 UTC in October, 17:00 in November).
No Discord objects here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import series_rows, store
from bot.checkin import opens_at
from bot.command_names import command, option
from bot.errors import InputError, NotFoundError, StateError
from bot.i18n import Text, _, _n, _p
from bot.models import Repeat, Seats, Series, Talk
from bot.talks import CancelOutcome, EditOutcome, TalkInput, TalkService, cancel_reason
from bot.timeparse import discord_timestamp, parse_day_of, parse_time_of_day, parse_when, typed_date, wall_time

SERIES_MAX = 52  # dates in one series: a year of weekly seminars
MONTHLY_LAST_DAY = 28  # every month has it: a monthly series on the 29th-31st would have to skip or move dates
# How each kind of repetition is written in an RRULE (bot/calendar.py): FREQ and INTERVAL.
RRULE = {Repeat.WEEKLY: ("WEEKLY", 1), Repeat.BIWEEKLY: ("WEEKLY", 2), Repeat.MONTHLY: ("MONTHLY", 1)}
REPEAT_NAMES = {
    Repeat.WEEKLY: _p("series repeat", "weekly"),
    Repeat.BIWEEKLY: _p("series repeat", "every two weeks"),
    Repeat.MONTHLY: _p("series repeat", "monthly"),
}
SERIES_HINT = _("Pick one from the list as you type.")


def no_such_series(series_id: int) -> NotFoundError:
    """The same for a series that does not exist, belongs to another server or is not announced yet."""
    return NotFoundError(
        _("There is no series #{series_id} in this server. {hint}", series_id=series_id, hint=SERIES_HINT)
    )


def slot_day(first: date, repeat: Repeat, index: int) -> date:
    """The local day of the rule's date number ``index`` (from 0)."""
    if repeat is Repeat.MONTHLY:
        months = first.month - 1 + index
        return first.replace(year=first.year + months // 12, month=months % 12 + 1)
    return first + timedelta(weeks=index * RRULE[repeat][1])


def slot_days(series: Series) -> list[date]:
    """Every day the series' rule gives, cancelled or not: what an RRULE with COUNT expands to."""
    return [slot_day(series.first_day, series.repeat, index) for index in range(series.count)]


def parse_repeat(value: str | None) -> Repeat:
    choices = ", ".join(f"`{repeat.value}`" for repeat in Repeat)
    if value is None or not value.strip():
        raise InputError(_("A series needs {repeat}: one of {choices}.", repeat=option("repeat"), choices=choices))
    try:
        return Repeat(value.strip().lower())
    except ValueError:
        raise InputError(
            _(
                "{repeat} must be one of {choices}; `{value}` is not. Pick it from the list.",
                repeat=option("repeat"),
                choices=choices,
                value=value.strip()[:40],
            )
        ) from None


def series_starts(
    start: datetime, tz: ZoneInfo, repeat: Repeat, *, count: int | None, until: date | None
) -> list[datetime]:
    """The dates of a new series, as aware UTC datetimes: ``start``'s local time on each day of the rule, up to
    ``count`` dates and none after the day ``until`` (at least one of the two is given, and checked, by the
    caller). Raises InputError for a day on which that time does not exist (clocks going forward)."""
    local = start.astimezone(tz)
    at = time(local.hour, local.minute)
    found: list[datetime] = []
    for index in range(count if count is not None else SERIES_MAX + 1):
        day = slot_day(local.date(), repeat, index)
        if until is not None and day > until:
            break
        moment = wall_time(day, at, tz)
        if moment is None:
            raise InputError(
                _(
                    "{time} does not exist on {day} in {zone}: the clocks skip that hour (daylight saving time). "
                    "Pick another time for the series, for example one hour later.",
                    time=at.strftime("%H:%M"),
                    day=day.isoformat(),
                    zone=tz.key,
                )
            )
        found.append(moment)
    if count is None and len(found) > SERIES_MAX:
        raise InputError(
            _(
                "From {start} to {until} that makes more than {limit} dates, the most a series has. Give an earlier "
                "{until_option}, or {count} (1 to {limit}).",
                start=typed_date(start, tz),
                until=until.isoformat() if until else "",
                limit=SERIES_MAX,
                until_option=option("until"),
                count=option("count"),
            )
        )
    return found


def _iso(moment: datetime, tz: ZoneInfo) -> str:
    # What each date's TalkInput carries: the instant with its offset, which parse_when takes as given.
    return moment.astimezone(tz).isoformat(timespec="minutes")


@dataclass(frozen=True)
class SeriesDates:
    """A series and its talks, in the order of its rule."""

    series: Series
    talks: list[Talk]

    def reference(self, now: datetime) -> Talk:
        """The date that speaks for the series (its title, speaker, place): the next one not over, else the
        last one held, else the last."""
        scheduled = [talk for talk in self.talks if not talk.cancelled]
        upcoming = [talk for talk in scheduled if not talk.is_over(now)]
        return (upcoming or scheduled or self.talks)[0 if upcoming else -1]

    def open(self, now: datetime) -> list[Talk]:
        """The dates one may still register for: scheduled and not over."""
        return [talk for talk in self.talks if not talk.cancelled and not talk.is_over(now)]

    def is_public(self, now: datetime) -> bool:
        # Every date shares the series' announcement and announce_at, so one speaks for all.
        return any(talk.is_public(now) for talk in self.talks)

    def checkin_talk(self, now: datetime) -> Talk:
        """The date a Check in press on the series' announcement is for: the one open for check-in now, else
        the next (whose answer says when it opens), else the last (whose answer says it is over)."""
        scheduled = [talk for talk in self.talks if not talk.cancelled] or self.talks
        for talk in scheduled:
            if opens_at(talk) <= now < talk.end_at:
                return talk
        later = [talk for talk in scheduled if talk.end_at > now]
        return later[0] if later else scheduled[-1]


@dataclass(frozen=True)
class SeriesEdited:
    dates: SeriesDates  # as it is after the change
    outcomes: list[EditOutcome]  # one per date the change touched (some may have had those values already)


@dataclass(frozen=True)
class SeriesCancelled:
    dates: SeriesDates
    outcomes: list[CancelOutcome]


class SeriesService:
    """Series on top of the talks' rules: every date goes through TalkService's checks and transactions."""

    def __init__(self, talks: TalkService) -> None:
        self.talks = talks

    def now(self) -> datetime:
        return self.talks.clock()

    # --- creating ------------------------------------------------------------------------------------

    async def create(
        self,
        guild_id: int,
        author_id: int,
        data: TalkInput,
        *,
        repeat: str | None,
        count: int | None,
        until: str | None,
    ) -> SeriesDates:
        """One talk per date, all in one transaction; ``data`` holds what every date shares (its ``start`` is the
        first date). Nothing is announced here: the series' one message is posted by the office."""
        settings = await self.talks.settings(guild_id)
        tz = settings.zone(self.talks.default_tz)
        now = self.now()
        if data.start is None:
            self.talks.creation_fields(data, settings)  # raises what a talk without a start is told
        assert data.start is not None
        rule = parse_repeat(repeat)
        if count is not None and not 1 <= count <= SERIES_MAX:
            raise InputError(
                _(
                    "{count} is how many dates the series has, from 1 to {limit}; you gave {given}.",
                    count=option("count"),
                    limit=SERIES_MAX,
                    given=count,
                )
            )
        if count is None and until is None:
            raise InputError(
                _(
                    "Say how long the series runs: give {count} (how many dates, 1 to {limit}) or {until} (the "
                    "last day, for example `{example}`).",
                    count=option("count"),
                    until=option("until"),
                    limit=SERIES_MAX,
                    example=(now.astimezone(tz).date() + timedelta(days=90)).isoformat(),
                )
            )
        start = parse_when(data.start, tz, field="start", language=data.language, now=now)
        last_day = None if until is None else parse_day_of(until, tz, field="until", language=data.language, now=now)
        first_day = start.astimezone(tz).date()
        if last_day is not None and last_day < first_day:
            raise InputError(
                _(
                    "{until} ({until_day}) comes before {start} ({start_day}): give the day of the last date, on "
                    "or after the first.",
                    until=option("until"),
                    until_day=last_day.isoformat(),
                    start=option("start"),
                    start_day=first_day.isoformat(),
                )
            )
        if rule is Repeat.MONTHLY and first_day.day > MONTHLY_LAST_DAY:
            raise InputError(
                _(
                    "A monthly series keeps the day of the month, and not every month has a day {day}. Start it "
                    "on a day from 1 to {last}.",
                    day=first_day.day,
                    last=MONTHLY_LAST_DAY,
                )
            )
        starts = series_starts(start, tz, rule, count=count, until=last_day)
        # Every date passes the rules of /talk create, with everything the organizer gave passed through as is.
        rows = [self.talks.creation_fields(replace(data, start=_iso(moment, tz)), settings) for moment in starts]
        async with self.talks.db.transaction() as conn:
            stamp = self.now()
            series = await series_rows.insert_series(
                conn, guild_id, rule, first_day, tz.key, len(rows), author_id, stamp
            )
            talks = [
                await store.insert_talk(
                    conn, guild_id, author_id, stamp, {**row, "series_id": series.id, "series_index": index}
                )
                for index, row in enumerate(rows)
            ]
        return SeriesDates(series, talks)

    # --- reading ---------------------------------------------------------------------------------------

    async def get(self, guild_id: int, series_id: int) -> SeriesDates:
        """The series as organizers see it (announced or not)."""
        async with self.talks.db.reading() as conn:
            series = await series_rows.get_series(conn, guild_id, series_id)
            if series is None:
                raise no_such_series(series_id)
            talks = (await series_rows.dates_of(conn, [series.id]))[series.id]
        return SeriesDates(series, talks)

    async def of_talk(self, talk: Talk) -> SeriesDates | None:
        if talk.series_id is None:
            return None
        return await self.get(talk.guild_id, talk.series_id)

    async def member_series(self, guild_id: int, series_id: int) -> SeriesDates:
        """The series as members see it: once announced; before, the same error as for none."""
        dates = await self.get(guild_id, series_id)
        if not dates.is_public(self.now()):
            raise no_such_series(series_id)
        return dates

    async def open_dates(self, guild_id: int, series_id: int) -> tuple[SeriesDates, list[Talk]]:
        """The dates a member registering for the whole series gets: every one not over or cancelled."""
        dates = await self.member_series(guild_id, series_id)
        now = self.now()
        found = dates.open(now)
        if not found:
            raise StateError(
                _(
                    "Every date of **{title}** is over or cancelled, so registration is closed. See {talks} for "
                    "what's next.",
                    title=dates.reference(now).title,
                    talks=command("talks"),
                )
            )
        return dates, found

    async def seats(self, dates: SeriesDates) -> dict[int, Seats]:
        """Each date's seats, by talk id (each date keeps its own)."""
        async with self.talks.db.reading() as conn:
            return await store.seats_of(conn, dates.talks)

    async def set_announcement(self, series_id: int, channel_id: int, message_id: int) -> None:
        async with self.talks.db.transaction() as conn:
            await series_rows.set_announcement(conn, series_id, channel_id, message_id, self.now())

    async def choices(self, guild_id: int, *, organizer: bool, limit: int = 25) -> list[SeriesDates]:
        """What the ``series`` autocomplete offers: organizers every series (those still running first), members
        the announced ones they may still register for."""
        now = self.now()
        async with self.talks.db.reading() as conn:
            if organizer:
                ids = await series_rows.recent_series(conn, guild_id, ends_after=now, limit=limit)
            else:
                ids = await series_rows.open_series(conn, guild_id, ends_after=now, public_at=now, limit=limit)
            found = await series_rows.series_by_ids(conn, ids)
            talks = await series_rows.dates_of(conn, ids)
        return [SeriesDates(found[series_id], talks[series_id]) for series_id in ids if series_id in found]

    # --- changing --------------------------------------------------------------------------------------

    async def edit(
        self, guild_id: int, series_id: int, data: TalkInput, *, at: str | None, from_date: str | None
    ) -> SeriesEdited:
        """Change every date still to come (from ``from_date``'s day on, when given), each by the rules of
        /talk edit, all in one transaction: a date that refuses the change leaves every date as it was.

        ``at`` moves each date to that local time on its own day; ``data.start`` is not used (one instant for
        every date means nothing here).
        """
        tz = await self.talks.zone(guild_id)
        base = replace(data, start=None)
        new_time = None if at is None else parse_time_of_day(at, field="time")
        if new_time is None and not base.given():
            raise InputError(
                _(
                    "Nothing to change: give at least one field, for example {example}.",
                    example=option("time", "19:00"),
                )
            )
        dates = await self.get(guild_id, series_id)
        targets = self._targets(dates, from_date, data.language, changing=True)
        zone = dates.series.zone
        changes = []
        for talk in targets:
            draft = base
            if new_time is not None:
                day = talk.start_at.astimezone(zone).date()
                moment = wall_time(day, new_time, zone)
                if moment is None:
                    raise InputError(
                        _(
                            "{time} does not exist on {day} in {zone}: the clocks skip that hour (daylight saving "
                            "time). Pick another time, or change that date on its own with {edit}.",
                            time=new_time.strftime("%H:%M"),
                            day=day.isoformat(),
                            zone=zone.key,
                            edit=command("talk edit", talk=talk.id),
                        )
                    )
                draft = replace(base, start=_iso(moment, zone))
            changes.append((talk, self.talks.edit_fields(guild_id, draft, tz)))
        async with self.talks.db.transaction() as conn:
            outcomes = [await self.talks.apply_edit(conn, guild_id, talk.id, fields, tz) for talk, fields in changes]
        return SeriesEdited(await self.get(guild_id, series_id), outcomes)

    async def cancel(
        self, guild_id: int, series_id: int, reason: str | None, *, from_date: str | None, language: str
    ) -> SeriesCancelled:
        """Cancel every date still to come (from ``from_date``'s day on), each as /talk cancel does, at once."""
        reason = cancel_reason(reason)
        dates = await self.get(guild_id, series_id)
        targets = self._targets(dates, from_date, language, changing=False)
        async with self.talks.db.transaction() as conn:
            outcomes = [await self.talks.apply_cancel(conn, guild_id, talk.id, reason) for talk in targets]
        return SeriesCancelled(await self.get(guild_id, series_id), outcomes)

    def _targets(self, dates: SeriesDates, from_date: str | None, language: str, *, changing: bool) -> list[Talk]:
        """The dates a series command touches: scheduled, not started yet, and on or after ``from_date``'s day.

        A date already under way is left alone (moving or cancelling a talk people are attending is for
        /talk edit and /talk cancel, one date at a time)."""
        now = self.now()
        zone = dates.series.zone
        title = dates.reference(now).title
        first: date | None = None
        if from_date is not None:
            first = parse_day_of(from_date, zone, field="from_date", language=language, now=now)
            last = max((talk.start_at.astimezone(zone).date() for talk in dates.talks), default=first)
            if first > last:
                raise InputError(
                    _(
                        "{from_date} ({day}) is after the last date of **{title}** ({last}): nothing would change. "
                        "Give a day up to {last}, or leave it out for every date to come.",
                        from_date=option("from_date"),
                        day=first.isoformat(),
                        title=title,
                        last=last.isoformat(),
                    )
                )
        targets = [
            talk
            for talk in dates.talks
            if not talk.cancelled
            and talk.start_at > now
            and (first is None or talk.start_at.astimezone(zone).date() >= first)
        ]
        if targets:
            return targets
        if first is not None:
            raise StateError(
                _(
                    "No date of **{title}** from {day} on is still to come (they are over, under way or cancelled), "
                    "so there is nothing to change.",
                    title=title,
                    day=first.isoformat(),
                )
            )
        raise StateError(
            _(
                "Every date of **{title}** is over, under way or cancelled, so there is nothing to change. A date "
                "under way can still be changed on its own with {command}.",
                title=title,
                command=command("talk edit" if changing else "talk cancel"),
            )
        )


def dates_text(talks: Sequence[Talk]) -> Text:
    """How many dates, for replies: "3 dates"."""
    return _n("{count} date", "{count} dates", len(talks))


def first_and_last(talks: Sequence[Talk]) -> Text:
    """From the first date to the last, as Discord timestamps."""
    if len(talks) == 1:
        return _("on {first}", first=discord_timestamp(talks[0].start_at, "F"))
    return _(
        "from {first} to {last}",
        first=discord_timestamp(talks[0].start_at, "F"),
        last=discord_timestamp(talks[-1].start_at, "F"),
    )
