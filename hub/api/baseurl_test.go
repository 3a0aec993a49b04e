package api

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// links reads a searchset's self and next links.
func links(t *testing.T, body []byte) (self, next string) {
	t.Helper()
	var b struct {
		Link []struct{ Relation, URL string } `json:"link"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not a Bundle: %s", body)
	}
	for _, l := range b.Link {
		switch l.Relation {
		case "self":
			self = l.URL
		case "next":
			next = l.URL
		}
	}
	return self, next
}

// forged is what an attacker sends so that a search's next link, which a
// client follows with its bearer token, points at the attacker.
var forged = []string{"Host", "attacker.example", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "attacker.example",
	"Authorization", "Bearer app"}

// Paging links never take their host from a header the operator has not
// vouched for: with SWITCHBOARD_PUBLIC_URL they start with it; from a
// trusted proxy they follow its X-Forwarded-Proto and X-Forwarded-Host;
// otherwise they are relative, and still lead to the next page.
func TestPagingLinksIgnoreForgedHost(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name     string
		edit     func(*Server)
		header   []string
		wantBase string
	}{
		{"forged, nothing configured", nil, forged, "/fhir/R4/Appointment"},
		{"forged, public URL", func(s *Server) { s.PublicURL = "https://hub.example.com/sb" }, forged,
			"https://hub.example.com/sb/fhir/R4/Appointment"},
		{"forged, from an untrusted address", func(s *Server) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} },
			forged, "/fhir/R4/Appointment"},
		{"from a trusted proxy", func(s *Server) { s.TrustedProxies = loopback },
			[]string{"Host", "hub.internal", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "hub.example.org", "Authorization", "Bearer app"},
			"https://hub.example.org/fhir/R4/Appointment"},
		{"a trusted proxy's own value wins over the client's", func(s *Server) { s.TrustedProxies = loopback },
			[]string{"X-Forwarded-Proto", "https, http", "X-Forwarded-Host", "attacker.example, hub.example.org", "Authorization", "Bearer app"},
			"http://hub.example.org/fhir/R4/Appointment"},
		{"a trusted proxy passing junk", func(s *Server) { s.TrustedProxies = loopback },
			[]string{"Host", "hub.internal", "X-Forwarded-Proto", "gopher", "X-Forwarded-Host", "evil.example/@x", "Authorization", "Bearer app"},
			"http://hub.internal/fhir/R4/Appointment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := testAPI(t, c.edit)
			resp, body := call(t, http.MethodGet, srv.URL+"/fhir/R4/Appointment?date=ge2026-01-01", c.header...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			self, next := links(t, body)
			if !strings.HasPrefix(self, c.wantBase+"?") || !strings.HasPrefix(next, c.wantBase+"?_cursor=") {
				t.Fatalf("self %q, next %q: want both under %q", self, next, c.wantBase)
			}
			if strings.Contains(self+next, "attacker") {
				t.Fatalf("a link names the attacker: %q %q", self, next)
			}
			if strings.HasPrefix(next, "/") {
				// Relative: resolved against the URL the client called,
				// it is the second page.
				resp, body := call(t, http.MethodGet, resolve(t, srv.URL+"/fhir/R4/Appointment", next), "Authorization", "Bearer app")
				if _, more := links(t, body); resp.StatusCode != http.StatusOK || more != "" {
					t.Fatalf("following the relative next link: %d %s", resp.StatusCode, body)
				}
			}
		})
	}
}

// The URL a webhook is verified against (HubSpot signs it) follows the
// same rules: the public URL, a trusted proxy's view, else the connection
// and its Host (a forged Host only breaks the forger's own signature).
func TestWebhookURLFollowsThePublicURL(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*Server)
		header []string
		want   string
	}{
		{"public URL", func(s *Server) { s.PublicURL = "https://hub.example.com" }, forged, "https://hub.example.com/webhooks/crm?x=1"},
		{"untrusted forwarded headers", nil, forged, "http://attacker.example/webhooks/crm?x=1"},
		{"trusted proxy", func(s *Server) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} },
			[]string{"Host", "hub.internal", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "hub.example.org"},
			"https://hub.example.org/webhooks/crm?x=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hooks := &recordingWebhooks{}
			srv, _ := testAPI(t, func(s *Server) {
				s.Webhooks = hooks
				if c.edit != nil {
					c.edit(s)
				}
			})
			if resp, body := call(t, http.MethodPost, srv.URL+"/webhooks/crm?x=1", c.header...); resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if len(hooks.urls) != 1 || hooks.urls[0] != c.want {
				t.Fatalf("verified against %v, want %s", hooks.urls, c.want)
			}
		})
	}
}

// The console's session cookie is Secure whenever clients reach the hub
// over HTTPS, a trusted proxy's TLS included.
func TestSessionCookieSecureBehindTrustedProxy(t *testing.T) {
	srv, _ := testAPI(t, func(s *Server) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	for proto, secure := range map[string]bool{"https": true, "http": false} {
		resp, _ := call(t, http.MethodPost, srv.URL+"/console/session", "Authorization", "Bearer admin", "X-Forwarded-Proto", proto)
		cs := resp.Cookies()
		if resp.StatusCode != http.StatusNoContent || len(cs) != 1 || cs[0].Secure != secure {
			t.Errorf("X-Forwarded-Proto %s: %d cookies %v, want Secure=%v", proto, resp.StatusCode, cs, secure)
		}
	}
}
