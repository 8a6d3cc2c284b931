-- The stats' events by status (operations.sql, event_counts) without reading every event: the
-- few rows whose raw status says routed or unrouted (rows routed before 0004, or out of order)
-- are counted through this index. Ingest stores 'pending' rows, which it never holds.
CREATE INDEX events_settled ON events (status) WHERE status IN ('routed', 'unrouted');
