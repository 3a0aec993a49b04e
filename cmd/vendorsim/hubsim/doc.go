// Package hubsim is a local, in-memory sandbox standing in for HubSpot's CRM
// contacts v3 API, limited to what connectors/hubspot calls. It serves
// `make run` (through cmd/vendorsim -hubspot-addr) and tests, which start it
// in-process:
//
//	sim := hubsim.New(hubsim.Options{})
//	hub := httptest.NewServer(sim)
//	defer hub.Close()
//	// base_url: hub.URL
//
// # What it imitates
//
//   - POST /crm/v3/objects/contacts/batch/upsert with idProperty email:
//     an input whose email (case-insensitive) a contact has updates it,
//     any other creates one; 200 {"status":"COMPLETE","results":[{id,
//     properties, createdAt, updatedAt, archived, new}]}. A property that
//     does not exist in the portal (Options.CustomProperties) or an invalid
//     email refuses the whole batch with 400 VALIDATION_ERROR, as HubSpot
//     does for a custom property never created;
//   - POST /crm/v3/objects/contacts/search with EQ filters (groups ORed,
//     filters ANDed), limit and after, answering total, results and
//     paging.next.after while more remain;
//   - GET /crm/v3/objects/contacts/{id}, or {email}?idProperty=email, with
//     properties=…; 404 OBJECT_NOT_FOUND when none.
//
// Every call needs Authorization: Bearer <token> (Options.Token when set),
// else 401 INVALID_AUTHENTICATION; errors come in HubSpot's
// {"status":"error","category":…,"message":…,"correlationId":…} body.
// HubSpot ignores Idempotency-Key; the upsert itself is what makes a
// repeated delivery harmless.
//
// # Evidence
//
// GET /_sandbox/log lists every API request (time, method, path, status,
// effect, contact id, Idempotency-Key as sent), never a body or a query
// string; a read by email is logged as /crm/v3/objects/contacts/{idProperty
// value}, since its path holds the email. An upsert's effect is created,
// updated, or unchanged when it matched a contact and changed nothing (a
// retry); "effects" counts created and updated rows and "duplicate_effects"
// idempotency keys that caused more than one of them. Tests in other
// packages read every upsert, body included, with Server.Received (in memory
// only). POST /_sandbox/reset forgets everything.
//
// # What it does not do
//
// No other objects, associations, archiving, merging, property history or
// operators other than EQ; no rate limits. Everything is lost on exit.
package hubsim
