package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

// strictCases are FHIR JSON that main answered 202 and every inbound path
// must now refuse, with the element each OperationOutcome names.
var strictCases = []struct{ name, body, expr string }{
	{"empty array", `{"resourceType":"Patient","name":[]}`, "Patient.name"},
	{"empty object", `{"resourceType":"Patient","name":[{}]}`, "Patient.name[0]"},
	{"empty address", `{"resourceType":"Patient","address":[{}]}`, "Patient.address[0]"},
	{"empty primitive extension", `{"resourceType":"Patient","birthDate":"1970-01-01","_birthDate":{"extension":[]}}`, "Patient._birthDate.extension"},
	{"null", `{"resourceType":"Patient","gender":null}`, "Patient.gender"},
	{"whitespace-only string", `{"resourceType":"Patient","name":[{"family":"   "}]}`, "Patient.name[0].family"},
	{"duplicate key", `{"resourceType":"Patient","gender":"male","gender":"female"}`, "Patient.gender"},
	{"unpaired surrogate", `{"resourceType":"Patient","name":[{"family":"\udc00"}]}`, "Patient.name[0].family"},
	{"unknown element", `{"resourceType":"Patient","ECHOMARKQZX":1}`, "Patient"},
}

// TestStrictFHIRJSONThroughTheHub: through the real HTTP stack, each of
// strictCases is a 400 naming its element, plain and gzipped; charsets and
// encodings the hub does not take are 415; a gzip body inflating past the
// limit is 413; nothing reaches the EHR.
func TestStrictFHIRJSONThroughTheHub(t *testing.T) {
	h := start(t, dialectSQLite)
	gz := func(b string) string {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(b))
		_ = zw.Close()
		return buf.String()
	}
	firstIssue := func(t *testing.T, r response) (code, expr, diag string) {
		t.Helper()
		var oo struct {
			ResourceType string `json:"resourceType"`
			Issue        []struct {
				Code        string   `json:"code"`
				Diagnostics string   `json:"diagnostics"`
				Expression  []string `json:"expression"`
			} `json:"issue"`
		}
		if err := json.Unmarshal(r.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
			t.Fatalf("not an OperationOutcome: %s", r.body)
		}
		if len(oo.Issue[0].Expression) > 0 {
			expr = oo.Issue[0].Expression[0]
		}
		return oo.Issue[0].Code, expr, oo.Issue[0].Diagnostics
	}
	for _, c := range strictCases {
		for _, enc := range []string{"", "gzip"} {
			t.Run(c.name+" "+enc, func(t *testing.T) {
				body := c.body
				if enc == "gzip" {
					body = gz(body)
				}
				r := h.post("/fhir/R4/Patient", body, "Content-Encoding", enc)
				if r.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				if _, expr, _ := firstIssue(t, r); expr != c.expr {
					t.Errorf("expression %q, want %q: %s", expr, c.expr, r.body)
				}
				if strings.Contains(string(r.body), "ECHOMARKQZX") {
					t.Errorf("the answer echoes the body: %s", r.body)
				}
			})
		}
	}
	u := "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
	entry := `{"fullUrl":"` + u + `","resource":{"resourceType":"Patient","active":true},"request":{"method":"POST","url":"Patient"}}`
	r := h.post("/fhir/R4", `{"resourceType":"Bundle","type":"transaction","entry":[`+entry+`,`+entry+`]}`)
	if _, expr, _ := firstIssue(t, r); r.status != http.StatusBadRequest || expr != "Bundle.entry[1].fullUrl" {
		t.Errorf("a transaction with one fullUrl twice: %d at %q: %s", r.status, expr, r.body)
	}

	patient := `{"resourceType":"Patient","name":[{"family":"Strict"}]}`
	for _, c := range []struct {
		name, body string
		header     []string
		status     int
		diag       string
	}{
		{"latin-1", patient, []string{"Content-Type", "application/fhir+json; charset=iso-8859-1"}, 415, "UTF-8"},
		{"brotli", patient, []string{"Content-Encoding", "br"}, 415, "gzip"},
		{"gzip over the limit once decoded", gz(`{"resourceType":"Patient","active":true` + strings.Repeat(" ", 2<<20) + `}`), []string{"Content-Encoding", "gzip"}, 413, "limit"},
	} {
		r := h.post("/fhir/R4/Patient", c.body, c.header...)
		if _, _, diag := firstIssue(t, r); r.status != c.status || !strings.Contains(diag, c.diag) {
			t.Errorf("%s: %d %q, want %d holding %q", c.name, r.status, diag, c.status, c.diag)
		}
	}
	if n := len(h.ehrLog().Requests); n != 0 {
		t.Fatalf("refused input reached the EHR: %d requests", n)
	}
	r = h.post("/fhir/R4/Patient", gz(patient), "Content-Encoding", "gzip")
	if r.status != http.StatusAccepted {
		t.Fatalf("a gzipped valid Patient: %d %s", r.status, r.body)
	}
	if st := h.waitFor(r.header.Get("Content-Location"), 10*time.Second); st.State != "delivered" {
		t.Errorf("the gzipped Patient: %+v", st)
	}
}

// TestPolledResourcesMeetTheStrictRules: what the poller reads from the
// EHR is validated as a client's write is (hub/inbound): each of
// strictCases sitting at the EHR is counted invalid and routed nowhere,
// while a valid change beside them is routed.
func TestPolledResourcesMeetTheStrictRules(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			h := startWith(t, dialect, pollRoutes)
			waitCount(t, func() int { return h.pollRows(t) }, 1, 10*time.Second)
			canary := fmt.Sprintf("Zqxstrict%08d", rand.IntN(1e8))
			bodies := []string{fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"%s"}]}`, canary)}
			for _, c := range strictCases {
				if c.name == "duplicate key" || c.name == "unpaired surrogate" {
					continue // the EHR sandbox re-encodes JSON, which loses both
				}
				bodies = append(bodies, c.body)
			}
			for _, b := range bodies {
				resp, err := http.Post(h.ehr.URL+"/fhir/R4/Patient", "application/fhir+json", strings.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("create at the EHR: %d", resp.StatusCode)
				}
			}
			// The poll's overlap re-reads the last seconds: an invalid change,
			// never remembered, may be counted again, hence "at least".
			invalid := len(bodies) - 1
			deadline := time.Now().Add(20 * time.Second)
			for h.pollCounts(t)["invalid"] < invalid && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			waitCount(t, func() int { return len(sandboxWrites(t, h.marketing.URL)) }, 1, 20*time.Second)
			sum := h.pollCounts(t)
			if sum["invalid"] < invalid || sum["routed"] != 1 {
				t.Fatalf("poll counts %v: want at least %d invalid and 1 routed", sum, invalid)
			}
			if n := len(sandboxWrites(t, h.marketing.URL)); n != 1 {
				t.Fatalf("the mirror received %d records, want the valid one only", n)
			}
		})
	}
}
