-- Routing by cursor. The worker routes new events in `seq` order and records how far it got in
-- one small row, instead of rewriting every event row (body included) to change its status.
-- Raw `events.status` now means: 'pending' as stored (new until the cursor passes it, then
-- decided by its deliveries), 'replay' (to be routed again), or 'routed' / 'unrouted' for rows
-- routed before this migration. What users see is `events_v.status`.
CREATE TABLE routing_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO routing_cursor (id, seq)
    SELECT 1, coalesce((SELECT max(seq) FROM events WHERE status != 'pending'), 0);
-- Pending rows behind the cursor were replays under the old scheme.
UPDATE events SET status = 'replay'
WHERE status = 'pending' AND seq <= (SELECT seq FROM routing_cursor);

DROP INDEX events_pending;
CREATE INDEX events_replay ON events (seq) WHERE status = 'replay';

CREATE VIEW events_v AS
SELECT e.seq, e.id, e.source, e.event_type, e.idempotency_key, e.received_ms, e.content_type,
       e.headers, e.body,
       CASE
           WHEN e.status = 'replay' THEN 'pending'
           WHEN e.status IN ('routed', 'unrouted') THEN e.status
           WHEN e.seq > (SELECT seq FROM routing_cursor) THEN 'pending'
           WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) THEN 'routed'
           ELSE 'unrouted'
       END AS status
FROM events e;
