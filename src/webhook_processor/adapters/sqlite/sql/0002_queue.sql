-- Replays: the webhook id the next routing of an event gives its deliveries (NULL: the event id).
-- `whp replay` leaves it NULL so receivers can dedupe; `--new-id` stores a fresh one here.
ALTER TABLE events ADD COLUMN replay_webhook_id TEXT;

-- Deliveries in flight (leased), counted per destination for the worker's concurrency limits.
CREATE INDEX deliveries_leased ON deliveries (destination, lease_until_ms)
    WHERE status = 'pending' AND lease_until_ms IS NOT NULL;

-- The dead-letter queue, newest first (deliveries_dead serves a redrive by destination).
CREATE INDEX deliveries_dead_id ON deliveries (id) WHERE status = 'dead';
