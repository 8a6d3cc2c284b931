-- A destination's rate limit, shared by every worker process: the theoretical arrival time of
-- its next send (ratelimit.schedule), read and advanced by each claim in its transaction.
ALTER TABLE destination_state ADD COLUMN rate_tat_ms REAL;
