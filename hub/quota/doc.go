// Package quota holds the hub's rate limits, both ways.
//
// Outbound, Shared keeps every destination's limit in the database
// (switchboard_rate_limit), so that all worker and API processes together
// stay within a vendor's published limit however many of them run: each
// vendor call takes its place with one atomic UPDATE ... RETURNING
// (shared.go). See docs/decisions/0012-rate-limits.md.
//
// Inbound, Inbound keeps a token bucket per API client and per webhook
// source in this process's memory (inbound.go): a guard against one
// caller crowding out the others, answered with 429 and Retry-After.
package quota
