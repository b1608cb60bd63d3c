-- Times are unix seconds in UTC; every row is scoped by the Discord server (guild) it belongs to.
CREATE TABLE guild_settings (
    guild_id          INTEGER PRIMARY KEY,
    channel_id        INTEGER,
    organizer_role_id INTEGER,
    timezone          TEXT,
    reminders         TEXT,
    ping_role_id      INTEGER,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE talks (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id                 INTEGER NOT NULL,
    title                    TEXT    NOT NULL,
    speaker                  TEXT    NOT NULL,
    speaker_bio              TEXT,
    description              TEXT,
    location                 TEXT,
    start_at                 INTEGER NOT NULL,
    duration_min             INTEGER NOT NULL,
    capacity                 INTEGER CHECK (capacity IS NULL OR capacity >= 1),
    reminders                TEXT    NOT NULL,
    announce_at              INTEGER,
    status                   TEXT    NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
    cancel_reason            TEXT,
    sequence                 INTEGER NOT NULL DEFAULT 0,
    announcement_channel_id  INTEGER,
    announcement_message_id  INTEGER,
    created_by               INTEGER NOT NULL,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
CREATE INDEX talks_guild_start ON talks (guild_id, start_at);
CREATE INDEX talks_start ON talks (start_at);

-- One row per member and talk; the id orders the waitlist (first come, first served).
CREATE TABLE registrations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    talk_id        INTEGER NOT NULL REFERENCES talks (id) ON DELETE CASCADE,
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    display_name   TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('confirmed', 'waitlisted')),
    registered_at  INTEGER NOT NULL,
    confirmed_at   REAL,  -- sub-second: decides who is owed a reminder that fell due that same second
    dm_failed      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (talk_id, user_id)
);
CREATE INDEX registrations_talk_status ON registrations (talk_id, status, id);
CREATE INDEX registrations_user ON registrations (guild_id, user_id);

CREATE TABLE member_preferences (
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    notifications  INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (guild_id, user_id)
);

-- The DM channel of each member, so each later DM costs one request instead of two.
CREATE TABLE dm_channels (
    user_id     INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL
);

-- Small facts the bot keeps about itself, e.g. the fingerprint of the last synced command set.
CREATE TABLE bot_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
