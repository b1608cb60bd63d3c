-- Who may register for a talk, and from when (bot/eligibility.py). Role ids are Discord snowflakes, kept as
-- text: the ids separated by single spaces, smallest first; NULL when there are none.
-- eligible_roles: only members with one of these roles may register (NULL: every member).
-- priority_roles and priority_until (unix seconds, UTC) go together: members with a priority role may register
-- from the announcement on, everyone else from priority_until. Both NULL: no priority window.
-- Checked when a member registers, never again when the waitlist promotes them.
ALTER TABLE talks ADD COLUMN eligible_roles TEXT;
ALTER TABLE talks ADD COLUMN priority_roles TEXT;
ALTER TABLE talks ADD COLUMN priority_until INTEGER;
