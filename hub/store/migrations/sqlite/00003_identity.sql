-- +goose Up
-- Identity across vendors without a crosswalk table
-- (docs/decisions/0001-stateless-about-patients.md). seq is the entry's place
-- in the order its transfer is delivered in: entries a Bundle refers to come
-- before the entries referring to them (a Patient before its Appointment,
-- whatever the Bundle's order), so that order per subject compares seq, not
-- the entry's index.
ALTER TABLE switchboard_delivery ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
-- vendor_ref is the id the destination gave the entry (cus_…, a booking
-- uid, the EHR's id), sealed like a payload (the hub keeps nothing about a
-- patient in clear), so that later entries of the same transfer refer to
-- it by the vendor's own id instead of a urn:uuid. It is deleted with the
-- transfer.
ALTER TABLE switchboard_delivery ADD COLUMN vendor_ref TEXT;

-- +goose Down
ALTER TABLE switchboard_delivery DROP COLUMN vendor_ref;
ALTER TABLE switchboard_delivery DROP COLUMN seq;
