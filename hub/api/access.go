package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/outcome"
)

// Access is who may call a route.
type Access int

const (
	// Public routes need nothing: health, readiness, the
	// CapabilityStatement and the console's static files (no data).
	Public Access = iota
	// Signed routes authenticate by the vendor's own signature (webhooks).
	Signed
	// App routes are the FHIR API: role app, with a SMART system scope for
	// the resource type and interaction (checked by the handler for Bundle
	// entries, here for the rest).
	App
	// Owner routes are for the app that made the thing (a transfer's
	// status) and for admins.
	Owner
	// Admin routes are the admin API and River UI.
	Admin
	// Auditor routes are the transfer log.
	Auditor
	// Staff routes are for admins and auditors (who am I, the console
	// session).
	Staff
)

func (a Access) String() string {
	return [...]string{"public", "signed", "app", "owner", "admin", "auditor", "staff"}[a]
}

// Authenticator turns a request's bearer token into a caller (hub/auth).
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (*auth.Principal, error)
	AuthenticateToken(ctx context.Context, token string) (*auth.Principal, error)
}

// policy gives every route its Access; a route missing here is refused to
// everyone (fail closed), and the role-by-route test walks this table.
func (s *Server) policy() map[string]Access {
	return map[string]Access{
		"GET /healthz": Public,
		"GET /readyz":  Public,
		// Counts by route, destination and outcome, no PHI; keep it off
		// the public ingress: Prometheus scrapes it inside the cluster.
		"GET /metrics":                          Public,
		"GET " + FHIRBase + "/metadata":         Public,
		"POST " + FHIRBase:                      App,
		"POST " + FHIRBase + "/":                App,
		"POST " + FHIRBase + "/:type":           App,
		"GET " + FHIRBase + "/:type":            App,
		"PUT " + FHIRBase + "/:type/:id":        App,
		"GET /transfers/:id":                    Owner,
		"POST /webhooks/:source":                Signed,
		"GET /auth/whoami":                      Staff,
		"POST /console/session":                 Staff,
		"DELETE /console/session":               Public,
		"GET /console":                          Public,
		"GET /console/*":                        Public,
		"GET /admin/failures":                   Admin,
		"GET /admin/failures/:id":               Admin,
		"POST /admin/failures/:id/replay":       Admin,
		"POST /admin/failures/:id/discard":      Admin,
		"POST /admin/replay":                    Admin,
		"POST /admin/discard":                   Admin,
		"POST /admin/destinations/:name/pause":  Admin,
		"POST /admin/destinations/:name/resume": Admin,
		"GET /admin/health":                     Admin,
		"GET /admin/queue":                      Admin,
		"HEAD /admin/queue":                     Admin,
		"GET /admin/queue/*":                    Admin,
		"HEAD /admin/queue/*":                   Admin,
		"GET /audit/log":                        Auditor,
		"GET /audit/export":                     Auditor,
		"GET /audit/verify":                     Auditor,
		"POST /audit/digest":                    Auditor,
	}
}

// Policy is the route table's access rules (tests walk it).
func (s *Server) Policy() map[string]Access { return s.policy() }

// principalKey holds the caller in the echo context.
const principalKey = "switchboard.principal"

// caller is the authenticated principal of a request (nil on public and
// signed routes).
func caller(c echo.Context) *auth.Principal {
	p, _ := c.Get(principalKey).(*auth.Principal)
	return p
}

// Actor names the caller in the transfer log: its client id, never a name
// a person typed.
func Actor(c echo.Context) string {
	if p := caller(c); p != nil {
		return p.ID
	}
	return "anonymous"
}

// ruleOf finds the access rule of the matched route.
func ruleOf(rules map[string]Access, method, path string) (Access, bool) {
	if a, ok := rules[method+" "+path]; ok {
		return a, true
	}
	a, ok := rules["* "+path]
	return a, ok
}

