// Package alert tells admins that a destination is in trouble, through an
// outbound webhook they configure in the routing file's `alerts:` block
// (route.Alerts), and publishes each worker's circuit breaker states to
// switchboard_breaker for the admin health view.
//
// Two things raise an alert: a destination's permanent failures reaching
// a threshold within a sliding window ("destination.failures"), and its
// circuit breaker opening ("destination.breaker_open", followed by
// "destination.recovered" when a probe closes it again). A third is always
// on when an alert URL is set: a polled source holding one record larger
// than the answer limit on its own ("destination.response_too_large"),
// which stops its polls until an admin raises max_response_bytes. The
// Notifier decides, and enqueues a River job; the Worker sends it. An alert
// is made unique per destination and window (failures), per destination
// and five minutes (breaker) or per destination and hour (response too
// large), so a burst of failures, or a breaker flapping in every worker
// process at once, sends one alert, not one per event.
//
// The webhook follows Standard Webhooks (https://www.standardwebhooks.com):
// headers webhook-id, webhook-timestamp and webhook-signature
// ("v1,<base64 HMAC-SHA256 of id.timestamp.body>"), keyed with the bytes of
// a "whsec_<base64>" secret, and a body of {"type","timestamp","data"}, so
// any Standard Webhooks library verifies it. webhook-id is the same on every
// retry of one alert, for the receiver to de-duplicate; the timestamp and
// signature are fresh on each.
//
// An alert holds no PHI, and nothing that leads to it: a destination's
// name, counts, a window, a breaker state and a time. Never a transfer id,
// a resource type, an error message or any part of a payload.
//
// Wiring (package server): register Worker on queue Queue, pass the
// Notifier as connectors.Params.Breakers to every connector, call
// Notifier.DeliveryFailed after each permanent failure is committed, and
// Notifier.Heartbeat every HeartbeatEvery with the breakers' states.
package alert
