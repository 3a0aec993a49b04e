package ehrsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

// sandbox is an in-process EHR sandbox with a small client around it.
type sandbox struct {
	t    *testing.T
	srv  *httptest.Server
	sim  *ehrsim.Server
	fhir string // base URL of the FHIR API
}

func newSandbox(t *testing.T, opts ehrsim.Options) *sandbox {
	t.Helper()
	sim := ehrsim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &sandbox{t: t, srv: srv, sim: sim, fhir: srv.URL + "/fhir/R4"}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends a request; url is relative to the FHIR base unless it starts
// with "/_" or "/sink". header holds name, value pairs.
func (s *sandbox) do(method, url, body string, header ...string) resp {
	s.t.Helper()
	if strings.HasPrefix(url, "/_") || strings.HasPrefix(url, "/sink") {
		url = s.srv.URL + url
	} else {
		url = s.fhir + url
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// log reads /_sandbox/log over HTTP, as tests elsewhere do.
func (s *sandbox) log(query string) ehrsim.Log {
	s.t.Helper()
	r := s.do(http.MethodGet, "/_sandbox/log"+query, "")
	if r.status != http.StatusOK {
		s.t.Fatalf("GET /_sandbox/log: %d %s", r.status, r.body)
	}
	var l ehrsim.Log
	if err := json.Unmarshal(r.body, &l); err != nil {
		s.t.Fatal(err)
	}
	return l
}

func (s *sandbox) faults(body string) {
	s.t.Helper()
	if r := s.do(http.MethodPost, "/_sandbox/faults", body); r.status != http.StatusOK {
		s.t.Fatalf("POST /_sandbox/faults %s: %d %s", body, r.status, r.body)
	}
}

// effects counts log rows per effect.
func effects(l ehrsim.Log) map[ehrsim.Effect]int {
	m := map[ehrsim.Effect]int{}
	for _, r := range l.Requests {
		m[r.Effect]++
	}
	return m
}

func patient(system, value, family string) string {
	return `{"resourceType":"Patient","identifier":[{"system":"` + system + `","value":"` + value + `"}],"name":[{"family":"` + family + `"}]}`
}

// issueCode returns the first OperationOutcome issue code of a body.
func issueCode(t *testing.T, r resp) string {
	t.Helper()
	m := r.json(t)
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("want an OperationOutcome, got %s", r.body)
	}
	issues, _ := m["issue"].([]any)
	if len(issues) == 0 {
		t.Fatalf("OperationOutcome without issues: %s", r.body)
	}
	code, _ := issues[0].(map[string]any)["code"].(string)
	return code
}

func meta(t *testing.T, m map[string]any) (versionID, lastUpdated string) {
	t.Helper()
	mm, _ := m["meta"].(map[string]any)
	versionID, _ = mm["versionId"].(string)
	lastUpdated, _ = mm["lastUpdated"].(string)
	return
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
