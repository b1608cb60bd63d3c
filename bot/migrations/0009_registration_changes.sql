-- Each time a member registers for a talk or unregisters from it. Kept apart from registrations, which an
-- unregister deletes, so the limit on changes per member and talk (bot/talks.py) survives a toggle; rows older
-- than the limit's window are pruned at the member's next change, so a member keeps a handful at most.
CREATE TABLE registration_changes (
    talk_id     INTEGER NOT NULL REFERENCES talks (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL,
    changed_at  REAL    NOT NULL  -- unix seconds, sub-second: the order of changes in one burst
);
CREATE INDEX registration_changes_member ON registration_changes (talk_id, user_id, changed_at);
