package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmePatient is the README walkthrough's Patient as the README prints it
// (curl -d '…' sends it so, newlines and all).
const readmePatient = `{
    "resourceType": "Patient",
    "id": "example",
    "identifier": [{"use": "usual", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
    "active": true,
    "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
    "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work"},
                {"system": "email", "value": "peter.chalmers@example.org"}],
    "gender": "male",
    "birthDate": "1974-12-25",
    "address": [{"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille",
                 "state": "Vic", "postalCode": "3999", "country": "AU"}]
  }`

// readmePatientReordered is the same resource compact, every object's keys
// in another order.
const readmePatientReordered = `{"address":[{"country":"AU","postalCode":"3999","state":"Vic","city":"PleasantVille","line":["534 Erewhon St"],"use":"home"}],` +
	`"birthDate":"1974-12-25","gender":"male","telecom":[{"use":"work","value":"(03) 5555 6473","system":"phone"},` +
	`{"value":"peter.chalmers@example.org","system":"email"}],"name":[{"given":["Peter","James"],"family":"Chalmers","use":"official"}],` +
	`"active":true,"identifier":[{"value":"12345","system":"urn:oid:1.2.36.146.595.217.0.1","use":"usual"}],"id":"example","resourceType":"Patient"}`

// idemBundle is a transaction of a new Patient and an Observation about her.
const idemBundle = `{
  "resourceType": "Bundle",
  "type": "transaction",
  "entry": [
    {"fullUrl": "urn:uuid:a0000000-0000-4000-8000-000000000001",
     "resource": {"resourceType": "Patient", "identifier": [{"system": "https://clinic.example/mrn", "value": "MRN-IDEM"}],
                  "name": [{"family": "Zzidempotent"}]},
     "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": "urn:uuid:a0000000-0000-4000-8000-000000000002",
     "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                  "subject": {"reference": "urn:uuid:a0000000-0000-4000-8000-000000000001"},
                  "valueQuantity": {"value": 70.50, "unit": "kg"}},
     "request": {"method": "POST", "url": "Observation"}}
  ]
}`

const idemBundleReordered = `{"entry":[{"request":{"url":"Patient","method":"POST"},"resource":{"name":[{"family":"Zzidempotent"}],` +
	`"identifier":[{"value":"MRN-IDEM","system":"https://clinic.example/mrn"}],"resourceType":"Patient"},` +
	`"fullUrl":"urn:uuid:a0000000-0000-4000-8000-000000000001"},{"request":{"url":"Observation","method":"POST"},` +
	`"resource":{"valueQuantity":{"unit":"kg","value":70.50},"subject":{"reference":"urn:uuid:a0000000-0000-4000-8000-000000000001"},` +
	`"code":{"text":"weight"},"status":"final","resourceType":"Observation"},"fullUrl":"urn:uuid:a0000000-0000-4000-8000-000000000002"}],` +
	`"type":"transaction","resourceType":"Bundle"}`

