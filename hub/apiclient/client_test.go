package apiclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// recorder is a fake hub that records each request and answers with the
// handler under test.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path, query, auth, body string
}

func serve(t *testing.T, h http.HandlerFunc) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), string(b)})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return &Client{BaseURL: srv.URL + "/", Token: "sb_cl_0123456789abcdef_secret"}, rec
}

func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func TestRequests(t *testing.T) {
	since := time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	cases := []struct {
		name string
		call func(*Client) error
		want recorded // auth is checked for every case
	}{
		{"failures filter and cursor", func(c *Client) error {
			_, err := c.Failures(t.Context(), FailureFilter{Destination: "hubspot", ErrorClass: "validation", Since: since}, "abc", 100)
			return err
		}, recorded{method: "GET", path: "/admin/failures", query: "cursor=abc&destination=hubspot&error_class=validation&limit=100&since=2026-11-22T09%3A00%3A00Z"}},
		{"failures unfiltered", func(c *Client) error { _, err := c.Failures(t.Context(), FailureFilter{}, "", 0); return err },
			recorded{method: "GET", path: "/admin/failures"}},
		{"failure id escaped", func(c *Client) error { _, err := c.Failure(t.Context(), "tr 1:0:a/b"); return err },
			recorded{method: "GET", path: "/admin/failures/tr%201:0:a%2Fb"}},
		{"replay dry run", func(c *Client) error { _, err := c.Replay(t.Context(), "t:0:d", true); return err },
			recorded{method: "POST", path: "/admin/failures/t:0:d/replay", query: "dry_run=true"}},
		{"replay", func(c *Client) error { _, err := c.Replay(t.Context(), "t:0:d", false); return err },
			recorded{method: "POST", path: "/admin/failures/t:0:d/replay"}},
		{"bulk by filter", func(c *Client) error {
			_, err := c.ReplayMany(t.Context(), BulkRequest{Filter: &FailureFilter{ResourceType: "Patient", Until: since}, DryRun: true})
			return err
		}, recorded{method: "POST", path: "/admin/replay", body: `{"filter":{"resource_type":"Patient","until":"2026-11-22T09:00:00Z"},"dry_run":true}`}},
		{"bulk everything", func(c *Client) error {
			_, err := c.DiscardMany(t.Context(), BulkRequest{Filter: &FailureFilter{}})
			return err
		}, recorded{method: "POST", path: "/admin/discard", body: `{"filter":{},"dry_run":false}`}},
		{"bulk by ids", func(c *Client) error {
			_, err := c.DiscardMany(t.Context(), BulkRequest{IDs: []string{"a:0:b"}})
			return err
		}, recorded{method: "POST", path: "/admin/discard", body: `{"ids":["a:0:b"],"dry_run":false}`}},
		{"discard", func(c *Client) error { return c.Discard(t.Context(), "a:0:b") },
			recorded{method: "POST", path: "/admin/failures/a:0:b/discard"}},
		{"pause", func(c *Client) error { _, err := c.Pause(t.Context(), "stripe"); return err },
			recorded{method: "POST", path: "/admin/destinations/stripe/pause"}},
		{"resume", func(c *Client) error { _, err := c.Resume(t.Context(), "stripe"); return err },
			recorded{method: "POST", path: "/admin/destinations/stripe/resume"}},
		{"health", func(c *Client) error { _, err := c.Health(t.Context()); return err },
			recorded{method: "GET", path: "/admin/health"}},
		{"log filters", func(c *Client) error {
			_, err := c.Log(t.Context(), LogFilter{Connector: "hubspot", Subject: "Patient/123", Event: "replay", After: 42, From: since}, "", 1000)
			return err
		}, recorded{method: "GET", path: "/audit/log", query: "after=42&connector=hubspot&event=replay&from=2026-11-22T09%3A00%3A00Z&limit=1000&subject=Patient%2F123"}},
		{"verify", func(c *Client) error { _, err := c.Verify(t.Context(), nil); return err },
			recorded{method: "GET", path: "/audit/verify"}},
		{"verify against a checkpoint", func(c *Client) error { _, err := c.Verify(t.Context(), &Checkpoint{Seq: 9, Hash: "ab"}); return err },
			recorded{method: "GET", path: "/audit/verify", query: "checkpoint_hash=ab&checkpoint_seq=9"}},
		{"digest", func(c *Client) error {
			_, err := c.Digest(t.Context(), []byte(`{"resourceType":"Patient"}`))
			return err
		},
			recorded{method: "POST", path: "/audit/digest", body: `{"resourceType":"Patient"}`}},
		{"export", func(c *Client) error {
			_, err := c.Export(t.Context(), LogFilter{TransferID: "tr"}, "csv", io.Discard)
			return err
		},
			recorded{method: "GET", path: "/audit/export", query: "format=csv&transfer_id=tr"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, rec := serve(t, answer(`{}`))
			if err := c.call(cl); err != nil {
				t.Fatal(err)
			}
			if len(rec.reqs) != 1 {
				t.Fatalf("%d requests", len(rec.reqs))
			}
			got := rec.reqs[0]
			c.want.auth = "Bearer sb_cl_0123456789abcdef_secret"
			if got != c.want {
				t.Errorf("request\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestNoTokenNoHeader(t *testing.T) {
	cl, rec := serve(t, answer(`{}`))
	cl.Token = ""
	if _, err := cl.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rec.reqs[0].auth != "" {
		t.Errorf("Authorization %q without a token", rec.reqs[0].auth)
	}
}

func TestErrors(t *testing.T) {
	oo := func(status int, issues ...outcome.Issue) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/fhir+json")
			w.WriteHeader(status)
			w.Write(outcome.JSON(issues...))
		}
	}
	cases := []struct {
		name    string
		h       http.HandlerFunc
		want    string
		status  int
		issues  int
		noLeaks []string
		// from is the client's TokenFrom.
		from string
	}{
		{"401", oo(401, outcome.Issue{Code: "login", Diagnostics: "the token is not valid"}),
			"401 unauthorized: the token is not valid (pass --token, or set SWITCHBOARD_TOKEN or the role's SWITCHBOARD_ADMIN_TOKEN / SWITCHBOARD_AUDITOR_TOKEN: `source var/dev.env` on a make-run hub)", 401, 1, nil, ""},
		{"401 names the token's variable", oo(401, outcome.Issue{Code: "login", Diagnostics: "the token is not valid"}),
			"401 unauthorized: the token is not valid (token from SWITCHBOARD_ADMIN_TOKEN)", 401, 1, nil, "SWITCHBOARD_ADMIN_TOKEN"},
		{"403", oo(403, outcome.Issue{Code: "forbidden", Diagnostics: "this route needs the admin role"}), "403 forbidden: this route needs the admin role", 403, 1, nil, ""},
		{"403 names the token's variable", oo(403, outcome.Issue{Code: "forbidden", Diagnostics: "this route needs the auditor role"}),
			"403 forbidden: this route needs the auditor role (token from SWITCHBOARD_TOKEN)", 403, 1, nil, "SWITCHBOARD_TOKEN"},
		{"410", oo(410, outcome.Issue{Code: "not-found", Diagnostics: "the payload was purged after the replay window; the source must send it again"}),
			"410 gone: the payload was purged after the replay window; the source must send it again", 410, 1, nil, "--token"},
		{"two issues with expressions", oo(400, outcome.Issue{Code: "value", Expression: "since", Diagnostics: "want an RFC 3339 time"}, outcome.Issue{Code: "value", Expression: "limit", Diagnostics: "too big"}),
			"400 bad request: since: want an RFC 3339 time; limit: too big", 400, 2, nil, ""},
		{"not an OperationOutcome", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(502)
			io.WriteString(w, "<html>upstream sb_cl_0123456789abcdef_secret down</html>")
		}, "502 bad gateway", 502, 0, []string{"html", "secret"}, ""},
		{"echo's route not found", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(404)
			io.WriteString(w, `{"message":"Not Found"}`)
		}, "404 not found", 404, 0, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, _ := serve(t, c.h)
			cl.TokenFrom = c.from
			_, err := cl.Health(t.Context())
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want an *APIError", err, err)
			}
			if ae.Status != c.status || len(ae.Issues) != c.issues || ae.Error() != c.want {
				t.Errorf("got %d, %d issues, %q\nwant %d, %d issues, %q", ae.Status, len(ae.Issues), ae.Error(), c.status, c.issues, c.want)
			}
			for _, s := range c.noLeaks {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q echoes %q", err, s)
				}
			}
		})
	}
}

