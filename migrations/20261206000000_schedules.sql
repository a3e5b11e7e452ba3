-- Schedule entries: commands the host runs, as runs of client 'schedule:<name>', whenever their
-- cron expression fires in the host's local time zone.
CREATE TABLE schedules (
    name          TEXT    PRIMARY KEY,
    cron          TEXT    NOT NULL,
    -- The program and its arguments, as a JSON array of strings.
    command       TEXT    NOT NULL,
    title         TEXT,
    needs_desktop INTEGER NOT NULL CHECK (needs_desktop IN (0, 1)),
    -- The resources its runs need besides the desktop, as a JSON array of names.
    resources     TEXT    NOT NULL DEFAULT '[]',
    missed        TEXT    NOT NULL CHECK (missed IN ('catch-up', 'skip')),
    paused        INTEGER NOT NULL CHECK (paused IN (0, 1)),
    created_at    INTEGER NOT NULL,
    -- Milliseconds since the epoch: its fires up to here are dealt with. Written in the same
    -- transaction as the run a fire makes, so that a crash neither loses a fire nor doubles it.
    handled       INTEGER NOT NULL,
    last_run      INTEGER,
    problem       TEXT
) STRICT;

-- The fire of a schedule entry that made a run, as JSON (entry, at, stands_for); NULL for every
-- other run.
ALTER TABLE runs ADD COLUMN fire TEXT;
