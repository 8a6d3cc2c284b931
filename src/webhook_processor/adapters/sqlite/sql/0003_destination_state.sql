-- Runtime state of destinations, set by operators (`whp destinations pause|resume NAME`).
-- The worker holds a destination's deliveries, queued, while its config says `paused: true`
-- or its row here says paused = 1. A destination without a row is not paused at runtime.
CREATE TABLE destination_state (
    name       TEXT    PRIMARY KEY,
    paused     INTEGER NOT NULL,                -- 0 | 1
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
