// Package candidsim is a local, in-memory sandbox standing in for Candid
// Health's API, limited to what connectors/candid calls. It serves `make run`
// (through cmd/vendorsim -candid-addr) and tests, which start it in-process:
//
//	sim := candidsim.New(candidsim.Options{})
//	candid := httptest.NewServer(sim)
//	defer candid.Close()
//	// base_url: candid.URL
//
// # What it imitates
//
//   - POST /api/auth/v2/token takes {client_id, client_secret} as JSON
//     (Options.ClientID and ClientSecret when set) and issues a bearer token
//     with expires_in (Options.TokenTTL); every other call needs a live
//     token and answers 401 UnauthorizedError without one;
//   - POST /api/encounters/v4 checks EncounterCreate's required fields
//     (422 HttpRequestValidationsError otherwise) and creates an encounter:
//     the body as sent plus encounter_id, created_at and one claim whose
//     status is Options.ClaimStatus;
//   - external_id is unique, as at Candid: a second create with a known
//     external_id answers 409 EncounterExternalIdUniquenessError and writes
//     nothing, atomically, so concurrent retries make one encounter;
//   - GET /api/encounters/v4/{encounter_id} reads it back, 404
//     EntityNotFoundError when unknown.
//
// Errors come in Candid's {"errorName":…,"content":…} envelope. The
// Idempotency-Key the connector sends is ignored, as Candid's spec declares
// none; external_id is what keeps a retried delivery from billing twice.
//
// # Evidence and controls
//
// GET /_sandbox/log lists every API request (time, method, path, status,
// effect, encounter_id, Idempotency-Key as sent), never a body or a query
// string, since both carry PHI. "effects" counts created and updated rows;
// "duplicate_effects" counts idempotency keys that caused more than one of
// them. Tests in other packages read every encounter create, body included,
// with Server.Received (in memory only; token requests, which carry the
// secret, are not kept). POST /_sandbox/reset forgets everything;
// POST /_sandbox/claim-status {"encounter_id","status"} (or SetClaimStatus)
// moves a claim, e.g. to "paid", for a ClaimResponse demo; ExpireTokens makes
// the next call answer 401.
//
// # What it does not do
//
// No encounter search, update or deletion, no field validation beyond the
// required ones, no claims processing. Everything is lost on exit.
package candidsim
