-- The outbox: one row per message the bot owes someone, written before sending and updated after,
-- so a restart neither sends a message twice nor forgets one.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id        INTEGER NOT NULL,
    talk_id         INTEGER NOT NULL REFERENCES talks (id) ON DELETE CASCADE,
    recipient_type  TEXT    NOT NULL CHECK (recipient_type IN ('user', 'channel')),
    recipient_id    INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    key             INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'missed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    message_id      INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (talk_id, recipient_type, recipient_id, kind, key)
);
CREATE INDEX deliveries_pending ON deliveries (status, next_attempt_at);
