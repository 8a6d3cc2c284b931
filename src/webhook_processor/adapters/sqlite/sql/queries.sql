-- name: insert_event
INSERT INTO events (id, source, event_type, idempotency_key, received_ms, content_type, headers, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;

-- name: event_by_key
SELECT id FROM events WHERE source = ? AND idempotency_key = ?;

-- name: select_events
SELECT id, source, event_type, idempotency_key, received_ms, content_type, headers, body, status
FROM events_v
