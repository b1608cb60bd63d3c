-- Discord's own scheduled events mirror the announced talks (bot/event_mirror.py). Times are unix seconds in UTC.

-- native_events: 1 (the default) mirrors the server's talks into its Events tab, 0 turns it off.
-- interested_registers: 1 makes "Interested" on an event register the member (0, the default: it does not).
ALTER TABLE guild_settings ADD COLUMN native_events INTEGER NOT NULL DEFAULT 1;
ALTER TABLE guild_settings ADD COLUMN interested_registers INTEGER NOT NULL DEFAULT 0;

-- One row per talk that has (or is getting) an event. A row is written before the event is created, with
-- event_id NULL and state 'creating': after a crash between Discord's answer and recording it, the start-up
-- reconciliation finds the event by the talk's marker in its description instead of creating a second one.
-- fingerprint is a digest of what the event shows, so an unchanged talk costs no request. recreated counts
-- the times an event deleted by hand was made again (once at most).
CREATE TABLE native_events (
    talk_id      INTEGER PRIMARY KEY REFERENCES talks (id) ON DELETE CASCADE,
    guild_id     INTEGER NOT NULL,
    event_id     INTEGER UNIQUE,
    state        TEXT    NOT NULL CHECK (state IN ('creating', 'scheduled', 'active', 'completed', 'cancelled', 'gone')),
    fingerprint  TEXT,
    recreated    INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX native_events_guild ON native_events (guild_id, state);

-- Members registered by clicking "Interested" (with interested_registers on): un-clicking unregisters only
-- them. left = 1 once they unregistered some other way while still marked interested, so the periodic
-- reconciliation does not register them again.
CREATE TABLE event_interest (
    talk_id   INTEGER NOT NULL REFERENCES talks (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL,
    "left"    INTEGER NOT NULL DEFAULT 0,
    since     INTEGER NOT NULL,
    PRIMARY KEY (talk_id, user_id)
);
