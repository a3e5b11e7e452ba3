-- Named resources besides the desktop: the ones the person declares, and what each run needs
-- of them. Runs from before need only what their needs_desktop column says.

-- The resources besides the desktop that a run needs, as a JSON array of names.
ALTER TABLE runs ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';

-- The fencing token of a run's latest grant of each of those, as a JSON object (the desktop's
-- stays in lease_token).
ALTER TABLE runs ADD COLUMN leases TEXT NOT NULL DEFAULT '{}';

-- The declared resources. Their fencing counters are in counters, as 'lease_token:<name>', and
-- stay when a resource is removed: one declared again under its name goes on from there.
CREATE TABLE resources (
    name     TEXT    PRIMARY KEY,
    capacity INTEGER NOT NULL CHECK (capacity >= 1)
) STRICT;
