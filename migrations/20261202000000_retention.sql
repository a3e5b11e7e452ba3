-- History older than the retention period the user sets is pruned (runs that ended before it,
-- and events before it). What is kept stays append-only: an event may be deleted only once it
-- is at or below the 'pruned_through' mark, and that mark only ever rises.

INSERT INTO counters (name, value) VALUES ('pruned_through', 0);

DROP TRIGGER events_are_append_only_delete;

CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
WHEN OLD.seq > (SELECT value FROM counters WHERE name = 'pruned_through')
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;

CREATE TRIGGER pruned_through_only_rises BEFORE UPDATE ON counters
WHEN OLD.name = 'pruned_through' AND NEW.value < OLD.value
BEGIN
    SELECT RAISE(ABORT, 'pruned history cannot come back');
END;

CREATE INDEX runs_by_finish ON runs (finished_at) WHERE finished_at IS NOT NULL;
