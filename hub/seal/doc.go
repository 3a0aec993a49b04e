// Package seal keeps PHI unreadable at rest. Everything the hub queues is
// sealed into an Envelope with AES-256-GCM before it reaches River's tables,
// and opened again only in memory, inside the delivery worker.
//
// A Keyring holds several keys: the first is active and seals, all of them
// open, so a key can be rotated in (put first) and the old one kept until
// nothing sealed under it remains (Reseal moves an envelope to the active key).
// Removing a key from the configuration shreds whatever is still sealed under
// it: those envelopes can no longer be opened.
//
// Additional data binds an envelope to its job (the job kind, transfer id and
// destination), so a ciphertext copied into another job's arguments fails to
// open instead of being delivered to the wrong place.
package seal
