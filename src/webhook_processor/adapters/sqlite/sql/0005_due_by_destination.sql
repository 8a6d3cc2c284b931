-- Due deliveries by destination. A claim reads each destination's own range of this index, at
-- most as many rows as that destination may still take, so the backlog of a paused destination,
-- or of one at its max_concurrency, is never read (with one index in due order for all of them,
-- every claim stepped over those rows: a cost that grew with the backlog).
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (destination, next_attempt_ms) WHERE status = 'pending';
