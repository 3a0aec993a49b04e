package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/cmd/vendorsim/candidsim"
	"github.com/switchboard-health/switchboard/cmd/vendorsim/hubsim"
	"github.com/switchboard-health/switchboard/cmd/vendorsim/simlog"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// fiveVendorRoutes is deploy/local/switchboard.yaml's routing with the
// sandboxes' URLs: %[1]s EHR, %[2]s Stripe; the others are replaced below.
const fiveVendorRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  payments:
    type: stripe
    config: {base_url: %[2]q, api_key_env: STRIPE_KEY_FOR_TEST}
  scheduling:
    type: calcom
    config: {base_url: "{{CALCOM}}", api_key_env: VENDOR_KEY_FOR_TEST, event_type_id: 1001, time_zone: America/New_York, slot_minutes: 30}
  billing:
    type: candid
    config: {base_url: "{{CANDID}}", client_id_env: VENDOR_KEY_FOR_TEST, client_secret_env: VENDOR_KEY_FOR_TEST,
      billing_npi: "1234567893", billing_tax_id: "987654321", billing_organization_name: Example Telehealth Group,
      billing_address1: 500 Billing St, billing_city: Springfield, billing_state: IL, billing_zip: "62704",
      billing_zip_plus_four: "1000", place_of_service_code: "02"}
  marketing:
    type: hubspot
    projection: contact
    requires_consent: {purpose: HMARKT, from: ehr}
    config: {base_url: "{{HUBSPOT}}", token_env: VENDOR_KEY_FOR_TEST}
routes:
  - {resource: Patient, to: [ehr, payments, marketing]}
  - {resource: Appointment, to: [ehr, scheduling]}
  - {resource: Encounter, to: [ehr]}
  - {resource: Claim, interactions: [create], to: [billing]}
  - {resource: Coverage, to: [ehr]}
  - {resource: Consent, to: [ehr]}
  - {resource: Invoice, interactions: [create], to: [payments]}
