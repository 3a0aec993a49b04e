package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/apiclient"
	"github.com/switchboard-health/switchboard/hub/outcome"
)

// The tests here run the admin and audit commands against fakeHub, an
// httptest server that answers the contract's endpoints the way the hub
// does (OperationOutcome errors, cursors, an audit_read row per log read).

const (
	testToken      = "sb_cl_0123456789abcdef_s3cret"
	forbiddenToken = "sb_cl_fedcba9876543210_app"
	testActor      = "cl_0123456789abcdef"
)

type fakeHub struct {
	t  *testing.T
	mu sync.Mutex

	failures []apiclient.Failure
	// bulk records each bulk call: path and body.
	bulk []bulkCall
	// auths records every Authorization header.
	auths []string
	// requests counts requests by "METHOD path".
	requests map[string]int
	paused   map[string]bool

	rows []apiclient.Row
	// export, when set, writes the /audit/export body.
	export func(w http.ResponseWriter)
	// verify answers /audit/verify; verifyQueries records its queries.
	verify        apiclient.VerifyReport
	verifyQueries []string
}

type bulkCall struct {
	path string
	req  map[string]any
}

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	h := &fakeHub{t: t, requests: map[string]int{}, paused: map[string]bool{}}
	srv := httptest.NewServer(h.handler())
	t.Cleanup(srv.Close)
	t.Setenv("SWITCHBOARD_URL", srv.URL)
	t.Setenv("SWITCHBOARD_TOKEN", testToken)
	// The role tokens a developer's shell may hold (var/dev.env) stay out.
	t.Setenv("SWITCHBOARD_ADMIN_TOKEN", "")
	t.Setenv("SWITCHBOARD_AUDITOR_TOKEN", "")
	return h
}

func (h *fakeHub) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[key]
}

func fakeFail(w http.ResponseWriter, status int, code, expr, diag string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
	}
	w.WriteHeader(status)
	w.Write(outcome.JSON(outcome.Issue{Code: code, Expression: expr, Diagnostics: diag}))
}

func fakeReply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (h *fakeHub) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/whoami", func(w http.ResponseWriter, r *http.Request) {
		fakeReply(w, apiclient.Principal{ID: testActor, Name: "test", Role: "auditor", Scopes: []string{}})
	})
	mux.HandleFunc("GET /admin/failures", h.listFailures)
	mux.HandleFunc("GET /admin/failures/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, f := range h.failures {
			if f.ID == r.PathValue("id") {
				fakeReply(w, apiclient.FailureDetail{Failure: f, LaterDelivered: true, History: []apiclient.HistoryEvent{
					{At: f.CreatedAt, Event: "delivery_attempt", Attempt: 1, Outcome: "retrying", HTTPStatus: 503, ErrorClass: "transient", LatencyMS: 120},
					{At: f.FailedAt, Event: "delivery_attempt", Attempt: 2, Outcome: "failed", HTTPStatus: 422, ErrorClass: "validation", Code: "invalid_email", LatencyMS: 80},
				}})
				return
			}
		}
		fakeFail(w, 404, "not-found", "", "no such delivery")
	})
	mux.HandleFunc("POST /admin/failures/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		switch {
		case strings.HasPrefix(id, "purged"):
			fakeFail(w, 410, "not-found", "", "the payload was purged after the replay window; the source must send it again")
		case r.URL.Query().Get("dry_run") == "true":
			fakeReply(w, apiclient.ReplayResult{DryRun: true, ID: id, Destination: "hubspot", Operation: "update", Compared: "destination",
				Fields: []apiclient.Field{{Name: "Patient.name", Status: "changed"}, {Name: "Patient.telecom", Status: "unchanged"}}})
		default:
			fakeReply(w, map[string]int{"replayed": 1, "key_generation": 2})
		}
	})
	mux.HandleFunc("POST /admin/failures/{id}/discard", func(w http.ResponseWriter, r *http.Request) {
		fakeReply(w, map[string]int{"discarded": 1})
	})
	mux.HandleFunc("POST /admin/replay", h.bulkAction)
	mux.HandleFunc("POST /admin/discard", h.bulkAction)
	mux.HandleFunc("POST /admin/destinations/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.paused[r.PathValue("name")] = r.PathValue("action") == "pause"
		h.mu.Unlock()
		fakeReply(w, apiclient.DestinationState{Destination: r.PathValue("name"), Paused: r.PathValue("action") == "pause"})
	})
	mux.HandleFunc("GET /admin/health", func(w http.ResponseWriter, r *http.Request) {
		rate := 0.975
		fakeReply(w, apiclient.Health{Window: "15m", Destinations: []apiclient.DestinationHealth{
			{Name: "hubspot", Type: "hubspot", Breaker: "closed", SuccessRate: &rate, Delivered: 39, Failed: 1, QueueDepth: 3,
				LastErrorClass: "validation", LastErrorAt: "2026-11-23T09:58:00Z"},
			{Name: "stripe", Type: "stripe", Breaker: "open", Paused: true, Retrying: 4, QueueDepth: 12},
		}})
	})
	mux.HandleFunc("GET /audit/log", h.log)
	mux.HandleFunc("GET /audit/export", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		h.export(w)
	})
	mux.HandleFunc("GET /audit/verify", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.verifyQueries = append(h.verifyQueries, r.URL.RawQuery)
		rep := h.verify
		h.mu.Unlock()
		fakeReply(w, rep)
	})
	mux.HandleFunc("POST /audit/digest", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		d := hex.EncodeToString(sum[:])
		var matches []apiclient.Row
		for _, row := range h.rows {
			if row.PayloadDigest == d {
				matches = append(matches, row)
			}
		}
		fakeReply(w, apiclient.DigestResult{Digest: d, Matches: matches})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.auths = append(h.auths, r.Header.Get("Authorization"))
		h.requests[r.Method+" "+r.URL.Path]++
		h.mu.Unlock()
		switch r.Header.Get("Authorization") {
		case "Bearer " + testToken:
			mux.ServeHTTP(w, r)
		case "Bearer " + forbiddenToken:
			fakeFail(w, http.StatusForbidden, "forbidden", "", "this route needs the admin role")
		default:
			fakeFail(w, http.StatusUnauthorized, "login", "", "a bearer token is required")
		}
	})
}

