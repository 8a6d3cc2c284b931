-- Store order that is never reused. The worker routes the events past the routing cursor
-- (0004), so an event stored with a seq the cursor has already passed is never routed: it stays
-- `unrouted`, its webhook acknowledged and never delivered. `seq INTEGER PRIMARY KEY` is
-- max(seq) + 1, so once a purge had deleted the newest events (a store idle past its retention,
-- or `whp purge --older-than` a short time), new webhooks took the seqs of purged ones, behind the
-- cursor. With AUTOINCREMENT SQLite never gives a seq twice: sqlite_sequence keeps the largest
-- seq ever given, and it starts here above both max(seq) and the cursor. (It costs one update of
-- sqlite_sequence per INSERT statement: one per ingest batch.)
--
-- SQLite cannot add AUTOINCREMENT to a table: events is rebuilt as
-- https://www.sqlite.org/lang_altertable.html#otheralter says, with foreign keys off (db.migrate),
-- so that dropping the old table does not cascade to the deliveries. Every row keeps its seq, the
-- deliveries' REFERENCES events (id) name the new table once it is renamed, and the indexes and
-- the view are made again as they were.
--
-- The repair: events lost that way are made replays, which the worker routes. What tells them
-- from events the cursor did route? By 0004's reading, an event pending behind the cursor with
-- no delivery is `unrouted`: a lost one looks the same, and no row records what the cursor has
-- passed. The one marker left is max(seq) < cursor, the store's newest event behind the cursor.
-- The cursor was moved to an event that existed, and every event stored after it got a larger
-- seq; so the cursor's own event and all after it were purged, and each event stored since got
-- a seq already passed: every event pending behind the cursor without a delivery is lost. One
-- routed as unrouted before that purge would have gone with them: it is older than the cursor's
-- event, and nothing keeps an unrouted event past the retention. (Only one received after the
-- cursor's event yet stored before it, with a purge's cutoff between the two, stays: it is
-- routed again, with today's routes.) From 0007 on, sqlite_sequence >= cursor is the marker:
-- a seq at or below the cursor was given before the cursor passed it.
-- A store whose newest event is at or past the cursor is left as it is: either nothing was lost,
-- or new webhooks have filled the purged seqs and the cursor has moved on past them, and then
-- nothing tells its lost events from its unrouted ones. `whp replay --status unrouted --since`
-- the time of the purge routes them.
DROP VIEW events_v;

CREATE TABLE events_new (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT    NOT NULL UNIQUE,
    source            TEXT    NOT NULL,
    event_type        TEXT    NOT NULL,
    idempotency_key   TEXT,
    received_ms       INTEGER NOT NULL,
    content_type      TEXT,
    headers           BLOB    NOT NULL,
    body              BLOB    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'pending',  -- see 0004: pending | replay | ...
    replay_webhook_id TEXT
);
INSERT INTO events_new (seq, id, source, event_type, idempotency_key, received_ms, content_type,
                        headers, body, status, replay_webhook_id)
SELECT seq, id, source, event_type, idempotency_key, received_ms, content_type, headers, body,
       status, replay_webhook_id
FROM events;

-- The repair (above): the seq range is empty unless max(seq) < cursor.
UPDATE events_new SET status = 'replay'
WHERE seq <= (
        SELECT iif(coalesce((SELECT max(seq) FROM events_new), 0) < seq, seq, 0)
        FROM routing_cursor
    )
  AND status = 'pending'
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events_new.id);

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

CREATE UNIQUE INDEX events_idempotency ON events (source, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_received ON events (received_ms);
CREATE INDEX events_replay ON events (seq) WHERE status = 'replay';

-- The INSERT above left sqlite_sequence at max(seq), or without a row for an empty table.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'events', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM routing_cursor))
WHERE name = 'events';

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
