-- +goose Up
-- Webhooks received: one row per request, accepted, duplicate or rejected,
-- with nothing from the body. event_hash is a keyed HMAC of the vendor's
-- event id (or webhook-id): the de-duplication key. An accepted row and its
-- River job are inserted in one transaction; a second accepted row for the
-- same event cannot exist, so a webhook sent five times has one effect.
CREATE TABLE switchboard_webhook (
    source       TEXT NOT NULL,        -- the destination the webhook is for
    event_hash   TEXT,                 -- NULL when rejected before an id was known
    event_type   TEXT,                 -- the vendor's event type, e.g. BOOKING_CREATED
    outcome      TEXT NOT NULL,        -- accepted | duplicate | rejected
    reason       TEXT,                 -- why rejected (PHI-free)
    job_id       BIGINT,
    received_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX switchboard_webhook_event ON switchboard_webhook (source, event_hash) WHERE outcome = 'accepted';
CREATE INDEX switchboard_webhook_received ON switchboard_webhook (received_at);

-- +goose Down
DROP TABLE switchboard_webhook;
