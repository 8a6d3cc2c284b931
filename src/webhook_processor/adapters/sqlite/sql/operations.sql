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
