package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/api"
	"github.com/switchboard-health/switchboard/hub/auth"
)

// TestRoleByRoute walks every route the hub serves with every kind of
// caller and checks that none reaches a route its role should not: no
// token and a bad token get 401 on every protected route; a valid token of
// the wrong role gets 403; an app without the resource type's scope gets
// 403. It also fails when a route has no access rule or a rule names a
// route that does not exist, so a new route cannot slip in unprotected.
func TestRoleByRoute(t *testing.T) {
	h := start(t, dialectSQLite)
	e, ok := h.hub.Handler().(*api.Router)
	if !ok {
		t.Fatalf("the hub's handler is a %T, not the API's router", h.hub.Handler())
	}
	policy := (&api.Server{}).Policy()

	revokedID, revoked, err := (&auth.Clients{DB: h.hub.Store.DB()}).Create(t.Context(), "revoked app", auth.RoleApp, []string{"system/*.cruds"})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&auth.Clients{DB: h.hub.Store.DB()}).Revoke(t.Context(), revokedID); err != nil {
		t.Fatal(err)
	}
	callers := []struct {
		name, token string
		role        string // "" for callers without a valid token
		scoped      bool   // an app with a scope for Patient
	}{
		{"no token", "", "", false},
		{"malformed token", "not-a-token", "", false},
		{"unknown client", "sb_cl_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", false},
		{"revoked app", revoked, "", false},
		{"app", h.appToken, auth.RoleApp, true},
		{"app without Patient scope", h.client("appointments only", auth.RoleApp, "system/Appointment.cruds"), auth.RoleApp, false},
		{"admin", h.adminToken, auth.RoleAdmin, false},
		{"auditor", h.auditorToken, auth.RoleAuditor, false},
	}

	seen := map[string]bool{}
	checked := 0
	for _, r := range e.Routes() {
		if strings.HasPrefix(r.Name, "github.com/labstack/echo") && r.Path == "" {
			continue
		}
		method := r.Method
		ruleKey := method + " " + r.Path
		if method == echo.RouteNotFound {
			continue
		}
		if _, ok := policy[ruleKey]; !ok {
			if _, any := policy["* "+r.Path]; any {
				ruleKey = "* " + r.Path
			} else {
				t.Errorf("route %s %s has no access rule", method, r.Path)
				continue
			}
		}
		seen[ruleKey] = true
		rule := policy[ruleKey]
		if rule == api.Signed {
			continue // a vendor's signature is the credential: TestWebhooksIn
		}
		path := concrete(r.Path)
		for _, c := range callers {
			res := h.do(method, path, "application/fhir+json", "{}", "Authorization", bearer(c.token))
			denied := res.status == http.StatusUnauthorized || res.status == http.StatusForbidden
			// A Bundle's entries are checked one by one (below): the
			// route itself is open to every app.
			scoped := c.scoped || strings.TrimSuffix(r.Path, "/") == "/fhir/R4"
			want := mayReach(rule, c.role, scoped)
			switch {
			case want && denied:
				t.Errorf("%s %s as %s: %d, want it reachable (%s route)", method, path, c.name, res.status, rule)
			case !want && !denied:
				t.Errorf("%s %s as %s: %d, want 401 or 403 (%s route)", method, path, c.name, res.status, rule)
			case !want && c.role == "" && res.status != http.StatusUnauthorized:
				t.Errorf("%s %s as %s: %d, want 401", method, path, c.name, res.status)
			case !want && c.role != "" && res.status != http.StatusForbidden:
				t.Errorf("%s %s as %s: %d, want 403", method, path, c.name, res.status)
			}
			if !want && c.role == "" && res.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s as %s: 401 without WWW-Authenticate", method, path, c.name)
			}
			if !want && method != http.MethodHead && !strings.Contains(string(res.body), "OperationOutcome") {
				t.Errorf("%s %s as %s: refusal is not an OperationOutcome: %.200s", method, path, c.name, res.body)
			}
			checked++
		}
	}
	for k := range policy {
		if !seen[k] {
			t.Errorf("access rule %q names no route", k)
		}
	}
	t.Logf("%d routes × %d callers = %d requests checked", len(seen), len(callers), checked)

	// A Bundle is refused whole when one entry's type is outside the
	// app's scopes, and the entry is named.
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
		"resource":{"resourceType":"Patient","name":[{"family":"Scope"}]},"request":{"method":"POST","url":"Patient"}}]}`
	res := h.do(http.MethodPost, "/fhir/R4", "application/fhir+json", bundle, "Authorization", bearer(callers[5].token))
	if res.status != http.StatusForbidden || !strings.Contains(string(res.body), "Bundle.entry[0].request") {
		t.Errorf("a Bundle with a Patient from an app without Patient scope: %d %s", res.status, res.body)
	}
	if res := h.do(http.MethodPost, "/fhir/R4", "application/fhir+json", bundle); res.status != http.StatusAccepted {
		t.Errorf("the same Bundle from an app with the scope: %d %s", res.status, res.body)
	}
}

// mayReach is the matrix: which caller may reach which kind of route.
func mayReach(rule api.Access, role string, scoped bool) bool {
	switch rule {
	case api.Public, api.Signed:
		return true
	case api.App:
		return role == auth.RoleApp && scoped
	case api.Owner:
		return role == auth.RoleApp || role == auth.RoleAdmin
	case api.Admin:
		return role == auth.RoleAdmin
	case api.Auditor:
		return role == auth.RoleAuditor
	case api.Staff:
		return role == auth.RoleAdmin || role == auth.RoleAuditor
	}
	return false
}

// concrete fills a route template: Patient for a type, made-up ids.
func concrete(p string) string {
	r := strings.NewReplacer(":type", "Patient", ":id", "tr_0000000000000000000000000000", ":source", "ehr", ":name", "ehr")
	p = r.Replace(p)
	if strings.HasSuffix(p, "*") {
		p = strings.TrimSuffix(p, "*")
		if !slices.Contains([]string{"/console/"}, p) {
			p += "x"
		}
	}
	return p
}

func bearer(tok string) string {
	if tok == "" {
		return ""
	}
	return "Bearer " + tok
}