// otherMethod reports whether the router matched the request's path but
// not its method. Echo then hands the request to its own 405 (or OPTIONS)
// handler and leaves the route's methods under ContextKeyHeaderAllow; a
// matched route never has that key. A route registered without an access
// rule is matched with its method, so it is still refused below.
func otherMethod(c echo.Context) bool {
	allow, ok := c.Get(echo.ContextKeyHeaderAllow).(string)
	if !ok || allow == "" {
		return false
	}
	m := c.Request().Method
	return m == http.MethodOptions || !slices.Contains(strings.Split(allow, ", "), m)
}

// access authenticates and authorises every request before its handler,
// by the matched route's rule.
func (s *Server) access(rules map[string]Access) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			path := c.Path()
			rule, ok := ruleOf(rules, c.Request().Method, path)
			if !ok {
				if path == "" {
					return next(c) // no route: the 404 handler answers
				}
				if otherMethod(c) {
					// The path is a route but not with this method: the
					// router's own handler answers 405 with Allow (or 204
					// with Allow to OPTIONS). No route handler runs.
					return next(c)
				}
				s.Logger.Error("route without an access rule: refused", "route", path)
				return outcome.New(http.StatusForbidden, "forbidden", "", "this route is not open to any caller")
			}
			if rule == Public || rule == Signed {
				return next(c)
			}
			p, err := s.authenticate(c, path)
			if errors.Is(err, auth.ErrUnavailable) {
				// The token store or the issuer's keys cannot be reached:
				// not the caller's fault, so not a 401.
				return outcome.New(http.StatusServiceUnavailable, "transient", "", "the hub cannot check tokens right now; retry")
			}
			if err != nil {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
				if errors.Is(err, auth.ErrNoToken) {
					return outcome.New(http.StatusUnauthorized, "login", "", "a bearer token is required")
				}
				return outcome.New(http.StatusUnauthorized, "login", "", "the bearer token is not valid")
			}
			c.Set(principalKey, p)
			if oe := s.throttleClient(c, p); oe != nil {
				return oe
			}
			if !allows(rule, p) {
				return outcome.New(http.StatusForbidden, "forbidden", "", "the "+p.Role+" role cannot use this route")
			}
			if rule == App {
				if oe := s.scoped(c, p); oe != nil {
					return oe
				}
			}
			return next(c)
		}
	}
}

// authenticate reads the bearer token; River UI's own requests carry the
// console's session cookie instead (a browser cannot add the header to
// them).
func (s *Server) authenticate(c echo.Context, path string) (*auth.Principal, error) {
	r := c.Request()
	if s.Auth == nil {
		return nil, auth.ErrInvalidToken
	}
	// A token not in the cache is looked up in the database: bounded, so a
	// database outage answers 503 rather than hanging the request.
	ctx, cancel := context.WithTimeout(r.Context(), s.dbTimeout())
	defer cancel()
	if r.Header.Get("Authorization") == "" && strings.HasPrefix(path, "/admin/queue") {
		if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
			return s.Auth.AuthenticateToken(ctx, ck.Value)
		}
	}
	return s.Auth.Authenticate(ctx, r)
}

func allows(rule Access, p *auth.Principal) bool {
	switch rule {
	case App:
		return p.Role == auth.RoleApp
	case Owner:
		return p.Role == auth.RoleApp || p.Role == auth.RoleAdmin
	case Admin:
		return p.Role == auth.RoleAdmin
	case Auditor:
		return p.Role == auth.RoleAuditor
	case Staff:
		return p.Role == auth.RoleAdmin || p.Role == auth.RoleAuditor
	}
	return false
}

// scoped checks an app's SMART scope for routes that name one resource
// type (a Bundle's entries are checked one by one in its handler).
func (s *Server) scoped(c echo.Context, p *auth.Principal) *outcome.Error {
	typ := c.Param("type")
	if typ == "" {
		return nil
	}
	perm := map[string]byte{http.MethodPost: 'c', http.MethodPut: 'u', http.MethodGet: 's'}[c.Request().Method]
	if perm != 0 && !p.Allows(typ, perm) {
		return scopeError(typ, perm, "")
	}
	return nil
}

func scopeError(typ string, perm byte, expr string) *outcome.Error {
	return outcome.New(http.StatusForbidden, "forbidden", expr,
		"the token's scopes do not include system/"+typ+"."+string(perm))
}
