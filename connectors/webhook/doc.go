// Package webhook holds what the inbound webhook verifiers share: the
// Standard Webhooks scheme (which several vendors use as is), the rejection
// error every verifier returns, derived event ids for vendors that send
// none, and reading several secrets from the environment so that a secret
// can be rotated without downtime.
//
// Vendor-specific schemes live with their connector (connectors/stripe,
// connectors/calcom, connectors/hubspot) and build on this package. Every
// verifier here is pure: no I/O, no clock (the caller passes now), no
// package state, and comparisons of signatures are constant-time.
package webhook
