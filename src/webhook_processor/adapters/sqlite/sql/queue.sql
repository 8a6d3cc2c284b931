-- The delivery queue (adapters/sqlite/queue.py): routing, leases, attempts, DLQ, replay, purge.
-- Event columns are always selected in the order of queries.sql's select_events.

-- name: pending_events
-- Replays, and the new events past the routing cursor (a rowid range: no index needed).
-- Without :payload, the body and headers are left empty (and not read).
SELECT id, source, event_type, idempotency_key, received_ms, content_type,
       iif(:payload, headers, '{}'), iif(:payload, body, x''), 'pending'
FROM (
    SELECT * FROM (
        SELECT seq, id, source, event_type, idempotency_key, received_ms, content_type, headers,
               body
        FROM events WHERE status = 'replay' ORDER BY seq LIMIT :limit
    )
    UNION ALL
    SELECT * FROM (
        SELECT seq, id, source, event_type, idempotency_key, received_ms, content_type,
               iif(:payload, headers, '{}') AS headers, iif(:payload, body, x'') AS body
        FROM events
        WHERE seq > (SELECT seq FROM routing_cursor) AND status = 'pending'
        ORDER BY seq LIMIT :limit
    )
)
ORDER BY seq LIMIT :limit;

-- name: routing_states
SELECT id, status, replay_webhook_id, seq FROM events
WHERE id IN (SELECT value FROM json_each(?));

-- name: cursor
SELECT seq FROM routing_cursor;

-- name: pending_upto
-- How many new events are between the cursor (excluded) and this seq (included)?
SELECT count(*) FROM events WHERE seq > ? AND seq <= ? AND status = 'pending';

-- name: replays_unrouted
-- No routes: replays get no deliveries; their status is again decided by those they had.
UPDATE events SET status = 'pending' WHERE status = 'replay';

-- name: cursor_to_newest
-- No routes: every event stored so far is routed (unrouted), without being read. The new seq.
UPDATE routing_cursor SET seq = max(seq, coalesce((SELECT max(seq) FROM events), 0))
RETURNING seq;

-- name: advance_cursor
UPDATE routing_cursor SET seq = max(seq, ?);

-- name: set_event_status
UPDATE events SET status = ? WHERE id = ?;

-- name: insert_delivery
INSERT INTO deliveries (event_id, route, destination, webhook_id, next_attempt_ms, created_ms,
                        updated_ms, pending_since_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6);

-- name: replayed
-- A replayed event, routed again: back to the stored state, decided by its deliveries - unless
-- the cursor has not passed it yet (it was replayed before its first routing), which would then
-- route it once more: its status ('routed' or 'unrouted', ?1) is set instead.
UPDATE events
SET status = iif(seq > (SELECT seq FROM routing_cursor), ?1, 'pending')
WHERE id = ?2;

-- name: in_flight
-- Read through the leased rows only (else the planner may pick deliveries_due for the GROUP BY,
-- and read every pending delivery).
SELECT destination, count(*) FROM deliveries INDEXED BY deliveries_leased
WHERE status = 'pending' AND lease_until_ms > ?
GROUP BY destination;

-- name: pending_destinations
-- The destinations with pending deliveries, one index seek each (a loose scan of deliveries_due),
-- however many deliveries they have.
WITH RECURSIVE pending (name) AS (
    SELECT min(destination) FROM deliveries WHERE status = 'pending'
    UNION ALL
    SELECT (
        SELECT min(destination) FROM deliveries
        WHERE status = 'pending' AND destination > pending.name
    )
    FROM pending WHERE pending.name IS NOT NULL
)
SELECT name FROM pending WHERE name IS NOT NULL;

-- name: due
-- One destination's due deliveries, earliest first, leased ones skipped (at most those in flight).
SELECT next_attempt_ms, id FROM deliveries
WHERE status = 'pending' AND destination = :destination AND next_attempt_ms <= :now
  AND (lease_until_ms IS NULL OR lease_until_ms <= :now)
ORDER BY next_attempt_ms, id
LIMIT :limit;

-- name: rate_tats
SELECT name, rate_tat_ms FROM destination_state WHERE rate_tat_ms IS NOT NULL;

-- name: set_rate_tat
-- A row of its own if the destination has none yet (never paused: paused = 0).
INSERT INTO destination_state (name, paused, updated_ms, rate_tat_ms) VALUES (?1, 0, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET rate_tat_ms = excluded.rate_tat_ms;

-- name: lease
UPDATE deliveries SET lease_until_ms = ? WHERE id IN (SELECT value FROM json_each(?));

-- name: claimed
SELECT d.id, d.route, d.destination, d.webhook_id, d.attempts + 1, d.lease_until_ms,
       e.id, e.source, e.event_type, e.idempotency_key, e.received_ms, e.content_type, e.headers,
       e.body, 'routed'
FROM deliveries d JOIN events e ON e.id = d.event_id
WHERE d.id IN (SELECT value FROM json_each(?))
ORDER BY d.next_attempt_ms, d.id;

-- name: insert_attempt
-- The attempt is kept whatever its delivery's state, unless the delivery is gone (purged).
INSERT INTO attempts (delivery_id, number, started_ms, duration_ms, status_code, error,
                      response_excerpt)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?1);

