-- Confirmation codes emailed, kept apart from email_codes so that /email remove (which deletes the code)
-- does not reset the limits on how many codes go to one address, one member and overall.
-- Only a SHA-256 of the address (lower-cased, +tag removed) is kept: the limits need to recognise an
-- address, not to read it. Rows older than the longest window (a day) are deleted as new ones come.
CREATE TABLE email_code_sends (
    id            INTEGER PRIMARY KEY,
    sent_at       INTEGER NOT NULL,
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    address_key   BLOB    NOT NULL
);

CREATE INDEX email_code_sends_by_address ON email_code_sends (address_key, sent_at);
CREATE INDEX email_code_sends_by_user ON email_code_sends (user_id, sent_at);
CREATE INDEX email_code_sends_by_time ON email_code_sends (sent_at);
