-- What happens after registration: the private join link, check-in, questions for the speaker, feedback and
-- attendance certificates. Times are unix seconds in UTC, as everywhere.

-- join_url is private: it reaches confirmed members only, from join_link_before ahead of the start, and never
-- appears in anything public (announcement, server feed, agenda page, /t/ files). checkin_code is NULL when
-- checking in needs no code, else the code shown on a slide in the room. speaker_user_id is the speaker's
-- Discord account, when they are a member: they receive the questions.
ALTER TABLE talks ADD COLUMN join_url TEXT;
ALTER TABLE talks ADD COLUMN checkin_code TEXT;
ALTER TABLE talks ADD COLUMN speaker_user_id INTEGER;

-- Minutes before the start at which the join link is released (NULL: 15), and the first day of the academic
-- year as MM-DD (NULL: 09-01), which /attendance counts from.
ALTER TABLE guild_settings ADD COLUMN join_link_before INTEGER;
ALTER TABLE guild_settings ADD COLUMN year_start TEXT;

-- One row per member present at a talk; walk_in when they had no confirmed seat before checking in.
CREATE TABLE checkins (
    talk_id        INTEGER NOT NULL REFERENCES talks (id) ON DELETE CASCADE,
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    display_name   TEXT    NOT NULL,
    walk_in        INTEGER NOT NULL DEFAULT 0,
    checked_in_at  INTEGER NOT NULL,
    PRIMARY KEY (talk_id, user_id)
);
CREATE INDEX checkins_member ON checkins (guild_id, user_id);

CREATE TABLE questions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    talk_id       INTEGER NOT NULL REFERENCES talks (id) ON DELETE CASCADE,
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    display_name  TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    anonymous     INTEGER NOT NULL DEFAULT 0,
    hidden        INTEGER NOT NULL DEFAULT 0,
    asked_at      INTEGER NOT NULL
);
CREATE INDEX questions_talk ON questions (talk_id, hidden);

-- One vote per member and question; a second click deletes the row.
CREATE TABLE question_votes (
    question_id  INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL,
    voted_at     INTEGER NOT NULL,
    PRIMARY KEY (question_id, user_id)
);

-- One answer per attendee and talk, changeable while answers are accepted.
CREATE TABLE feedback (
    talk_id      INTEGER NOT NULL REFERENCES talks (id) ON DELETE CASCADE,
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    rating       INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    comment      TEXT,
    answered_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (talk_id, user_id)
);

-- What a certificate listed when it was issued, so /verify/<code> answers the same thing years later.
-- code is random and unguessable; talks is a JSON list of {title, speaker, start_at, duration_min}.
CREATE TABLE certificates (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    code           TEXT    NOT NULL UNIQUE,
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    server_name    TEXT    NOT NULL,
    display_name   TEXT    NOT NULL,
    year_from      INTEGER NOT NULL,
    year_to        INTEGER NOT NULL,
    talks          TEXT    NOT NULL,
    total_minutes  INTEGER NOT NULL,
    issued_at      INTEGER NOT NULL
);
CREATE INDEX certificates_member ON certificates (guild_id, user_id, issued_at);

-- Who attended a talk, the one rule feedback, /attendance, certificates and reports share: the members who
-- checked in, or every confirmed member when nobody checked in (a talk run without check-in). Cancelled talks
-- have no attendance; consumers keep only talks that are over.
CREATE VIEW attendance AS
SELECT c.talk_id, c.guild_id, c.user_id, c.display_name, c.checked_in_at
FROM checkins c JOIN talks t ON t.id = c.talk_id
WHERE t.status = 'scheduled'
UNION ALL
SELECT r.talk_id, r.guild_id, r.user_id, r.display_name, NULL
FROM registrations r JOIN talks t ON t.id = r.talk_id
WHERE t.status = 'scheduled' AND r.status = 'confirmed'
  AND NOT EXISTS (SELECT 1 FROM checkins c WHERE c.talk_id = r.talk_id);
