-- Seminar series (/series, bot/series.py): one talk per date, all pointing at their series.
-- The series keeps the rule its dates came from, so feeds can write it as one event with an RRULE: the
-- local day of the first date (in the zone the dates were computed in), how it repeats and how many dates
-- there are. Each talk keeps its place in the rule (series_index, from 0): the date the rule generates for
-- it, which a calendar names with RECURRENCE-ID when that date was moved or changed on its own.
-- The series' announcement is one message; every talk of the series carries its channel and message ids in
-- announcement_channel_id and announcement_message_id, so reminders, links and visibility work unchanged.
CREATE TABLE series (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    repeat      TEXT    NOT NULL CHECK (repeat IN ('weekly', 'biweekly', 'monthly')),
    first_day   TEXT    NOT NULL,  -- YYYY-MM-DD, local to timezone
    timezone    TEXT    NOT NULL,
    count       INTEGER NOT NULL CHECK (count BETWEEN 1 AND 52),
    created_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX series_guild ON series (guild_id, id);

ALTER TABLE talks ADD COLUMN series_id INTEGER REFERENCES series (id);
ALTER TABLE talks ADD COLUMN series_index INTEGER;
CREATE UNIQUE INDEX talks_series ON talks (series_id, series_index) WHERE series_id IS NOT NULL;