func TestDecodesContractShapes(t *testing.T) {
	cl, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/admin/failures/t:0:d":
			io.WriteString(w, `{"id":"t:0:d","transfer_id":"t","entry":0,"destination":"d","resource_type":"Patient","interaction":"create",
				"state":"failed","error_class":"validation","http_status":422,"attempts":3,"replays":1,"created_at":"2026-11-23T10:00:00Z",
				"failed_at":"2026-11-23T10:01:00Z","payload":"kept","purge_after":"2026-11-26T10:01:00Z","later_delivered":true,
				"history":[{"at":"2026-11-23T10:01:00Z","event":"delivery_attempt","attempt":3,"outcome":"failed","http_status":422,"latency_ms":80}]}`)
		case "/admin/health":
			io.WriteString(w, `{"window":"15m","destinations":[{"name":"a","type":"stripe","breaker":"open","paused":true,"success_rate":null,"delivered":0,"failed":2,"retrying":1,"queue_depth":4}]}`)
		case "/audit/verify":
			io.WriteString(w, `{"ok":false,"rows":7,"pending":2,"head":{"seq":12,"hash":"h"},"break":{"seq":7,"reason":"altered"}}`)
		}
	})
	d, err := cl.Failure(t.Context(), "t:0:d")
	if err != nil || d.PurgeAfter == nil || !d.LaterDelivered || len(d.History) != 1 || d.History[0].LatencyMS != 80 || d.Attempts != 3 {
		t.Errorf("failure: %+v %v", d, err)
	}
	h, err := cl.Health(t.Context())
	if err != nil || h.Destinations[0].SuccessRate != nil || h.Destinations[0].QueueDepth != 4 || h.Destinations[0].Breaker != "open" {
		t.Errorf("health: %+v %v", h, err)
	}
	v, err := cl.Verify(t.Context(), nil)
	if err != nil || v.OK || v.Break == nil || v.Break.Seq != 7 || v.Head.Seq != 12 || v.Pending != 2 {
		t.Errorf("verify: %+v %v", v, err)
	}
}

