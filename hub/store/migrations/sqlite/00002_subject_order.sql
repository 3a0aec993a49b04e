-- +goose Up
-- Order per subject: deliveries about the same patient to the same
-- destination go in the order they were accepted. subject_hash is a keyed
-- HMAC of the patient's reference (never the reference itself); NULL when
-- a resource names no patient, which then waits for nothing.
ALTER TABLE switchboard_delivery ADD COLUMN subject_hash TEXT;
-- 1 when a later delivery about the same subject is waiting for this one,
-- so that finishing it wakes that one at once instead of at its next poll.
ALTER TABLE switchboard_delivery ADD COLUMN waiter INTEGER NOT NULL DEFAULT 0;
CREATE INDEX switchboard_delivery_subject ON switchboard_delivery (destination, subject_hash, created_at)
    WHERE subject_hash IS NOT NULL;

-- +goose Down
DROP INDEX switchboard_delivery_subject;
ALTER TABLE switchboard_delivery DROP COLUMN waiter;
ALTER TABLE switchboard_delivery DROP COLUMN subject_hash;
