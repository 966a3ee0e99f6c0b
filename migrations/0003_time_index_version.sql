-- state_at(at=...) asks for the last event at or before a time, newest version
-- first among events that share a timestamp (a commit batch shares one). With
-- the version in the index, SQLite reads that row straight from the index
-- instead of sorting every event of the timestamp.
DROP INDEX events_by_time;
CREATE INDEX events_by_time ON events (stream, recorded_at, version);