// TestIdempotencyComparesMeaningNotBytes: under one Idempotency-Key, the
// same resource re-sent with other whitespace (curl -d @file strips the
// newlines) or key order is a replay of the first transfer and queues
// nothing; a changed value, or the same body to another URL, is 422. The
// database keeps only keyed hashes of the key and of the request.
func TestIdempotencyComparesMeaningNotBytes(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			h := start(t, dialect)
			ctx := context.Background()
			deliveries := func() int {
				var n int
				if err := h.hub.Store.DB().QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_delivery`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}

			first := h.post("/fhir/R4/Patient", readmePatient, "Idempotency-Key", "walkthrough-1")
			if first.status != http.StatusAccepted || first.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("first: %d %s", first.status, first.body)
			}
			loc := first.header.Get("Content-Location")
			if st := h.waitFor(loc, 10*time.Second); st.State != "delivered" {
				t.Fatalf("first transfer: %+v", st)
			}
			for _, c := range []struct{ name, body string }{
				{"the same bytes", readmePatient},
				{"newlines stripped, as curl -d @file sends it", strings.ReplaceAll(readmePatient, "\n", "")},
				{"compact, keys in another order", readmePatientReordered},
			} {
				r := h.post("/fhir/R4/Patient", c.body, "Idempotency-Key", "walkthrough-1")
				if r.status != http.StatusAccepted || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("Content-Location") != loc {
					t.Fatalf("%s: %d replayed=%q %s, want 202 replayed of %s: %s", c.name, r.status,
						r.header.Get("Idempotent-Replayed"), r.header.Get("Content-Location"), loc, r.body)
				}
			}
			for _, c := range []struct{ name, method, path, body string }{
				{"a changed value", http.MethodPost, "/fhir/R4/Patient", strings.Replace(readmePatientReordered, "Chalmers", "Chalmerz", 1)},
				{"another given-name order", http.MethodPost, "/fhir/R4/Patient", strings.Replace(readmePatient, `["Peter", "James"]`, `["James", "Peter"]`, 1)},
				{"the same body as an update (another method and URL)", http.MethodPut, "/fhir/R4/Patient/example", readmePatient},
			} {
				r := h.do(c.method, c.path, "application/fhir+json", c.body, "Idempotency-Key", "walkthrough-1")
				if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"conflict"`) || r.header.Get("Idempotent-Replayed") != "" {
					t.Fatalf("%s: %d %s, want 422 conflict", c.name, r.status, r.body)
				}
			}

			// A Bundle: the same, laid out otherwise, is a replay; a changed
			// decimal (70.50 is not 70.5 in FHIR) is not.
			b := h.post("/fhir/R4", idemBundle, "Idempotency-Key", "bundle-1")
			if b.status != http.StatusAccepted {
				t.Fatalf("bundle: %d %s", b.status, b.body)
			}
			bloc := b.header.Get("Content-Location")
			h.waitFor(bloc, 10*time.Second)
			if r := h.post("/fhir/R4", idemBundleReordered, "Idempotency-Key", "bundle-1"); r.status != http.StatusAccepted ||
				r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("Content-Location") != bloc {
				t.Fatalf("bundle re-sent: %d replayed=%q %s", r.status, r.header.Get("Idempotent-Replayed"), r.body)
			}
			for _, changed := range []string{
				strings.Replace(idemBundleReordered, "70.50", "70.5", 1),
				strings.Replace(idemBundle, `"type": "transaction"`, `"type": "batch"`, 1),
			} {
				if r := h.post("/fhir/R4", changed, "Idempotency-Key", "bundle-1"); r.status != http.StatusUnprocessableEntity {
					t.Fatalf("changed bundle: %d %s, want 422", r.status, r.body)
				}
			}

			// Nothing new was queued or sent: 2 deliveries of the Patient,
			// 3 of the Bundle (Patient to the EHR and Stripe, Observation to
			// the EHR), one create each at the EHR.
			time.Sleep(300 * time.Millisecond) // a delivery queued by a replay would land by now
			if n := deliveries(); n != 5 {
				t.Fatalf("deliveries: %d, want 5", n)
			}
			created := 0
			for _, rq := range h.ehrLog().Requests {
				if rq.Effect == "created" {
					created++
				}
			}
			if created != 3 {
				t.Fatalf("EHR creates: %d, want 3 (Patient, Patient, Observation)", created)
			}

			// Stored: keyed hashes only, never the body or an unkeyed digest of it.
			rows, err := h.hub.Store.DB().Query(ctx, `SELECT idempotency_hash, request_hash FROM switchboard_transfer`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			hexDigest := regexp.MustCompile(`^[0-9a-f]{64}$`)
			unkeyed := map[string]bool{}
			for _, body := range []string{readmePatient, readmePatientReordered, idemBundle, idemBundleReordered} {
				sum := sha256.Sum256([]byte(body))
				unkeyed[hex.EncodeToString(sum[:])] = true
				var v any
				_ = json.Unmarshal([]byte(body), &v)
				canon, _ := json.Marshal(v)
				sum = sha256.Sum256(canon)
				unkeyed[hex.EncodeToString(sum[:])] = true
			}
			n := 0
			for rows.Next() {
				var idem, req string
				if err := rows.Scan(&idem, &req); err != nil {
					t.Fatal(err)
				}
				n++
				if !hexDigest.MatchString(idem) || !hexDigest.MatchString(req) || unkeyed[req] || idem == "walkthrough-1" {
					t.Fatalf("stored idempotency_hash %q, request_hash %q: want keyed hex digests", idem, req)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Fatalf("transfers: %d, want 2", n)
			}
		})
	}
}