-- name: settle
-- ?1 new status, ?2 outcome, ?3 attempt, ?4 next_attempt_ms, ?5 now, ?6 delivery id.
-- Only a pending delivery follows, and only its current attempt (or any that delivered it).
-- A NULL next_attempt_ms (delivered, dead) keeps the column's value: it is NOT NULL.
UPDATE deliveries
SET status = ?1, attempts = max(attempts, ?3), next_attempt_ms = coalesce(?4, next_attempt_ms),
    lease_until_ms = NULL, updated_ms = ?5
WHERE id = ?6 AND status = 'pending' AND (?2 = 'delivered' OR attempts = ?3 - 1);

-- name: dead
SELECT d.id, d.event_id, d.route, d.destination, d.webhook_id, d.attempts, d.updated_ms,
       e.source, e.event_type, e.received_ms, a.status_code, a.error
FROM deliveries d
JOIN events e ON e.id = d.event_id
LEFT JOIN attempts a ON a.id = (SELECT max(id) FROM attempts WHERE delivery_id = d.id)
WHERE d.status = 'dead'
  AND (:destination IS NULL OR d.destination = :destination)
  AND (:before IS NULL OR d.id < :before)
ORDER BY d.id DESC
LIMIT :limit;

-- name: redrive
-- :ids is a JSON array of delivery ids, or NULL for every dead delivery (of :destination).
UPDATE deliveries
SET status = 'pending', attempts = 0, next_attempt_ms = :now, lease_until_ms = NULL,
    updated_ms = :now, pending_since_ms = :now
WHERE id IN (
    SELECT id FROM deliveries
    WHERE status = 'dead'
      AND (:destination IS NULL OR destination = :destination)
      AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
    LIMIT :batch
);

-- name: replay
UPDATE events SET status = 'replay', replay_webhook_id = ? WHERE id = ?;

-- name: match_events
SELECT id FROM events_v
WHERE (:source IS NULL OR source = :source)
  AND (:event_type IS NULL OR event_type = :event_type)
  AND (:status IS NULL OR status = :status)
  AND (:idempotency_key IS NULL OR idempotency_key = :idempotency_key)
  AND (:since_ms IS NULL OR received_ms >= :since_ms)
  AND (:until_ms IS NULL OR received_ms < :until_ms)
ORDER BY seq
LIMIT :limit;

-- name: deliveries_of
SELECT id, event_id, route, destination, webhook_id, status, attempts, next_attempt_ms,
       lease_until_ms, created_ms, updated_ms
FROM deliveries WHERE event_id = ? ORDER BY id;

-- name: attempts_of
SELECT number, started_ms, duration_ms, status_code, error, response_excerpt
FROM attempts WHERE delivery_id = ? ORDER BY id;

-- name: purge_scan
-- The next events received before the cutoff, oldest first, after a (received_ms, seq) position.
SELECT received_ms, seq FROM events
WHERE received_ms >= ?1 AND (received_ms > ?1 OR seq > ?2) AND received_ms < ?3
ORDER BY received_ms, seq LIMIT ?4;

-- name: purge_done
-- Of those, the ones whose work is done: routed (behind the cursor, no replay waiting) and with
-- no delivery pending. Their deliveries and attempts go with them (ON DELETE CASCADE).
DELETE FROM events
WHERE seq IN (SELECT value FROM json_each(?))
  AND seq <= (SELECT seq FROM routing_cursor)
  AND status != 'replay'
  AND NOT EXISTS (
      SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.status = 'pending'
  );

-- name: count_events
SELECT status, count(*) FROM events_v GROUP BY status;

-- name: count_deliveries
SELECT status, count(*) FROM deliveries GROUP BY status;

-- name: set_paused
INSERT INTO destination_state (name, paused, updated_ms) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_ms = excluded.updated_ms;

-- name: paused_destinations
SELECT name FROM destination_state WHERE paused = 1;

-- name: destination_counts
-- Two halves, so each reads only its rows, through the partial indexes deliveries_due (pending)
-- and deliveries_dead (dead); delivered ones, the bulk of the table, are never read.
SELECT destination, 'pending', count(*) FROM deliveries WHERE status = 'pending'
GROUP BY destination
UNION ALL
SELECT destination, 'dead', count(*) FROM deliveries WHERE status = 'dead'
GROUP BY destination;
