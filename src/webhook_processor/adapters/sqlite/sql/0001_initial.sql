-- Events: one row per accepted webhook. `seq` is insertion order (the worker's cursor); `id` is
-- what users see. The idempotency index holds only keyed events, so unkeyed ones never collide.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    source          TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    idempotency_key TEXT,
    received_ms     INTEGER NOT NULL,
    content_type    TEXT,
    headers         BLOB    NOT NULL,           -- JSON object, credentials removed
    body            BLOB    NOT NULL,           -- raw bytes as received
    status          TEXT    NOT NULL DEFAULT 'pending'  -- pending -> routed | unrouted
);
CREATE UNIQUE INDEX events_idempotency ON events (source, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_pending ON events (seq) WHERE status = 'pending';
CREATE INDEX events_received ON events (received_ms);

-- Deliveries: one per (event, matching route). The queue of work: a delivery is due when
-- status = 'pending' and next_attempt_ms <= now; a worker claims it by setting lease_until_ms,
-- so a crash mid-delivery only delays it until the lease expires.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    route           TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    webhook_id      TEXT    NOT NULL,           -- the event id unless replayed with --new-id
    status          TEXT    NOT NULL DEFAULT 'pending',  -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_until_ms  INTEGER,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_dead ON deliveries (destination, updated_ms) WHERE status = 'dead';

-- Attempts: every try of a delivery, kept for operators.
CREATE TABLE attempts (
    id               INTEGER PRIMARY KEY,
    delivery_id      INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    started_ms       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    status_code      INTEGER,
    error            TEXT,
    response_excerpt TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);
