-- +goose Up
-- Rate limits (issue 14 §3). No PHI: destination names, times, numbers.

-- Each destination's outbound rate limit as every hub process shares it:
-- the generic cell rate algorithm's theoretical arrival time (tat, in
-- microseconds since the Unix epoch) and the nonce of the last call that
-- took a place (package quota). The limit itself comes from the routing
-- file and is not stored: changing it takes effect at the next start.
CREATE TABLE switchboard_rate_limit (
    destination TEXT PRIMARY KEY,
    tat         BIGINT NOT NULL DEFAULT 0,
    grant_id    BIGINT NOT NULL DEFAULT 0
);

-- An API client's own inbound limit; NULL takes the hub's default
-- (SWITCHBOARD_CLIENT_RATE, SWITCHBOARD_CLIENT_BURST).
ALTER TABLE switchboard_client ADD COLUMN rate_per_second REAL;
ALTER TABLE switchboard_client ADD COLUMN rate_burst INTEGER;

-- +goose Down
ALTER TABLE switchboard_client DROP COLUMN rate_burst;
ALTER TABLE switchboard_client DROP COLUMN rate_per_second;
DROP TABLE switchboard_rate_limit;
