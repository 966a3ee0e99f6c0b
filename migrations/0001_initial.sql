-- Initial journal schema.
--
-- Every event belongs to a stream (one per FSM instance), so several FSMs can
-- share one file. A store writes a single stream, named 'default' unless
-- configured otherwise.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE events (
    stream      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    -- UTC epoch seconds from the writing store's clock.
    recorded_at REAL    NOT NULL,
    -- FSM state name, copied out of the payload so queries need not decode it.
    state       TEXT,
    -- The snapshot encoded as UTF-8 JSON.
    payload     BLOB    NOT NULL,
    -- SHA-256 over (previous hash, version, recorded_at, payload).
    hash        BLOB    NOT NULL,
    PRIMARY KEY (stream, version)
);

CREATE INDEX events_by_state ON events (stream, state, version);
CREATE INDEX events_by_time ON events (stream, recorded_at);

-- The hash that the first remaining event of a stream chains to. Absent for a
-- stream that starts at its beginning (the chain then starts from 32 zero bytes).
CREATE TABLE anchors (
    stream  TEXT    PRIMARY KEY,
    version INTEGER NOT NULL,
    hash    BLOB    NOT NULL
);
