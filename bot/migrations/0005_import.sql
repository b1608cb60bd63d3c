-- Imported talks: the source UID of the .ics event each talk came from.
-- For an occurrence of a repeating event it also names the occurrence ("<UID>/<RECURRENCE-ID>"), so a
-- second import of the same file finds every talk it already made; talks made by /talk create have none.
ALTER TABLE talks ADD COLUMN source_uid TEXT;
CREATE UNIQUE INDEX talks_guild_source_uid ON talks (guild_id, source_uid) WHERE source_uid IS NOT NULL;
