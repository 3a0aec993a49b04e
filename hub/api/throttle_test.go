package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/quota"
)

// ownRateAuth is roleAuth plus a client "slow" that has its own limit.
type ownRateAuth struct{ roleAuth }

func (a ownRateAuth) Authenticate(ctx context.Context, r *http.Request) (*auth.Principal, error) {
	if r.Header.Get("Authorization") == "Bearer slow" {
		return &auth.Principal{ID: "cl_slow", Role: auth.RoleApp, Scopes: []string{"system/*.cruds"},
			RatePerSecond: 0.5, RateBurst: 1}, nil
	}
	return a.roleAuth.Authenticate(ctx, r)
}

func TestClientOverItsRateGets429WithRetryAfter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	srv, _ := testAPI(t, func(s *Server) {
		s.Auth = ownRateAuth{}
		s.Inbound = &quota.Inbound{Now: func() time.Time { return now }}
		s.ClientLimit = quota.Limit{PerSecond: 0.25, Burst: 2}
	})
	search := srv.URL + FHIRBase + "/Appointment"

	for i := 0; i < 2; i++ {
		if resp, body := call(t, http.MethodGet, search, "Authorization", "Bearer app"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := call(t, http.MethodGet, search, "Authorization", "Bearer app")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("past the burst: %d %s, want 429", resp.StatusCode, body)
	}
	// One token at 0.25/s comes in 4 s.
	if got := resp.Header.Get("Retry-After"); got != "4" {
		t.Errorf("Retry-After %q, want 4", got)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("Content-Type %q", ct)
	}
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity, Code string
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 ||
		oo.Issue[0].Code != "throttled" || oo.Issue[0].Severity != "error" {
		t.Errorf("body is not an OperationOutcome with one throttled issue: %s", body)
	}

	// Another caller is not held back by this one.
	if resp, body := call(t, http.MethodGet, srv.URL+"/auth/whoami", "Authorization", "Bearer admin"); resp.StatusCode != http.StatusOK {
		t.Errorf("another client: %d %s", resp.StatusCode, body)
	}
	// A client with its own limit gets its own: a burst of 1 at 0.5/s.
	if resp, _ := call(t, http.MethodGet, search, "Authorization", "Bearer slow"); resp.StatusCode != http.StatusOK {
		t.Errorf("own limit, first request: %d", resp.StatusCode)
	}
	resp, _ = call(t, http.MethodGet, search, "Authorization", "Bearer slow")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("own limit, second request: %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// Once the wait is over, the client is served again.
	now = now.Add(4 * time.Second)
	if resp, body := call(t, http.MethodGet, search, "Authorization", "Bearer app"); resp.StatusCode != http.StatusOK {
		t.Errorf("after Retry-After: %d %s", resp.StatusCode, body)
	}
}

func TestUnauthenticatedCallsDoNotSpendAClientsRate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	srv, _ := testAPI(t, func(s *Server) {
		s.Inbound = &quota.Inbound{Now: func() time.Time { return now }}
		s.ClientLimit = quota.Limit{PerSecond: 1, Burst: 1}
	})
	for i := 0; i < 3; i++ {
		if resp, _ := call(t, http.MethodGet, srv.URL+"/auth/whoami", "Authorization", "Bearer forged"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged token: %d, want 401", resp.StatusCode)
		}
	}
	if resp, _ := call(t, http.MethodGet, srv.URL+"/auth/whoami", "Authorization", "Bearer admin"); resp.StatusCode != http.StatusOK {
		t.Errorf("the admin's first request after forged ones: %d", resp.StatusCode)
	}
}

// throttledSearcher stands for a vendor whose shared rate limit has no
// place free soon.
type throttledSearcher struct{}

func (throttledSearcher) Search(context.Context, connectors.SearchQuery) (connectors.SearchPage, error) {
	return connectors.SearchPage{}, connectors.ThrottledError("scheduling", 1500*time.Millisecond)
}

func TestSearchHeldBackByTheVendorsRateLimitIs429(t *testing.T) {
	srv, _ := testAPI(t, func(s *Server) {
		s.Searchers = map[string]connectors.Searcher{"scheduling": throttledSearcher{}}
	})
	resp, body := call(t, http.MethodGet, srv.URL+FHIRBase+"/Appointment", "Authorization", "Bearer app")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" ||
		!strings.Contains(string(body), `"code":"throttled"`) {
		t.Errorf("got %d Retry-After %q %s; want 429, 2 (1.5 s rounded up) and a throttled issue",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}
