// Package admin is what an admin needs when deliveries fail: the failed
// syncs with their error class and history (never their payload), replay of
// one or many (with a dry run), discard, pausing a destination, a health
// view of every destination, and the purge that bounds how long a failed
// sync's sealed payload is kept
// (docs/decisions/0002-phi-sealed-in-the-queue.md).
//
// Every action is recorded in the transfer log with the admin as actor, in
// the same transaction as the change it records.
package admin