// gatedWriter counts bytes and closes reached once it has seen at bytes.
type gatedWriter struct {
	n       int64
	at      int64
	reached chan struct{}
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	before := w.n
	w.n += int64(len(p))
	if before < w.at && w.n >= w.at {
		close(w.reached)
	}
	return len(p), nil
}

func TestExportCopiesAsItReads(t *testing.T) {
	const lines = 200_000
	line := `{"seq":1,"event":"delivery_attempt","prev_hash":"0000","hash":"1111"}` + "\n"
	total := int64(lines * len(line))
	w := &gatedWriter{at: total/2 - 256<<10, reached: make(chan struct{})}
	cl, _ := serve(t, func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/x-ndjson")
		for i := range lines {
			io.WriteString(rw, line)
			if i == lines/2 {
				rw.(http.Flusher).Flush()
				// Half the body is out: Export must have handed most of
				// it to w before the rest exists.
				select {
				case <-w.reached:
				case <-time.After(10 * time.Second):
					t.Error("Export wrote nothing while the body was streaming")
				}
			}
		}
	})
	n, err := cl.Export(t.Context(), LogFilter{}, "ndjson", w)
	if err != nil || n != total || w.n != total {
		t.Errorf("Export = %d, %v; wrote %d; want %d", n, err, w.n, total)
	}
}

func TestBulkRequestJSON(t *testing.T) {
	b, err := json.Marshal(BulkRequest{Filter: &FailureFilter{Destination: "d", Since: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)}})
	if err != nil {
		t.Fatal(err)
	}
	// Whole seconds: the hub parses RFC 3339.
	if want := `{"filter":{"destination":"d","since":"2026-01-02T03:04:05Z"},"dry_run":false}`; string(b) != want {
		t.Errorf("%s\nwant %s", b, want)
	}
}

func TestFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	urls := []struct {
		name       string
		getenv     func(string) string
		want, from string
	}{
		{"nothing set", env(), "http://127.0.0.1:8080", ""},
		{"the URL", env("SWITCHBOARD_URL", "https://hub.example", "SWITCHBOARD_ADDR", "127.0.0.1:9000"), "https://hub.example", "SWITCHBOARD_URL"},
		{"the listen address", env("SWITCHBOARD_ADDR", "127.0.0.1:18080"), "http://127.0.0.1:18080", "SWITCHBOARD_ADDR"},
		{"a port only", env("SWITCHBOARD_ADDR", ":8081"), "http://127.0.0.1:8081", "SWITCHBOARD_ADDR"},
		{"every IPv4 address", env("SWITCHBOARD_ADDR", "0.0.0.0:8082"), "http://127.0.0.1:8082", "SWITCHBOARD_ADDR"},
		{"every IPv6 address", env("SWITCHBOARD_ADDR", "[::]:8083"), "http://[::1]:8083", "SWITCHBOARD_ADDR"},
	}
	for _, c := range urls {
		if got, from := URLFromEnv(c.getenv); got != c.want || from != c.from {
			t.Errorf("%s: URLFromEnv = %q from %q, want %q from %q", c.name, got, from, c.want, c.from)
		}
	}

	roles := env("SWITCHBOARD_ADMIN_TOKEN", "sb_admin", "SWITCHBOARD_AUDITOR_TOKEN", "sb_auditor", "SWITCHBOARD_APP_TOKEN", "sb_app")
	tokens := []struct {
		name, role string
		getenv     func(string) string
		want, from string
	}{
		{"admin", "admin", roles, "sb_admin", "SWITCHBOARD_ADMIN_TOKEN"},
		{"auditor", "auditor", roles, "sb_auditor", "SWITCHBOARD_AUDITOR_TOKEN"},
		{"SWITCHBOARD_TOKEN wins", "auditor", env("SWITCHBOARD_TOKEN", "sb_one", "SWITCHBOARD_AUDITOR_TOKEN", "sb_auditor"), "sb_one", "SWITCHBOARD_TOKEN"},
		{"not the other role's", "auditor", env("SWITCHBOARD_ADMIN_TOKEN", "sb_admin"), "", ""},
		{"none", "admin", env(), "", ""},
	}
	for _, c := range tokens {
		if got, from := TokenFromEnv(c.role, c.getenv); got != c.want || from != c.from {
			t.Errorf("%s: TokenFromEnv(%q) = %q from %q, want %q from %q", c.name, c.role, got, from, c.want, c.from)
		}
	}
}
