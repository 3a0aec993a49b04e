package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const patient = `{
  "resourceType": "Patient",
  "id": "example",
  "identifier": [{"use": "usual", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
  "active": true,
  "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
  "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work"}, {"system": "email", "value": "peter@example.org"}],
  "gender": "male",
  "birthDate": "1974-12-25",
  "address": [{"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille", "state": "Vic", "postalCode": "3999", "country": "AU"}]
}`

func TestPatientIsDeliveredToEHRAndStripe(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			h := start(t, d)
			r := h.post("/fhir/R4/Patient", patient)
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			loc := r.header.Get("Content-Location")
			if !strings.HasPrefix(loc, "/transfers/tr_") {
				t.Fatalf("Content-Location %q", loc)
			}
			st := h.waitFor(loc, 10*time.Second)
			if st.State != "delivered" || len(st.Deliveries) != 2 {
				t.Fatalf("transfer: %+v", st)
			}
			// The status reads a completed job as delivered at once; the
			// try's details (attempts, status) follow with the outcome batch.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				recorded := true
				for _, dl := range st.Deliveries {
					recorded = recorded && dl.Attempts > 0
				}
				if recorded {
					break
				}
				st = h.waitFor(loc, time.Second)
			}
			for _, dl := range st.Deliveries {
				if dl.State != "delivered" || dl.Attempts != 1 || dl.LastHTTPStatus == nil || *dl.LastHTTPStatus >= 300 {
					t.Errorf("%s: %+v", dl.Destination, dl)
				}
			}
			l := h.ehrLog()
			created := 0
			for _, rq := range l.Requests {
				if rq.Effect == "created" && strings.HasSuffix(rq.Path, "/Patient") {
					created++
				}
			}
			if created != 1 || l.DuplicateEffects != 0 {
				t.Fatalf("EHR sandbox: %d created, %d duplicate effects", created, l.DuplicateEffects)
			}
		})
	}
}

func TestIdempotencyKeyReturnsTheSameTransfer(t *testing.T) {
	h := start(t, dialectSQLite)
	first := h.post("/fhir/R4/Patient", patient, "Idempotency-Key", "abc-1")
	second := h.post("/fhir/R4/Patient", patient, "Idempotency-Key", "abc-1")
	if first.status != 202 || second.status != 202 {
		t.Fatalf("statuses %d %d", first.status, second.status)
	}
	if a, b := first.header.Get("Content-Location"), second.header.Get("Content-Location"); a != b {
		t.Fatalf("different transfers: %s %s", a, b)
	}
	if second.header.Get("Idempotent-Replayed") != "true" {
		t.Error("replay not marked")
	}
	h.waitFor(first.header.Get("Content-Location"), 10*time.Second)
	other := h.post("/fhir/R4/Patient", strings.Replace(patient, "Chalmers", "Other", 1), "Idempotency-Key", "abc-1")
	if other.status != http.StatusUnprocessableEntity || !strings.Contains(string(other.body), "conflict") {
		t.Fatalf("key reuse with another body: %d %s", other.status, other.body)
	}
	time.Sleep(300 * time.Millisecond) // a second delivery, if one had been queued, would land by now
	if n := len(h.ehrLog().Requests); n != 1 {
		t.Fatalf("EHR received %d requests, want 1", n)
	}
}

func TestRetryableFailuresAreRetriedAndDeliveredOnce(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			h := start(t, d)
			// More failures than the outbound client retries within one try,
			// so River must schedule a second attempt.
			h.ehrFaults(`{"fail_next": 4, "fail_status": 503}`)
			r := h.post("/fhir/R4/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50,"unit":"kg"}}`)
			if r.status != 202 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			st := h.waitFor(r.header.Get("Content-Location"), 15*time.Second)
			if st.State != "delivered" || st.Deliveries[0].Attempts < 2 {
				t.Fatalf("want delivered after a retry: %+v", st.Deliveries)
			}
			if l := h.ehrLog(); l.DuplicateEffects != 0 || l.Effects != 1 {
				t.Fatalf("EHR effects %d, duplicates %d", l.Effects, l.DuplicateEffects)
			}
		})
	}
}

func TestPermanentFailureBecomesAFailedSync(t *testing.T) {
	h := start(t, dialectPostgres)
	h.ehrFaults(`{"reject_next": 1}`)
	r := h.post("/fhir/R4/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`)
	st := h.waitFor(r.header.Get("Content-Location"), 10*time.Second)
	dl := st.Deliveries[0]
	if st.State != "failed" || dl.State != "failed" || dl.ErrorClass != "permanent" || dl.LastHTTPStatus == nil || *dl.LastHTTPStatus != 400 || dl.Attempts != 1 {
		t.Fatalf("want a permanent failure after one attempt: %+v", dl)
	}
}

func TestMetadataListsRoutedTypes(t *testing.T) {
	h := start(t, dialectSQLite)
	r := h.do(http.MethodGet, "/fhir/R4/metadata", "", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"CapabilityStatement"`) ||
		!strings.Contains(string(r.body), `"type":"Appointment"`) || !strings.Contains(string(r.body), `"type":"Patient"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if v := h.do(http.MethodGet, "/readyz", "", ""); v.status != 200 {
		t.Fatalf("readyz %d %s", v.status, v.body)
	}
}
