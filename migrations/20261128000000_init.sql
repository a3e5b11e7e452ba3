-- Baton's history. Written only by the host's scheduler actor, one transaction per request.

-- Every run ever submitted, with its latest state. Runs are never deleted by Baton itself.
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    title         TEXT    NOT NULL,
    client        TEXT    NOT NULL,
    needs_desktop INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
                                                   'cancelled', 'expired', 'withdrawn', 'interrupted')),
    lease_token   INTEGER,
    ttl_ms        INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    outcome       TEXT,
    exit_code     INTEGER,
    cancelled_by  TEXT,
    reason        TEXT
) STRICT;

CREATE INDEX runs_by_state ON runs (state, id);
CREATE INDEX runs_by_client ON runs (client, id);

-- The append-only log of every transition. `seq` is the SSE event id.
CREATE TABLE events (
    seq    INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    run_id INTEGER,
    kind   TEXT    NOT NULL,
    data   TEXT    NOT NULL
) STRICT;

CREATE INDEX events_by_run ON events (run_id, seq);

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

-- Durable counters: the fencing token (never reused, also after a kill -9) and the
-- hand-off pause flag.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

INSERT INTO counters (name, value) VALUES ('lease_token', 0), ('handoffs_paused', 0);

-- User settings (hotkey, notifications, TTL, port, …), as JSON values.
CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
