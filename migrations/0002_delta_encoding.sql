-- Events may store a full snapshot, a compressed one, or a delta against the
-- previous event of their stream: `encoding` says which. The payload's first
-- byte says so too, so the hash chain covers the encoding.
ALTER TABLE events ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0;

-- The snapshot schema version the event was written with, for upcasters.
ALTER TABLE events ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 1;
