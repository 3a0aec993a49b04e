package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/server"
	"github.com/switchboard-health/switchboard/hub/testenv"
	"github.com/switchboard-health/switchboard/hub/transfer"

	_ "github.com/switchboard-health/switchboard/connectors/all"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// syncBuffer collects the hub's logs for PHI scans.
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

type harness struct {
	t          *testing.T
	url        string
	ehr        *httptest.Server
	marketing  *httptest.Server
	stripe     string
	logs       *syncBuffer
	hub        *server.Hub
	sqlitePath string
	pgURL      string
	env        func(string) (string, bool)
	stop       func() // stops the hub (idempotent); restart starts it again
	// httpc sends do's requests (nil: http.DefaultClient); a hub serving
	// TLS needs one that trusts its certificate.
	httpc *http.Client
	// Bearer tokens of API clients made at start: an app with every
	// system scope, an admin and an auditor. do sends the app's unless
	// the call sets Authorization itself.
	appToken, adminToken, auditorToken string
}

const dialectSQLite, dialectPostgres = "sqlite", "postgres"

var dialects = []string{dialectSQLite, dialectPostgres}

// defaultRoutes sends Patients to the EHR sandbox and stripe-mock; %[1]s
// is the EHR's FHIR base, %[2]s stripe-mock's, %[3]s the marketing sink's.
const defaultRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  payments:
    type: stripe
    config: {base_url: %[2]q, api_key_env: STRIPE_KEY_FOR_TEST}
routes:
  - {resource: Patient, to: [ehr, payments]}
  - {resource: Appointment, interactions: [create], to: [ehr]}
  - {resource: Observation, to: [ehr]}
