-- +goose Up
-- Admins and auditors (issue 4). Still no PHI: ids, names, codes, counts,
-- times (microseconds since the Unix epoch) and keyed hashes.

-- API clients: bearer tokens "sb_<id>_<secret>". Only a SHA-256 of the
-- secret is kept (the secret is 32 random bytes, so a fast hash is enough);
-- the secret is shown once, at creation. id is the actor in the log.
CREATE TABLE switchboard_client (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,             -- app | admin | auditor
    scopes       TEXT NOT NULL DEFAULT '',  -- SMART v2 system scopes, space-separated (apps)
    secret_hash  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

-- The transfer log's intake. Events are staged here cheaply, in the same
-- transaction as the change they record where there is one (an accept, a
-- delivery outcome, a replay), without the chain's lock; the chainer moves
-- them into switchboard_log in batches, in id order, hashing each onto the
-- chain. An event is durable once staged, and chained within a second.
CREATE TABLE switchboard_log_queue (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             BIGINT NOT NULL,
    event          TEXT NOT NULL,
    transfer_id    TEXT,
    direction      TEXT,
    source         TEXT,
    destination    TEXT,
    resource_type  TEXT,
    interaction    TEXT,
    subject_hash   TEXT,
    outcome        TEXT,
    http_status    INTEGER,
    attempt        INTEGER,
    latency_ms     BIGINT,
    error_class    TEXT,
    actor          TEXT,
    payload_digest TEXT,
    detail         TEXT
);

-- The keyed HMAC digest of the payload a delivery row sent (auditors check
-- a document they hold against it).
ALTER TABLE switchboard_log ADD COLUMN payload_digest TEXT;
CREATE INDEX switchboard_log_transfer ON switchboard_log (transfer_id);
CREATE INDEX switchboard_log_subject ON switchboard_log (subject_hash);
CREATE INDEX switchboard_log_digest ON switchboard_log (payload_digest);

-- The chain's head, MAC'd: removing rows from the end of the log leaves
-- the head pointing past it, so truncation is detected too. One row.
CREATE TABLE switchboard_log_head (
    id    INTEGER PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL,
    at    BIGINT NOT NULL,
    mac   TEXT NOT NULL
);

-- Deliveries: the subject as the transfer log keys it (one HMAC for all
-- destinations, so an auditor can ask for a patient's transfers), replays
-- and the vendor idempotency key generation, and when the sealed payload of
-- a failed delivery was purged.
ALTER TABLE switchboard_delivery ADD COLUMN audit_subject TEXT;
ALTER TABLE switchboard_delivery ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
ALTER TABLE switchboard_delivery ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE switchboard_delivery ADD COLUMN purged_at BIGINT;

-- Circuit breaker states as each worker process last saw them, for the
-- admin health view (breakers live in worker memory).
CREATE TABLE switchboard_breaker (
    destination TEXT NOT NULL,
    process     TEXT NOT NULL,
    state       TEXT NOT NULL,              -- closed | half-open | open
    changed_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (destination, process)
);

-- +goose Down
DROP TABLE switchboard_breaker;
ALTER TABLE switchboard_delivery DROP COLUMN purged_at;
ALTER TABLE switchboard_delivery DROP COLUMN key_generation;
ALTER TABLE switchboard_delivery DROP COLUMN replays;
ALTER TABLE switchboard_delivery DROP COLUMN audit_subject;
DROP TABLE switchboard_log_head;
DROP INDEX switchboard_log_digest;
DROP INDEX switchboard_log_subject;
DROP INDEX switchboard_log_transfer;
ALTER TABLE switchboard_log DROP COLUMN payload_digest;
DROP TABLE switchboard_log_queue;
DROP TABLE switchboard_client;
