package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/validation"
)

// strictAPI serves the API with the real validator.
func strictAPI(t *testing.T, edit func(*Server)) string {
	t.Helper()
	v, err := validation.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := testAPI(t, func(s *Server) {
		s.Validator = v
		if edit != nil {
			edit(s)
		}
	})
	return srv.URL
}

// send makes one request as the app; header holds name, value pairs.
func send(t *testing.T, method, u string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer app")
	req.Header.Set("Content-Type", "application/fhir+json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type operationOutcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Code        string   `json:"code"`
		Diagnostics string   `json:"diagnostics"`
		Expression  []string `json:"expression"`
	} `json:"issue"`
}

func readOutcome(t *testing.T, b []byte) operationOutcome {
	t.Helper()
	var oo operationOutcome
	if err := json.Unmarshal(b, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("not an OperationOutcome: %s", b)
	}
	return oo
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStrictFHIRJSONOverHTTP: what main answered 202 to is a 400 naming the
// element, on creates, updates and Bundles alike (issue 13 §2).
func TestStrictFHIRJSONOverHTTP(t *testing.T) {
	base := strictAPI(t, nil)
	bundle := func(typ, entries string) string {
		return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + entries + `]}`
	}
	entry := func(fullURL, resource string) string {
		return `{"fullUrl":"` + fullURL + `","resource":` + resource + `,"request":{"method":"POST","url":"Patient"}}`
	}
	const u1 = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
	cases := []struct {
		name, method, path, body string
		code, expr, diag         string
	}{
		{"empty array", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[]}`, "structure", "Patient.name", "empty array"},
		{"empty object", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[{}]}`, "structure", "Patient.name[0]", "empty object"},
		{"empty address", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","address":[{}]}`, "structure", "Patient.address[0]", "empty object"},
		{"empty extension list", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","birthDate":"1970","_birthDate":{"extension":[]}}`, "structure", "Patient._birthDate.extension", "empty array"},
		{"null", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","gender":null}`, "structure", "Patient.gender", "null"},
		{"unpaired null in a primitive array", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"given":["a",null]}]}`, "structure", "Patient.name[0].given[1]", "null"},
		{"whitespace-only string", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"   "}]}`, "value", "Patient.name[0].family", "whitespace-only"},
		{"duplicate key", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","gender":"male","gender":"female"}`, "structure", "Patient.gender", "duplicate key at line 1"},
		{"unpaired surrogate", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"\udc00"}]}`, "value", "Patient.name[0].family", "surrogate"},
		{"unknown element names its parent", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","ECHOMARKQZX":1}`, "structure", "Patient", "unknown element"},
		{"update with an empty object", "PUT", "/fhir/R4/Patient/p1", `{"resourceType":"Patient","id":"p1","maritalStatus":{}}`, "structure", "Patient.maritalStatus", "empty object"},
		{"update with a null", "PUT", "/fhir/R4/Patient/p1", `{"resourceType":"Patient","id":"p1","active":null}`, "structure", "Patient.active", "null"},
		{"bundle entry null", "POST", "/fhir/R4", bundle("batch", entry(u1, `{"resourceType":"Patient","gender":null}`)), "structure", "Bundle.entry[0].resource.gender", "null"},
		{"bundle entry whitespace", "POST", "/fhir/R4", bundle("transaction", entry(u1, `{"resourceType":"Patient","name":[{"family":" "}]}`)), "value", "Bundle.entry[0].resource.name[0].family", "whitespace-only"},
		{"transaction fullUrl twice", "POST", "/fhir/R4", bundle("transaction", entry(u1, `{"resourceType":"Patient","active":true}`)+","+entry(u1, `{"resourceType":"Patient","active":false}`)),
			"invalid", "Bundle.entry[1].fullUrl", "same fullUrl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := send(t, c.method, base+c.path, []byte(c.body))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, b)
			}
			first := readOutcome(t, b).Issue[0]
			if first.Code != c.code || len(first.Expression) != 1 || first.Expression[0] != c.expr || !strings.Contains(first.Diagnostics, c.diag) {
				t.Errorf("got %s at %v (%q), want %s at %s (%q)", first.Code, first.Expression, first.Diagnostics, c.code, c.expr, c.diag)
			}
			if strings.Contains(string(b), "ECHOMARKQZX") {
				t.Errorf("the answer echoes the body: %s", b)
			}
		})
	}
	// The same rules leave valid FHIR alone: a null placeholder paired with
	// its _given sibling, and Bundle entries with distinct fullUrls.
	for _, body := range []string{
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://x.org/e","valueString":"v"}]}]}]}`,
	} {
		if resp, b := send(t, "POST", base+"/fhir/R4/Patient", []byte(body)); resp.StatusCode != http.StatusAccepted {
			t.Errorf("valid Patient: %d %s", resp.StatusCode, b)
		}
	}
	ok := bundle("transaction", entry(u1, `{"resourceType":"Patient","active":true}`)+","+entry("urn:uuid:0f6d8d1e-1b3a-4c5e-8f9a-0a1b2c3d4e5f", `{"resourceType":"Patient","active":false}`))
	if resp, b := send(t, "POST", base+"/fhir/R4", []byte(ok)); resp.StatusCode != http.StatusAccepted {
		t.Errorf("valid transaction: %d %s", resp.StatusCode, b)
	}
}

