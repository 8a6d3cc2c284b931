-- What the operator's queries (adapters/sqlite/operations.py) need to stay fast on a large store:
-- filters of `whp events list` and GET /api/events read newest first within one source, type or
-- idempotency key; the stats count the attempts of the last minute; a destination's health needs
-- the age of its oldest pending delivery, which is since when it has been waiting: set when the
-- delivery is created and again when it is redriven (a retry does not reset it).
CREATE INDEX events_source ON events (source, seq);
CREATE INDEX events_type ON events (event_type, seq);
CREATE INDEX events_key ON events (idempotency_key, seq) WHERE idempotency_key IS NOT NULL;
CREATE INDEX attempts_started ON attempts (started_ms);
ALTER TABLE deliveries ADD COLUMN pending_since_ms INTEGER;
UPDATE deliveries SET pending_since_ms = created_ms WHERE status = 'pending';
CREATE INDEX deliveries_waiting ON deliveries (destination, pending_since_ms) WHERE status = 'pending';