identity: {record_at: ehr}
`

// The README walkthrough's transaction (testdata/walkthrough/transaction.json):
// a new patient with her marketing consent, an appointment, the encounter,
// its claim and coverage, and the invoice. The Patient carries clinical
// content that must reach the EHR only (the canaries Zz…).
func fanoutBundle(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "walkthrough", "transaction.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTransactionFansOutToFiveVendors: one transaction Bundle reaches the
// five vendors' sandboxes, each with exactly what its route and projection
// allow, referring to its own ids; a second update of the Patient reaches
// the same records at Stripe and HubSpot through the identifiers written
// back to the EHR; a patient without marketing consent never reaches
// HubSpot.
func TestTransactionFansOutToFiveVendors(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			cal := calsim.New(calsim.Options{})
			candid := candidsim.New(candidsim.Options{})
			hub := hubsim.New(hubsim.Options{})
			calSrv, candidSrv, hubSrv := httptest.NewServer(cal), httptest.NewServer(candid), httptest.NewServer(hub)
			t.Cleanup(calSrv.Close)
			t.Cleanup(candidSrv.Close)
			t.Cleanup(hubSrv.Close)
			proxy, stripe := recordingProxy(t, testenv.StripeMock(t))
			routes := strings.NewReplacer("{{CALCOM}}", calSrv.URL, "{{CANDID}}", candidSrv.URL, "{{HUBSPOT}}", hubSrv.URL).Replace(fiveVendorRoutes)
			h := startWithStripe(t, dialect, routes, proxy.URL)

			r := h.post("/fhir/R4", fanoutBundle(t))
			if r.status != http.StatusAccepted {
				t.Fatalf("bundle: %d %s", r.status, r.body)
			}
			st := h.waitFor(r.header.Get("Content-Location"), 30*time.Second)
			if st.State != "delivered" {
				t.Fatalf("transfer %s: %+v\n%s", st.State, st.Deliveries, grepLines(h.logs.String(), "permanent"))
			}
			counts := map[string]int{}
			for _, d := range st.Deliveries {
				if d.State != "delivered" {
					t.Fatalf("delivery %+v", d)
				}
				counts[d.Destination]++
			}
			if want := map[string]int{"ehr": 5, "payments": 2, "scheduling": 1, "billing": 1, "marketing": 1}; !equalCounts(counts, want) {
				t.Fatalf("deliveries per destination %v, want %v", counts, want)
			}

			// EHR: five resources, every reference to its own ids, no urn:uuid.
			patients := h.ehrSearch("Patient?identifier=https://clinic.example/mrn|MRN-FAN-1")
			if len(patients) != 1 {
				t.Fatalf("EHR patients: %d", len(patients))
			}
			pid := patients[0]["id"].(string)
			for _, typ := range []string{"Consent", "Appointment", "Encounter", "Coverage"} {
				res := h.ehrSearch(typ)
				if len(res) != 1 {
					t.Fatalf("EHR has %d %s", len(res), typ)
				}
				b, _ := json.Marshal(res[0])
				if strings.Contains(string(b), "urn:uuid") || !strings.Contains(string(b), `"Patient/`+pid+`"`) {
					t.Fatalf("EHR %s does not refer to Patient/%s only by its own id: %s", typ, pid, b)
				}
			}
			if appt := h.ehrSearch("Appointment")[0]["id"].(string); !strings.Contains(mustJSON(h.ehrSearch("Encounter")[0]), `"Appointment/`+appt+`"`) {
				t.Fatal("the EHR's Encounter does not refer to the EHR's Appointment")
			}

			// Stripe: the customer, then the invoice item and the invoice for it.
			calls := stripe.take()
			var paths []string
			var cus string
			for _, c := range calls {
				paths = append(paths, c.Method+" "+c.Path)
				if c.Path == "/v1/invoiceitems" {
					cus = c.Form.Get("customer")
				}
				for k, v := range c.Form {
					if j := strings.Join(v, ""); strings.Contains(j, "Zzpostpartum") || strings.Contains(j, "urn:uuid") || strings.Contains(j, "1991-07-12") {
						t.Fatalf("Stripe received clinical content or a urn:uuid in %s", k)
					}
				}
			}
			if strings.Join(paths, ",") != "POST /v1/customers,POST /v1/invoiceitems,POST /v1/invoices" || cus == "" {
				t.Fatalf("Stripe received %v", paths)
			}

			// Cal.com: one booking for the patient, no clinical text.
			bookings := cal.Received()
			if len(bookings) != 1 || bookings[0].Path != "/v2/bookings" || bookings[0].Effect != "created" {
				t.Fatalf("Cal.com received %+v", summarize(bookings))
			}
			if raw := string(bookings[0].Raw); !strings.Contains(raw, "maya.fanout@example.org") || strings.Contains(raw, "Zzappointmentnote") ||
				strings.Contains(raw, "Zzpostpartum") || strings.Contains(raw, "urn:uuid") {
				t.Fatalf("Cal.com booking body: %s", raw)
			}

			// Candid: one encounter with the diagnosis and the service line.
			claims := candid.Received()
			var enc []simlog.Received
			for _, c := range claims {
				if strings.Contains(c.Path, "/encounters") {
					enc = append(enc, c)
				}
			}
			if len(enc) != 1 || enc[0].Effect != "created" {
				t.Fatalf("Candid received %d encounter writes", len(enc))
			}
			if raw := string(enc[0].Raw); !strings.Contains(raw, "F530") && !strings.Contains(raw, "F53.0") || !strings.Contains(raw, "90834") ||
				strings.Contains(raw, "Zzpostpartum") || strings.Contains(raw, "urn:uuid") {
				t.Fatalf("Candid encounter body: %s", raw)
			}

			// HubSpot: one contact with contact fields only.
			contacts := hub.Received()
			if len(contacts) != 1 || contacts[0].Effect != "created" {
				t.Fatalf("HubSpot received %+v", summarize(contacts))
			}
			raw := string(contacts[0].Raw)
			for _, forbidden := range []string{"1991", "Zzstreet", "Zzpostpartum", "MRN-FAN-1", "62701", "female"} {
				if strings.Contains(raw, forbidden) {
					t.Fatalf("HubSpot received %q: %s", forbidden, raw)
				}
			}
			if !strings.Contains(raw, "maya.fanout@example.org") {
				t.Fatalf("HubSpot contact without the email: %s", raw)
			}

			// The vendors' ids are written back at the EHR.
			if got := h.waitIdentifier(pid, "https://switchboard.health/id/stripe-customer", 10*time.Second); got != cus {
				t.Fatalf("EHR Stripe identifier %q, billed %q", got, cus)
			}
			contactID := h.waitIdentifier(pid, "https://switchboard.health/id/hubspot-contact", 10*time.Second)
			if contactID != contacts[0].ID {
				t.Fatalf("EHR HubSpot identifier %q, contact %q", contactID, contacts[0].ID)
			}

			// A second update of the Patient (without the identifiers):
			// the same Stripe customer and HubSpot contact.
			r = h.do(http.MethodPut, "/fhir/R4/Patient/"+pid, "application/fhir+json", `{"resourceType":"Patient","id":"`+pid+`",
  "identifier":[{"system":"https://clinic.example/mrn","value":"MRN-FAN-1"}],"name":[{"family":"Zzfanout","given":["Maya","R"]}],
  "telecom":[{"system":"email","value":"maya.fanout@example.org"},{"system":"phone","value":"+1 555 0199"}]}`)
			if r.status != http.StatusAccepted {
				t.Fatalf("update: %d %s", r.status, r.body)
			}
			if st := h.waitFor(r.header.Get("Content-Location"), 20*time.Second); st.State != "delivered" {
				t.Fatalf("update transfer %s: %+v", st.State, st.Deliveries)
			}
			if calls := stripe.take(); len(calls) != 1 || calls[0].Path != "/v1/customers/"+cus {
				t.Fatalf("the update reached Stripe as %+v", calls)
			}
			contacts = hub.Received()
			if len(contacts) != 2 || contacts[1].ID != contactID || contacts[1].Effect == "created" {
				t.Fatalf("the update reached HubSpot as %+v", summarize(contacts))
			}
			if l := hub.Log(); l.Effects != 2 {
				t.Fatalf("HubSpot effects %d, want 2 (create, update)", l.Effects)
			}

			// A patient without consent: HubSpot receives nothing.
			r = h.post("/fhir/R4/Patient", `{"resourceType":"Patient","identifier":[{"system":"https://clinic.example/mrn","value":"MRN-FAN-2"}],
  "name":[{"family":"Zznoconsent"}],"telecom":[{"system":"email","value":"no.consent@example.org"}]}`)
			st = h.waitFor(r.header.Get("Content-Location"), 20*time.Second)
			for _, d := range st.Deliveries {
				if d.Destination == "marketing" && (d.State != "skipped" || d.ErrorCode != "no_consent") {
					t.Fatalf("marketing delivery without consent: %+v", d)
				}
			}
			if n := len(hub.Received()); n != 2 {
				t.Fatalf("HubSpot received %d writes, want still 2", n)
			}
			for _, l := range []struct {
				name string
				dup  int
			}{{"ehr", h.ehrLog().DuplicateEffects}, {"calcom", cal.Log().DuplicateEffects}, {"candid", candid.Log().DuplicateEffects}, {"hubspot", hub.Log().DuplicateEffects}} {
				if l.dup != 0 {
					t.Fatalf("%s duplicate effects: %d", l.name, l.dup)
				}
			}
			t.Logf("ran: EHR 5 resources, Stripe %v, Cal.com 1 booking, Candid 1 encounter, HubSpot 1 contact + 1 update, 1 skipped without consent", paths)
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// summarize lists what a sandbox received without bodies.
func summarize(rs []simlog.Received) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Method+" "+r.Path+" "+string(r.Effect)+" "+r.ID)
	}
	return out
}

// grepLines keeps the log lines containing s (the hub's logs hold no PHI).
func grepLines(logs, s string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
