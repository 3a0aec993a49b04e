package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// lockedBuffer collects a server's logs while its goroutines write them.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// roleAuth reads the role from the token itself ("Bearer admin"), with
// every scope: these tests are about transport, not access control.
type roleAuth struct{}

func (roleAuth) Authenticate(ctx context.Context, r *http.Request) (*auth.Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, auth.ErrNoToken
	}
	return roleAuth{}.AuthenticateToken(ctx, tok)
}

func (roleAuth) AuthenticateToken(_ context.Context, tok string) (*auth.Principal, error) {
	switch tok {
	case auth.RoleApp, auth.RoleAdmin, auth.RoleAuditor:
		return &auth.Principal{ID: "cl_" + tok, Role: tok, Scopes: []string{"system/*.cruds"}}, nil
	}
	return nil, auth.ErrInvalidToken
}

// noTransfers knows no transfer.
type noTransfers struct{}

func (noTransfers) Accept(context.Context, transfer.Submission) (transfer.Accepted, error) {
	return transfer.Accepted{ID: "tr_test", Deliveries: 1}, nil
}

func (noTransfers) Status(context.Context, string) (*transfer.Status, error) {
	return nil, transfer.ErrNotFound
}

// jsonRoutes registers one JSON route under a group (stands in for the
// admin and audit handlers).
type jsonRoutes string

func (p jsonRoutes) Register(g *echo.Group) {
	g.GET(string(p), func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]int{"count": 0}) })
}

// pagingSearcher answers a first page with a next cursor, then a last one.
type pagingSearcher struct{}

func (pagingSearcher) Search(_ context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	page := connectors.SearchPage{Resources: []json.RawMessage{json.RawMessage(`{"resourceType":"Appointment","id":"a1"}`)}}
	if q.Cursor == "" {
		page.Next = "page-2"
	}
	return page, nil
}

// SearchParams declares date for Appointment: the transport tests search
// with it, and an undeclared parameter is refused (handling=strict).
func (pagingSearcher) SearchParams(_ context.Context, resourceType string) ([]connectors.SearchParam, error) {
	if resourceType != "Appointment" {
		return nil, nil
	}
	return []connectors.SearchParam{{Name: "date", Type: "date"}}, nil
}

func (pagingSearcher) StatesApplied() bool { return false }

// recordingWebhooks remembers the URL each webhook was received at.
type recordingWebhooks struct {
	mu   sync.Mutex
	urls []string
}

func (w *recordingWebhooks) Receive(_ context.Context, _ string, r connectors.WebhookRequest) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.urls = append(w.urls, r.URL)
	return "accepted", nil
}

func (w *recordingWebhooks) Reject(string, string) {}

// testRoutes is the tests' routing table (Patient writes to a Cal.com
// destination, Appointment read from it) and a keyring for cursors.
func testRoutes(tb testing.TB) (*route.Table, *seal.Keyring) {
	tb.Helper()
	tab, err := route.Parse([]byte(`
destinations:
  scheduling: {type: calcom}
routes:
  - {resource: Patient, to: [scheduling]}
reads:
  - {resource: Appointment, from: scheduling}
`), validation.IsResourceType)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := seal.GenerateKey("k1")
	if err != nil {
		tb.Fatal(err)
	}
	kr, err := seal.NewKeyring(k)
	if err != nil {
		tb.Fatal(err)
	}
	return tab, kr
}

// testAPI serves the API with fakes behind it: routes for Patient writes
// and Appointment reads, River UI as a one-page stand-in, admin and audit
// routes. edit changes the Server before its handler is built.
func testAPI(t *testing.T, edit func(*Server)) (*httptest.Server, *lockedBuffer) {
	t.Helper()
	tab, kr := testRoutes(t)
	logs := &lockedBuffer{}
	s := &Server{
		Routes: tab, Transfers: noTransfers{}, Auth: roleAuth{}, Keys: kr,
		Searchers: map[string]connectors.Searcher{"scheduling": pagingSearcher{}},
		Webhooks:  &recordingWebhooks{},
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Admin:     jsonRoutes("/health"), Audit: jsonRoutes("/log"),
		Queue: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<!doctype html><title>River</title>")
		}),
	}
	if edit != nil {
		edit(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, logs
}

// call sends one request; header holds name, value pairs.
func call(t *testing.T, method, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// resolve resolves a link against the URL it was answered from.
func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}

// errorLines are the ERROR records in a JSON log.
func errorLines(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return out
}
