// Package ehrsim is a local sandbox standing in for a vendor EHR (Epic,
// Oracle Health/Cerner, athenahealth and the like) that speaks FHIR R4. It
// serves `make run` (through cmd/vendorsim) and tests, which start it
// in-process:
//
//	ehr := httptest.NewServer(ehrsim.New(ehrsim.Options{}))
//	defer ehr.Close()
//	base := ehr.URL + "/fhir/R4"
//
// # What it imitates
//
// The parts of a FHIR R4 server a delivering or polling client depends on:
//
//   - create (POST /{type}): the server assigns an opaque id, sets
//     meta.versionId and meta.lastUpdated (keeping any meta.tag or profile the
//     client sent) and answers 201 with Location {base}/{type}/{id}/_history/{v};
//   - conditional create (If-None-Exist: identifier=system|value): one match
//     answers 200 with the existing resource and creates nothing, several
//     matches answer 412, checked atomically with the create;
//   - update (PUT /{type}/{id}) with upsert: 200 and a new version on an
//     existing id, 201 on a new one; If-Match is honoured;
//   - read, vread (GET /{type}/{id}[/_history/{v}]) and search
//     (GET /{type}?identifier=&_lastUpdated=&_id=&patient=&subject=&_count=)
//     answering a searchset Bundle sorted by lastUpdated then id, paged with
//     next links (_sort=_lastUpdated asks for that order and is accepted; no
//     other order is served). patient and subject mean what FHIR R4 defines
//     for the type (params.go): Appointment?patient= is a participant.actor
//     that is a Patient, Consent?patient= Consent.patient, Coverage's the
//     beneficiary; a type that defines no such parameter does not serve it.
//     A parameter the sandbox does not serve is ignored, as real servers
//     do, and the searchset's self link states only the parameters applied
//     (under Prefer: handling=strict it is a 400 naming it instead);
//   - for Appointment, the date parameter on Appointment.start, with the
//     prefixes of _lastUpdated (eq, ge, gt, lt, le; eq when none) and its
//     precision rules; two values form a range, as in
//     Appointment?date=ge2026-12-01&date=lt2026-12-08, and an Appointment
//     without a start matches no date search;
//   - GET /metadata, a minimal CapabilityStatement;
//   - errors as OperationOutcome resources with FHIR issue codes.
//
// It also honours Idempotency-Key on writes the way the IETF
// httpapi-idempotency-key draft describes (many EHRs do not; set
// Options.IgnoreIdempotencyKeys to play one that does not): a key seen with a
// completed answer replays that answer with Idempotent-Replayed: true and no
// effect; a concurrent request with the same key waits for the first; a key
// reused for a different request (method, path, conditions or body) answers
// 422, which turns a client's key collision into a visible error instead of a
// silently dropped write.
//
// # Evidence and faults
//
// Tests read what the sandbox received at GET /_sandbox/log: one row per FHIR
// request (method, path, key, status, effect), never a body or a query string,
// since both carry PHI. The row's effect says what the request did:
// created, updated, matched (a conditional create hit), replayed, rejected,
// read or search. "effects" counts created and updated rows; and
// "duplicate_effects" counts idempotency keys that caused more than one of
// them, which a correct hub keeps at zero. GET /_sandbox/stats adds small
// counters, among them duplicate_identifiers (records sharing one identifier:
// the duplicate chart a user would notice).
//
// POST /_sandbox/faults makes the EHR slow or failing at run time (see
// Faults). Injected failures happen in front of the FHIR logic, as a gateway
// would answer: they have no effect and are not remembered under the
// request's Idempotency-Key, so a retry with the same key proceeds. The
// standing modes the fault suite (make chaos) drives are "down" (503 to
// everything), "429" (every write, with Retry-After) and "reset" (the write
// takes effect, then the connection is reset mid-answer); "for_ms" ends a
// POST's settings on their own.
//
// POST /sink/... is a separate, deliberately trivial endpoint for throughput
// benchmarks: it answers 200 at once and only counts.
//
// # What it does not do
//
// No authentication or SMART on FHIR; no validation beyond "a JSON object
// whose resourceType matches the URL" (and the id on update); any
// capitalised resource type name is accepted; no delete, history bundles,
// transactions, _include or chained search; unknown search parameters are
// ignored as FHIR's lenient handling allows (Prefer: handling=strict turns
// them into 400). Everything is in memory and lost on exit. Unlike a real
// server, lastUpdated values are unique and strictly increasing (at
// millisecond resolution), which keeps paging deterministic; a poller should
// still search with ge and de-duplicate, as it must against a real EHR.
// _lastUpdated honours the precision of its value, as FHIR says: gt with a
// value in whole seconds skips the rest of that second, so pass milliseconds.
package ehrsim