// listFailures pages h.failures; the cursor is the next index.
func (h *fakeHub) listFailures(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit == 0 {
		limit = 50
	}
	from, _ := strconv.Atoi(q.Get("cursor"))
	var match []apiclient.Failure
	for _, f := range h.failures {
		if d := q.Get("destination"); d == "" || f.Destination == d {
			match = append(match, f)
		}
	}
	page := apiclient.FailurePage{Items: []apiclient.Failure{}}
	if from < len(match) {
		page.Items = match[from:min(from+limit, len(match))]
	}
	if from+limit < len(match) {
		page.Next = strconv.Itoa(from + limit)
	}
	fakeReply(w, page)
}

func (h *fakeHub) bulkAction(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fakeFail(w, 400, "structure", "", "the body must be a JSON object with filter or ids")
		return
	}
	h.mu.Lock()
	h.bulk = append(h.bulk, bulkCall{r.URL.Path, req})
	h.mu.Unlock()
	n := 0
	if ids, ok := req["ids"].([]any); ok {
		n = len(ids)
	} else if f, ok := req["filter"].(map[string]any); ok {
		for _, fl := range h.failures {
			if d, _ := f["destination"].(string); d == "" || fl.Destination == d {
				n++
			}
		}
	}
	dry, _ := req["dry_run"].(bool)
	res := apiclient.BulkResult{Matched: n, DryRun: dry}
	if !dry {
		if r.URL.Path == "/admin/replay" {
			res.Replayed = n
		} else {
			res.Discarded = n
		}
	}
	fakeReply(w, res)
}

// log serves /audit/log like the hub: rows after `after` matching
// `event`, a page of `limit`, then an audit_read row for the read itself.
func (h *fakeHub) log(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit == 0 {
		limit = 100
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	page := apiclient.LogPage{Items: []apiclient.Row{}}
	for _, row := range h.rows {
		if row.Seq <= after || q.Get("event") != "" && row.Event != q.Get("event") {
			continue
		}
		if len(page.Items) == limit {
			page.Next = "more"
			break
		}
		page.Items = append(page.Items, row)
	}
	h.appendRow(apiclient.Row{Event: "audit_read", Actor: testActor, Detail: map[string]any{"route": "log"}})
	fakeReply(w, page)
}

// appendRow adds a row with the next seq; h.mu held.
func (h *fakeHub) appendRow(r apiclient.Row) {
	r.Seq = int64(len(h.rows)) + 1
	r.At = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(r.Seq) * time.Second)
	r.Hash = fmt.Sprintf("h%d", r.Seq)
	h.rows = append(h.rows, r)
}

func (h *fakeHub) addDeliveries(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for range n {
		h.appendRow(apiclient.Row{Event: "delivery_attempt", Outcome: "delivered", Source: "intake", Destination: "hubspot",
			ResourceType: "Patient", HTTPStatus: 200, Actor: "worker", TransferID: fmt.Sprintf("tr_%d", len(h.rows)+1)})
	}
}

// runCLI runs `switchboard args...` as main does, with stdin, and returns
// what it wrote.
func runCLI(ctx context.Context, t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = runCLITo(ctx, &out, &errOut, stdin, args...)
	return out.String(), errOut.String(), err
}

