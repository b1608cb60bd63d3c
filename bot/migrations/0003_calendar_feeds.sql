-- Calendar feeds: personal feed tokens and the per-server public calendar switch.

-- Off by default: a server's programme goes on the web (feed and agenda page) only when an admin says so.
ALTER TABLE guild_settings ADD COLUMN public_calendar INTEGER NOT NULL DEFAULT 0;

-- One personal feed token per member and server. Only the SHA-256 of the token is kept, so a copy of
-- the database hands out no working link; a reset replaces the row, and the old link stops at once.
CREATE TABLE calendar_tokens (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    token_hash    BLOB    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    PRIMARY KEY (guild_id, user_id)
);
