-- +goose Up
-- Polling reconcilers (docs/decisions/0007-reconcilers-and-loops.md). One
-- cursor per polled source and resource type: the vendor's modification time
-- the next poll starts from (microseconds since the Unix epoch), never a
-- vendor URL or anything from a record. failures and next_at back a failing
-- source off.
CREATE TABLE switchboard_cursor (
    source        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    since         BIGINT NOT NULL,
    polled_at     BIGINT,
    failures      INTEGER NOT NULL DEFAULT 0,
    next_at       BIGINT,
    last_error    TEXT,             -- PHI-free error code
    PRIMARY KEY (source, resource_type)
);

-- What the hub last knew of each vendor record it syncs, as keyed hashes
-- only: record_hash is an HMAC of (vendor, resource type, the vendor's id or
-- one of the record's identifiers), fingerprint an HMAC of the fields the
-- hub syncs. A change whose fingerprint is the one known is an echo of the
-- hub's own write (or changes nothing synced) and is dropped; changed_at,
-- the vendor time of the known state, lets the later change win a conflict.
CREATE TABLE switchboard_sync (
    record_hash TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    changed_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The transfer log (docs/decisions/0008-transfer-log.md): one append-only row
-- per event, PHI-free (ids, names, counts, codes; a subject only as a keyed
-- HMAC). Each row's hash is a keyed HMAC over the previous row's hash and its
-- own columns, so altering, inserting or removing a row breaks the chain.
CREATE TABLE switchboard_log (
    seq           BIGINT PRIMARY KEY,
    at            BIGINT NOT NULL,
    event         TEXT NOT NULL,
    transfer_id   TEXT,
    direction     TEXT,
    source        TEXT,
    destination   TEXT,
    resource_type TEXT,
    interaction   TEXT,
    subject_hash  TEXT,
    outcome       TEXT,
    http_status   INTEGER,
    attempt       INTEGER,
    latency_ms    BIGINT,
    error_class   TEXT,
    actor         TEXT,
    detail        TEXT,             -- JSON object of PHI-free counts and codes
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX switchboard_log_at ON switchboard_log (at);

-- +goose Down
DROP TABLE switchboard_log;
DROP TABLE switchboard_sync;
DROP TABLE switchboard_cursor;