// TestBodyEncodings: only UTF-8 is taken, gzip is decoded within the body
// limit, and any other Content-Encoding is a 415 naming what the hub takes.
func TestBodyEncodings(t *testing.T) {
	const limit = 4096
	base := strictAPI(t, func(s *Server) { s.MaxBodyBytes = limit })
	patient := []byte(`{"resourceType":"Patient","active":true}`)
	// Valid JSON over the limit once decoded, a few hundred bytes gzipped.
	bomb := []byte(`{"resourceType":"Patient","active":true` + strings.Repeat(" ", 4*limit) + `}`)
	cases := []struct {
		name   string
		body   []byte
		header []string
		status int
		diag   string
	}{
		{"utf-8", patient, []string{"Content-Type", "application/fhir+json; charset=utf-8"}, 202, ""},
		{"UTF-8 in capitals", patient, []string{"Content-Type", "application/fhir+json; charset=UTF-8"}, 202, ""},
		{"latin-1", patient, []string{"Content-Type", "application/fhir+json; charset=ISO-8859-1"}, 415, "charset must be UTF-8"},
		{"utf-16", patient, []string{"Content-Type", "application/json; charset=utf-16"}, 415, "charset must be UTF-8"},
		{"identity", patient, []string{"Content-Encoding", "identity"}, 202, ""},
		{"gzip", gzipped(t, patient), []string{"Content-Encoding", "gzip"}, 202, ""},
		{"gzip decoding to the limit exactly", gzipped(t, append(bytes.Clone(patient[:len(patient)-1]), append(bytes.Repeat([]byte(" "), limit-len(patient)), '}')...)), []string{"Content-Encoding", "gzip"}, 202, ""},
		{"gzip decoding over the limit", gzipped(t, bomb), []string{"Content-Encoding", "gzip"}, 413, "limit of 4096 bytes"},
		{"not gzip", patient, []string{"Content-Encoding", "gzip"}, 400, "not valid gzip"},
		{"truncated gzip", gzipped(t, patient)[:20], []string{"Content-Encoding", "gzip"}, 400, "not valid gzip"},
		{"gzip of invalid FHIR", gzipped(t, []byte(`{"resourceType":"Patient","name":[]}`)), []string{"Content-Encoding", "gzip"}, 400, "empty array"},
		{"br", patient, []string{"Content-Encoding", "br"}, 415, "the hub decodes gzip"},
		{"deflate", patient, []string{"Content-Encoding", "deflate"}, 415, "the hub decodes gzip"},
		{"gzip twice", gzipped(t, gzipped(t, patient)), []string{"Content-Encoding", "gzip, gzip"}, 415, "the hub decodes gzip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := send(t, "POST", base+"/fhir/R4/Patient", c.body, c.header...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			oo := readOutcome(t, b)
			if c.diag != "" && !strings.Contains(oo.Issue[0].Diagnostics, c.diag) {
				t.Errorf("diagnostics %q, want them to hold %q", oo.Issue[0].Diagnostics, c.diag)
			}
			if c.status == 415 && strings.Contains(c.diag, "gzip") && resp.Header.Get("Accept-Encoding") != "gzip, identity" {
				t.Errorf("Accept-Encoding %q on a 415 for an encoding", resp.Header.Get("Accept-Encoding"))
			}
		})
	}
}