`

// start runs a hub of the given dialect in-process with the EHR sandbox and
// stripe-mock as its destinations.
func start(t *testing.T, dialect string) *harness {
	t.Helper()
	return startWith(t, dialect, defaultRoutes)
}

// startWith runs a hub with its own routing file (see defaultRoutes for the
// placeholders). A second FHIR sandbox stands ready as a marketing sink.
func startWith(t *testing.T, dialect, routesTemplate string) *harness {
	t.Helper()
	return startWithStripe(t, dialect, routesTemplate, "")
}

// startWithStripe is startWith with Stripe at stripeURL ("" for a
// stripe-mock of its own).
func startWithStripe(t *testing.T, dialect, routesTemplate, stripeURL string) *harness {
	t.Helper()
	return startHub(t, dialect, routesTemplate, stripeURL, nil)
}

// startWithEnv is startWith with more environment variables (secrets the
// routing file names).
func startWithEnv(t *testing.T, dialect, routesTemplate string, extra map[string]string) *harness {
	t.Helper()
	return startHub(t, dialect, routesTemplate, "", extra)
}

func startHub(t *testing.T, dialect, routesTemplate, stripeURL string, extra map[string]string) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuffer{}}
	h.ehr = httptest.NewServer(ehrsim.New(ehrsim.Options{}))
	t.Cleanup(h.ehr.Close)
	h.marketing = httptest.NewServer(ehrsim.New(ehrsim.Options{}))
	t.Cleanup(h.marketing.Close)
	h.stripe = stripeURL
	if h.stripe == "" {
		h.stripe = testenv.StripeMock(t)
	}
	dir := t.TempDir()
	routes := fmt.Sprintf(routesTemplate, h.ehr.URL+"/fhir/R4", h.stripe, h.marketing.URL+"/fhir/R4")
	routesPath := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesPath, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"SWITCHBOARD_ROUTES":     routesPath,
		"SWITCHBOARD_RETRY_BASE": "100ms",
		"SWITCHBOARD_DEV_KEYS":   filepath.Join(dir, "dev-keys.env"),
		"STRIPE_KEY_FOR_TEST":    "sk_test_switchboard",
		"VENDOR_KEY_FOR_TEST":    "sandbox-credential",
		"WEBHOOK_SECRET_OLD":     "whsec_test_old_secret",
		"WEBHOOK_SECRET_NEW":     "whsec_test_new_secret",
		"SWITCHBOARD_LOG_LEVEL":  "debug",
	}
	for k, v := range extra {
		vars[k] = v
	}
	if dialect == dialectPostgres {
		h.pgURL = testenv.Postgres(t)
		s, m, _ := config.NewKeySpecs(time.Now())
		vars["DATABASE_URL"], vars["SWITCHBOARD_SEAL_KEYS"], vars["SWITCHBOARD_HMAC_KEY"] = h.pgURL, s, m
	} else {
		h.sqlitePath = filepath.Join(dir, "var", "switchboard.db")
		vars["SWITCHBOARD_SQLITE_PATH"] = h.sqlitePath
	}
	h.env = func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	h.restart()
	t.Cleanup(func() { h.stop() })
	h.appToken = h.client("test app", auth.RoleApp, "system/*.cruds")
	h.adminToken = h.client("test admin", auth.RoleAdmin)
	h.auditorToken = h.client("test auditor", auth.RoleAuditor)
	return h
}

// client makes an API client and returns its bearer token.
func (h *harness) client(name, role string, scopes ...string) string {
	h.t.Helper()
	_, tok, err := (&auth.Clients{DB: h.hub.Store.DB()}).Create(context.Background(), name, role, scopes)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// restart starts the hub on the harness's database and configuration (after
// stop: the same SQLite file or PostgreSQL database, a new port).
func (h *harness) restart() {
	t := h.t
	t.Helper()
	cfg, err := config.FromEnv(h.env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.hub, err = server.New(ctx, server.Options{Config: cfg, Logger: logging.New(h.logs, "debug", "json"), Env: h.env})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	if cfg.ServesTLS() {
		h.url = "https://" + ln.Addr().String()
	}
	done := make(chan error, 1)
	go func() { done <- h.hub.Serve(ctx, ln) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(method, path, contentType, body string, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+h.appToken)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Del("Authorization") // the call asked for no token
	}
	c := h.httpc
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func (h *harness) post(path, body string, header ...string) response {
	return h.do(http.MethodPost, path, "application/fhir+json", body, header...)
}

// waitFor polls a transfer until it reaches a final state or the timeout.
func (h *harness) waitFor(loc string, timeout time.Duration) transfer.Status {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	var st transfer.Status
	for {
		r := h.do(http.MethodGet, loc, "", "")
		if r.status != http.StatusOK {
			h.t.Fatalf("GET %s: %d %s", loc, r.status, r.body)
		}
		st = transfer.Status{}
		if err := json.Unmarshal(r.body, &st); err != nil {
			h.t.Fatal(err)
		}
		if st.State != "in-progress" || time.Now().After(deadline) {
			return st
		}
		time.Sleep(25 * time.Millisecond)
	}
}

type sandboxLog struct {
	Requests []struct {
		Method         string `json:"method"`
		Path           string `json:"path"`
		IdempotencyKey string `json:"idempotency_key"`
		Status         int    `json:"status"`
		Effect         string `json:"effect"`
	} `json:"requests"`
	Effects          int `json:"effects"`
	DuplicateEffects int `json:"duplicate_effects"`
}

func (h *harness) ehrLog() sandboxLog {
	h.t.Helper()
	resp, err := http.Get(h.ehr.URL + "/_sandbox/log")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var l sandboxLog
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		h.t.Fatal(err)
	}
	return l
}

func (h *harness) ehrFaults(faults string) {
	h.t.Helper()
	resp, err := http.Post(h.ehr.URL+"/_sandbox/faults", "application/json", strings.NewReader(faults))
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		h.t.Fatalf("set faults: %d", resp.StatusCode)
	}
}

// flushLog chains every staged transfer-log row, so tests can read
// switchboard_log directly.
func (h *harness) flushLog() {
	h.t.Helper()
	// Refused webhooks are written once a minute: now, for the test.
	if err := h.hub.Rejections.Flush(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	if err := h.hub.Log.Flush(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}
