-- +goose Up
-- The hub's own tables hold no PHI: ids, routing facts, counters, times
-- (microseconds since the Unix epoch, the same in both dialects) and keyed
-- hashes. Payloads live only in River's job args, sealed.
CREATE TABLE switchboard_transfer (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    -- keyed HMAC of the client's Idempotency-Key header (a client could put
    -- anything in it, so it is never stored as sent)
    idempotency_hash TEXT,
    -- keyed HMAC of the request body: the same key with another body is refused
    request_hash     TEXT NOT NULL,
    kind             TEXT NOT NULL,        -- resource | batch | transaction
    resource_type    TEXT NOT NULL,        -- Bundle for batch and transaction
    interaction      TEXT NOT NULL,        -- create | update | batch | transaction
    entry_count      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX switchboard_transfer_idempotency
    ON switchboard_transfer (client_id, idempotency_hash) WHERE idempotency_hash IS NOT NULL;
CREATE INDEX switchboard_transfer_created ON switchboard_transfer (created_at);

CREATE TABLE switchboard_delivery (
    transfer_id   TEXT NOT NULL REFERENCES switchboard_transfer (id) ON DELETE CASCADE,
    entry         INTEGER NOT NULL,        -- index in the Bundle, 0 for a single resource
    destination   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    interaction   TEXT NOT NULL,
    job_id        INTEGER,
    state         TEXT NOT NULL,           -- queued | delivered | retrying | failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_status   INTEGER,
    error_class   TEXT,
    error_code    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    delivered_at  INTEGER,
    PRIMARY KEY (transfer_id, entry, destination)
);
CREATE INDEX switchboard_delivery_state ON switchboard_delivery (state, destination, updated_at);
CREATE INDEX switchboard_delivery_job ON switchboard_delivery (job_id);

-- +goose Down
DROP TABLE switchboard_delivery;
DROP TABLE switchboard_transfer;