func runCLITo(ctx context.Context, out, errOut io.Writer, stdin string, args ...string) error {
	root := &cobra.Command{Use: "switchboard", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(adminCmd(), auditCmd())
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(out)
	root.SetErr(errOut)
	return root.ExecuteContext(ctx)
}

// Which token a command sends: --token, else SWITCHBOARD_TOKEN, else the
// token of the role its routes need (SWITCHBOARD_ADMIN_TOKEN for admin,
// SWITCHBOARD_AUDITOR_TOKEN for audit), as var/dev.env sets them.
func TestRemoteTokenFromEnvSentAsBearer(t *testing.T) {
	roles := map[string]string{"SWITCHBOARD_TOKEN": "", "SWITCHBOARD_ADMIN_TOKEN": testToken, "SWITCHBOARD_AUDITOR_TOKEN": forbiddenToken}
	cases := []struct {
		name   string
		env    map[string]string
		args   []string
		bearer string
	}{
		{"env", nil, []string{"admin", "health"}, "Bearer " + testToken},
		{"flag wins over env", nil, []string{"admin", "health", "--token", forbiddenToken}, "Bearer " + forbiddenToken},
		{"admin commands send the admin's token", roles, []string{"admin", "health"}, "Bearer " + testToken},
		{"audit commands send the auditor's token", map[string]string{"SWITCHBOARD_TOKEN": "",
			"SWITCHBOARD_ADMIN_TOKEN": forbiddenToken, "SWITCHBOARD_AUDITOR_TOKEN": testToken}, []string{"audit", "verify"}, "Bearer " + testToken},
		{"SWITCHBOARD_TOKEN wins over the role's", map[string]string{"SWITCHBOARD_TOKEN": testToken,
			"SWITCHBOARD_AUDITOR_TOKEN": forbiddenToken}, []string{"audit", "export"}, "Bearer " + testToken},
		{"flag wins over the role's", roles, []string{"admin", "health", "--token", forbiddenToken}, "Bearer " + forbiddenToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newFakeHub(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			out, errOut, _ := runCLI(t.Context(), t, "", c.args...)
			if len(h.auths) != 1 || h.auths[0] != c.bearer {
				t.Fatalf("Authorization headers %q, want [%q]", h.auths, c.bearer)
			}
			if strings.Contains(out+errOut, "s3cret") {
				t.Errorf("the token was echoed:\n%s%s", out, errOut)
			}
		})
	}
}

func TestRemoteErrorsAreReadable(t *testing.T) {
	cases := []struct {
		name, token string
		args        []string
		want        []string
	}{
		{"no token", "", []string{"admin", "failures"}, []string{"401 unauthorized", "a bearer token is required", "--token", "SWITCHBOARD_TOKEN"}},
		{"wrong role", forbiddenToken, []string{"audit", "verify"}, []string{"403 forbidden: this route needs the admin role (token from SWITCHBOARD_TOKEN)"}},
		{"purged payload", testToken, []string{"admin", "replay", "purged:0:hubspot"}, []string{"replay purged:0:hubspot: 410 gone: the payload was purged"}},
		{"unknown failure", testToken, []string{"admin", "show", "nope:0:x"}, []string{"404 not found: no such delivery"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			newFakeHub(t)
			t.Setenv("SWITCHBOARD_TOKEN", c.token)
			_, _, err := runCLI(t.Context(), t, "", c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// Without SWITCHBOARD_URL the CLI finds the hub at SWITCHBOARD_ADDR, the
// listen address serve reads (a wildcard host is reached on loopback).
func TestRemoteURLFromAddr(t *testing.T) {
	h := newFakeHub(t)
	u, err := url.Parse(os.Getenv("SWITCHBOARD_URL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SWITCHBOARD_URL", "")
	t.Setenv("SWITCHBOARD_ADDR", "0.0.0.0:"+u.Port())
	if _, _, err := runCLI(t.Context(), t, "", "admin", "health"); err != nil {
		t.Fatal(err)
	}
	if h.count("GET /admin/health") != 1 {
		t.Fatalf("the hub at SWITCHBOARD_ADDR got %v", h.requests)
	}
	t.Setenv("SWITCHBOARD_URL", "127.0.0.1:"+u.Port())
	if _, _, err := runCLI(t.Context(), t, "", "admin", "health"); err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_URL must start with http") {
		t.Fatalf("a SWITCHBOARD_URL without a scheme: %v", err)
	}
}

func TestRemoteFlagsChecked(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"admin", "health", "-o", "yaml"}, "-o must be table or json"},
		{[]string{"admin", "health", "--url", "127.0.0.1:8080"}, "--url must start with http"},
		{[]string{"admin", "failures", "--since", "yesterday"}, "--since must be an RFC 3339 time"},
		{[]string{"admin", "failures", "--limit", "501"}, "--limit must be from 1 to 500"},
		{[]string{"audit", "export", "--format", "xml"}, "--format must be ndjson or csv"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			h := newFakeHub(t)
			_, _, err := runCLI(t.Context(), t, "", c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if len(h.auths) != 0 {
				t.Errorf("a bad flag still sent %d requests", len(h.auths))
			}
		})
	}
}

func TestRemoteParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"24h", now.Add(-24 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"2026-11-01T08:00:00Z", time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		got, err := parseWhen("since", c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
