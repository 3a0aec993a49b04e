package calcom

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/connectors"
)

var testdata = filepath.Join("..", "..", "testdata", "mappings", "calcom")

func build(t *testing.T, cfg string, env map[string]string) (*Connector, error) {
	t.Helper()
	conn, err := New(connectors.Params{
		Name: "scheduling",
		Decode: func(into any) error {
			dec := yaml.NewDecoder(strings.NewReader(cfg))
			dec.KnownFields(true)
			return dec.Decode(into)
		},
		Env:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	return conn.(*Connector), nil
}

// mustBuild is a connector at base with the golden files' defaults
// (event type 1001, America/Chicago) and one inline retry.
func mustBuild(t *testing.T, base string) *Connector {
	t.Helper()
	c, err := build(t, `{base_url: "`+base+`", retry_max: 1, event_type_id: 1001, time_zone: America/Chicago}`,
		map[string]string{"CALCOM_API_KEY": "cal_test_123"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// delivery reads a golden input as the hub hands it over: an Appointment,
// or a transaction Bundle's Appointment with the other entries as Related.
func delivery(t *testing.T, name string, ia connectors.Interaction) connectors.Delivery {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	d := connectors.Delivery{TransferID: "tr_golden", Destination: "scheduling", Interaction: ia,
		ResourceType: "Appointment", Resource: src, IdempotencyKey: "idem-" + name, Attempt: 1}
	var b struct {
		ResourceType string
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		}
	}
	if err := json.Unmarshal(src, &b); err != nil {
		t.Fatal(err)
	}
	if b.ResourceType == "Bundle" {
		d.Resource, d.Related = nil, map[string][]byte{}
		for _, e := range b.Entry {
			if d.Resource == nil && bytes.Contains(e.Resource, []byte(`"resourceType": "Appointment"`)) {
				d.Resource = e.Resource
				continue
			}
			d.Related[e.FullURL] = e.Resource
		}
	}
	return d
}

// goldenBody is the compacted golden file of input name: the exact body sent.
func goldenBody(t *testing.T, name string) []byte {
	t.Helper()
	g, err := os.ReadFile(filepath.Join(testdata, strings.TrimSuffix(name, ".json")+".golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, g); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// requestInputs are the golden inputs that become Cal.com requests.
func requestInputs(t *testing.T) []string {
	t.Helper()
	all, _ := filepath.Glob(filepath.Join(testdata, "*.json"))
	var out []string
	for _, p := range all {
		b := filepath.Base(p)
		if !strings.HasSuffix(b, ".golden.json") && !strings.HasPrefix(b, "vendor-") {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatal("no golden inputs")
	}
	return out
}

// recorder is a Cal.com stand-in that records requests and answers as told.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path, query, body string
	header                    http.Header
}

func (r *recorder) serve(t *testing.T, answer func(w http.ResponseWriter, req *http.Request)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.URL.RawQuery, string(b), req.Header.Clone()})
		r.mu.Unlock()
		answer(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}
