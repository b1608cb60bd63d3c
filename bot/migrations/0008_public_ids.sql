-- Unguessable public ids for what the web side publishes, so its URLs name nothing that can be counted:
-- walking /t/1.ics, /t/2.ics, ... used to reveal every server with a public calendar.
-- 128 random bits as 32 hex digits; new rows get theirs from the bot (secrets.token_hex), rows that exist
-- already get one here from SQLite's randomness (a ChaCha20 generator seeded by the operating system).

ALTER TABLE talks ADD COLUMN public_id TEXT;
UPDATE talks SET public_id = lower(hex(randomblob(16))) WHERE public_id IS NULL;
CREATE UNIQUE INDEX talks_public_id ON talks (public_id);

-- One per server: its calendar feed and its agenda page.
ALTER TABLE guild_settings ADD COLUMN public_id TEXT;
UPDATE guild_settings SET public_id = lower(hex(randomblob(16))) WHERE public_id IS NULL;
CREATE UNIQUE INDEX guild_settings_public_id ON guild_settings (public_id);
