-- Emailed invites: members' verified addresses and pending confirmation codes.

-- A member's verified address in one server; invites are emailed only to rows here.
CREATE TABLE member_emails (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    address       TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,  -- the invite's ATTENDEE CN when no registration names the member
    verified_at   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- At most one code in flight per member and server. Only a salted hash of the code is kept; the row
-- stays after the code is used up or expires so the re-send limit still applies, and goes on confirm
-- or /email remove.
CREATE TABLE email_codes (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    address       TEXT    NOT NULL,
    code_salt     BLOB    NOT NULL,
    code_hash     BLOB    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at       INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
