-- Each index on `events` is written by every ingest commit: events_type and events_key (0008)
-- cost about 5 us of the writer's CPU per event (a third of an insert; random keys land all over
-- their b-tree), which ingest pays for an operator's search. A key is found through the unique
-- index of dedupe (source, idempotency_key), the sources enumerated by a loose scan of
-- events_source (operations.sql, key_sources); a type filter reads newest first.
DROP INDEX events_type;
DROP INDEX events_key;
