-- The language Podium speaks. A server's (announcements, reminder posts, feeds, agenda page) is chosen with
-- /setup language:; NULL follows the server's preferred locale. A member's is the last locale Discord gave in
-- one of their interactions, kept for what reaches them outside one (DMs, emails); one per Discord account,
-- as the locale is.
ALTER TABLE guild_settings ADD COLUMN language TEXT;
CREATE TABLE member_languages (
    user_id   INTEGER PRIMARY KEY,
    language  TEXT    NOT NULL,
    seen_at   INTEGER NOT NULL
);
