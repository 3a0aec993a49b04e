// Package reconcile polls vendors for changes
// (docs/decisions/0007-reconcilers-and-loops.md): for each source with a
// `poll:` block, a River periodic job (enqueued by the elected leader only, so
// a cluster polls once) pages through what changed since the source's cursor
// and routes each change like a webhook's, to every destination but the
// source.
//
// The cursor is the vendor's modification time of the last change taken,
// kept per source and resource type in switchboard_cursor and advanced after
// every page, so a poll cut short by a crash resumes where it stopped. Each
// poll asks from the cursor minus an overlap (a vendor may commit a change
// stamped earlier than one already seen) with `ge`; a change seen twice is
// routed once, because its transfer's idempotency key is its version and
// the ledger knows its content. A failing source is backed off: the next
// poll waits interval × 2^failures, up to an hour.
//
// `switchboard admin reconcile {source}` inserts a manual run, which ignores
// the back-off.
package reconcile
