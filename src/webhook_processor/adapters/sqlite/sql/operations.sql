-- The operator's queries (adapters/sqlite/operations.py); the listing of events is built there.

-- name: destination_health
-- Per destination with pending or dead deliveries: pending, dead, in flight (leased now), and
-- since when its oldest pending delivery has waited. Each part reads its partial index only.
SELECT destination, sum(pending), sum(dead), sum(in_flight), min(waiting_since)
FROM (
    SELECT destination, count(*) AS pending, 0 AS dead, 0 AS in_flight,
           min(pending_since_ms) AS waiting_since
    FROM deliveries WHERE status = 'pending' GROUP BY destination
    UNION ALL
    SELECT destination, 0, count(*), 0, NULL
    FROM deliveries WHERE status = 'dead' GROUP BY destination
    UNION ALL
    SELECT destination, 0, 0, count(*), NULL
    FROM deliveries INDEXED BY deliveries_leased
    WHERE status = 'pending' AND lease_until_ms > :now GROUP BY destination
)
GROUP BY destination;

-- name: received_since
SELECT count(*) FROM events WHERE received_ms >= ?;

-- name: attempts_since
-- An attempt without an error delivered; one with an error failed (delivery.Result).
SELECT count(*) FILTER (WHERE error IS NULL), count(*) FILTER (WHERE error IS NOT NULL)
FROM attempts WHERE started_ms >= ?;

-- name: list_events
-- The head of a listing, newest first; operations.py adds the filters and ORDER BY seq DESC.
SELECT seq, id, source, event_type, idempotency_key, received_ms, content_type, status
FROM events_v e

-- name: event_counts
-- Events by status, as events_v says it (0004, 0007), without its CASE for every event (70 ms
-- for 100,000 here, and growing with the store). By raw status: 'replay' is pending; 'routed'
-- and 'unrouted' are what they say; 'pending' past the cursor is pending, and behind it routed
-- when it has a delivery, else unrouted. Behind-the-cursor pending events with a delivery are
-- the events with a delivery (one scan of the deliveries_event index) less the others with one:
-- the replays, the settled rows and those past the cursor, all few and found by index.
WITH raw AS (
    SELECT
        (SELECT count(*) FROM events) AS total,
        (SELECT count(*) FROM events WHERE status = 'replay') AS replays,
        (SELECT count(*) FROM events WHERE status IN ('routed', 'unrouted')
            AND status = 'routed') AS routed,
        (SELECT count(*) FROM events WHERE status IN ('routed', 'unrouted')
            AND status = 'unrouted') AS unrouted,
        (SELECT count(*) FROM events
         WHERE seq > (SELECT seq FROM routing_cursor) AND status = 'pending') AS fresh,
        (SELECT count(DISTINCT event_id) FROM deliveries) AS with_delivery,
        (SELECT count(*) FROM (
            SELECT id FROM events WHERE status = 'replay'
            UNION ALL
            SELECT id FROM events WHERE status IN ('routed', 'unrouted')
            UNION ALL
            SELECT id FROM events
            WHERE seq > (SELECT seq FROM routing_cursor) AND status = 'pending'
         ) AS other
         WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = other.id)) AS others_with_one
)
SELECT replays + fresh,
       routed + with_delivery - others_with_one,
       unrouted + (total - replays - routed - unrouted - fresh) - (with_delivery - others_with_one)
FROM raw;

-- name: delivery_counts
-- Deliveries by status (pending | delivered | dead): the two small ones by their partial
-- indexes, delivered the rest, instead of reading every delivery.
SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'),
       (SELECT count(*) FROM deliveries) - (SELECT count(*) FROM deliveries WHERE status = 'pending')
           - (SELECT count(*) FROM deliveries WHERE status = 'dead'),
       (SELECT count(*) FROM deliveries WHERE status = 'dead');

-- name: pending_filter
-- GET /api/events?status=pending, by the rows that can be pending (0004): replays (their partial
-- index) and new rows past the cursor (a range of seq), instead of events_v's CASE row by row,
-- which reads the whole store when few events are pending (80 ms for 100,000 here).
seq IN (
    SELECT seq FROM events WHERE status = 'replay'
    UNION ALL
    SELECT seq FROM events WHERE seq > (SELECT seq FROM routing_cursor) AND status = 'pending'
)

-- name: key_sources
-- An idempotency key without a source: the sources, one index seek each (a loose scan of
-- events_source), so that `source IN (...) AND idempotency_key = ?` reads the dedupe index.
WITH RECURSIVE sources (name) AS (
    SELECT min(source) FROM events
    UNION ALL
    SELECT (SELECT min(source) FROM events WHERE source > sources.name)
    FROM sources WHERE sources.name IS NOT NULL
)
SELECT name FROM sources WHERE name IS NOT NULL
