package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// identityRoutes: Patients to the EHR and Stripe, Appointments to the EHR,
// Invoices to Stripe, and the vendors' ids written back at the EHR.
const identityRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  payments:
    type: stripe
    config: {base_url: %[2]q, api_key_env: STRIPE_KEY_FOR_TEST}
routes:
  - {resource: Patient, to: [ehr, payments]}
  - {resource: Appointment, to: [ehr]}
  - {resource: Invoice, interactions: [create], to: [payments]}
identity: {record_at: ehr}
`

// recorder is a reverse proxy in front of a vendor mock that keeps each
// request's method, path and form body: what the vendor received.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method, Path string
	Form         url.Values
}

func recordingProxy(t *testing.T, target string) (*httptest.Server, *recorder) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, form})
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// TestIdentityAcrossVendors: one transaction Bundle whose entries come in
// the "wrong" order (the Appointment and the Invoice before the Patient
// they name, by urn:uuid) reaches each vendor with references to that
// vendor's own ids; Stripe's customer id is written back to the EHR's
// Patient; a client's later update that omits that identifier keeps it at
// the EHR and updates the same Stripe customer; a later Invoice naming
// Patient/{id} bills that customer.
func TestIdentityAcrossVendors(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			proxy, stripe := recordingProxy(t, testenv.StripeMock(t))
			h := startWithStripe(t, dialect, identityRoutes, proxy.URL)

			const mrn = "MRN-ID-1"
			bundle := `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:0a0a0a0a-0000-4000-8000-00000000000a","resource":{"resourceType":"Appointment","status":"booked",
   "start":"2026-12-01T10:00:00Z","end":"2026-12-01T10:30:00Z",
   "participant":[{"actor":{"reference":"urn:uuid:0b0b0b0b-0000-4000-8000-00000000000b"},"status":"accepted"}]},
  "request":{"method":"POST","url":"Appointment"}},
 {"fullUrl":"urn:uuid:0c0c0c0c-0000-4000-8000-00000000000c","resource":{"resourceType":"Invoice","status":"issued",
   "subject":{"reference":"urn:uuid:0b0b0b0b-0000-4000-8000-00000000000b"},
   "lineItem":[{"sequence":1,"chargeItemCodeableConcept":{"text":"Therapy session"},
     "priceComponent":[{"type":"base","amount":{"value":120,"currency":"USD"}}]}]},
  "request":{"method":"POST","url":"Invoice"}},
 {"fullUrl":"urn:uuid:0b0b0b0b-0000-4000-8000-00000000000b","resource":{"resourceType":"Patient",
   "identifier":[{"system":"https://clinic.example/mrn","value":"` + mrn + `"}],
   "name":[{"family":"Zzidentity","given":["Ada"]}],"telecom":[{"system":"email","value":"ada@example.org"}]},
  "request":{"method":"POST","url":"Patient"}}]}`
			r := h.post("/fhir/R4", bundle)
			if r.status != http.StatusAccepted {
				t.Fatalf("bundle: %d %s", r.status, r.body)
			}
			st := h.waitFor(r.header.Get("Content-Location"), 20*time.Second)
			if st.State != "delivered" {
				t.Fatalf("bundle transfer %s: %+v", st.State, st.Deliveries)
			}

			// The EHR's Appointment names the EHR's own Patient id.
			patients := h.ehrSearch("Patient?identifier=https://clinic.example/mrn|" + mrn)
			if len(patients) != 1 {
				t.Fatalf("EHR has %d patients with the MRN", len(patients))
			}
			pid := patients[0]["id"].(string)
			appts := h.ehrSearch("Appointment")
			if len(appts) != 1 {
				t.Fatalf("EHR has %d appointments", len(appts))
			}
			if ref := appts[0]["participant"].([]any)[0].(map[string]any)["actor"].(map[string]any)["reference"]; ref != "Patient/"+pid {
				t.Fatalf("EHR appointment refers to %v, want Patient/%s", ref, pid)
			}

			// Stripe: one customer, then the invoice item and invoice for that customer.
			calls := stripe.take()
			var cus string
			var paths []string
			for _, c := range calls {
				paths = append(paths, c.Method+" "+c.Path)
				if c.Path == "/v1/invoiceitems" {
					cus = c.Form.Get("customer")
				}
			}
			if strings.Join(paths, ",") != "POST /v1/customers,POST /v1/invoiceitems,POST /v1/invoices" || cus == "" {
				t.Fatalf("Stripe received %v (invoice item customer %q)", paths, cus)
			}

			// The customer id is written back at the EHR.
			stripeID := h.waitIdentifier(pid, "https://switchboard.health/id/stripe-customer", 10*time.Second)
			if stripeID != cus {
				t.Fatalf("EHR identifier %q, Stripe was billed for %q", stripeID, cus)
			}

			// A client's update without the identifier: same customer at
			// Stripe, identifier kept at the EHR.
			r = h.do(http.MethodPut, "/fhir/R4/Patient/"+pid, "application/fhir+json", `{"resourceType":"Patient","id":"`+pid+`",
  "identifier":[{"system":"https://clinic.example/mrn","value":"`+mrn+`"}],
  "name":[{"family":"Zzidentity","given":["Ada","Maria"]}],"telecom":[{"system":"email","value":"ada@example.org"}]}`)
			if r.status != http.StatusAccepted {
				t.Fatalf("update: %d %s", r.status, r.body)
			}
			if st := h.waitFor(r.header.Get("Content-Location"), 20*time.Second); st.State != "delivered" {
				t.Fatalf("update transfer %s: %+v", st.State, st.Deliveries)
			}
			calls = stripe.take()
			if len(calls) != 1 || calls[0].Path != "/v1/customers/"+cus {
				t.Fatalf("the update reached Stripe as %+v, want one POST /v1/customers/%s", calls, cus)
			}
			if got := h.waitIdentifier(pid, "https://switchboard.health/id/stripe-customer", time.Second); got != cus {
				t.Fatalf("after the update the EHR holds Stripe identifier %q, want %q", got, cus)
			}

			// A later Invoice naming Patient/{id}: the customer comes from the EHR.
			r = h.post("/fhir/R4/Invoice", `{"resourceType":"Invoice","status":"issued","subject":{"reference":"Patient/`+pid+`"},
  "lineItem":[{"sequence":1,"chargeItemCodeableConcept":{"text":"Follow-up"},"priceComponent":[{"type":"base","amount":{"value":60,"currency":"USD"}}]}]}`)
			if r.status != http.StatusAccepted {
				t.Fatalf("invoice: %d %s", r.status, r.body)
			}
			if st := h.waitFor(r.header.Get("Content-Location"), 20*time.Second); st.State != "delivered" {
				t.Fatalf("invoice transfer %s: %+v", st.State, st.Deliveries)
			}
			calls = stripe.take()
			if len(calls) != 2 || calls[0].Form.Get("customer") != cus {
				t.Fatalf("the later invoice reached Stripe as %+v, want items for %s", calls, cus)
			}
			if l := h.ehrLog(); l.DuplicateEffects != 0 {
				t.Fatalf("EHR duplicate effects: %d", l.DuplicateEffects)
			}
		})
	}
}

// ehrSearch runs a search at the EHR sandbox and returns the resources.
func (h *harness) ehrSearch(query string) []map[string]any {
	h.t.Helper()
	path, q, _ := strings.Cut(query, "?")
	u := h.ehr.URL + "/fhir/R4/" + path
	if q != "" {
		vals, err := url.ParseQuery(q)
		if err != nil {
			h.t.Fatal(err)
		}
		u += "?" + vals.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		Entry []struct {
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		h.t.Fatal(err)
	}
	out := make([]map[string]any, 0, len(b.Entry))
	for _, e := range b.Entry {
		out = append(out, e.Resource)
	}
	return out
}

// waitIdentifier polls the EHR's Patient/{id} for an identifier of system.
func (h *harness) waitIdentifier(id, system string, timeout time.Duration) string {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(h.ehr.URL + "/fhir/R4/Patient/" + id)
		if err != nil {
			h.t.Fatal(err)
		}
		var p struct {
			Identifier []struct{ System, Value string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		for _, i := range p.Identifier {
			if i.System == system {
				return i.Value
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("Patient/%s has no %s identifier after %s", id, system, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
