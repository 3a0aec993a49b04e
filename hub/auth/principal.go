// Package auth says who is calling the hub and what they may do. A caller
// presents a bearer token: either an API client token the hub issued
// itself (sb_<id>_<secret>, kept in switchboard_client) or a JWT from the
// operator's OpenID Connect issuer. Either way the result is a Principal:
// an id, a display name, one role (app, admin or auditor) and, for apps,
// SMART App Launch v2 system scopes naming the FHIR resource types and
// interactions it may use.
//
// The package decides identity and holds the scope rules; the HTTP layer
// decides which role a route needs and turns the errors here into 401s and
// 403s.
package auth

import "context"

// Roles a Principal can have. Exactly one per caller: a person who both
// administers and audits the hub uses two identities, so the audit trail
// shows in which capacity they acted.
const (
	// RoleApp is a system integration calling /fhir/R4 within its scopes.
	RoleApp = "app"
	// RoleAdmin operates the hub: failures, replays, pauses, the queue UI.
	RoleAdmin = "admin"
	// RoleAuditor reads and verifies the transfer log.
	RoleAuditor = "auditor"
)

// ValidRole reports whether role is one of RoleApp, RoleAdmin, RoleAuditor.
func ValidRole(role string) bool {
	switch role {
	case RoleApp, RoleAdmin, RoleAuditor:
		return true
	}
	return false
}

// Principal is an authenticated caller. ID is what the transfer log
// records as the actor: a client id (cl_...) or "oidc:" and the issuer's
// subject. Neither ID nor Name is PHI: callers are systems and staff
// identities, never patients.
type Principal struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Scopes []string `json:"scopes"`
	// RatePerSecond and RateBurst are the client's own inbound limit
	// (switchboard clients create --rate --burst); zero takes the hub's
	// default (SWITCHBOARD_CLIENT_RATE, SWITCHBOARD_CLIENT_BURST).
	RatePerSecond float64 `json:"-"`
	RateBurst     int     `json:"-"`
}

// Allows reports whether p may perform perm (one of 'c' create, 'r' read,
// 'u' update, 'd' delete, 's' search) on resourceType through the FHIR
// API. Only apps have FHIR access, and only through a well-formed system
// scope naming the type (or *) and the permission; see ParseScope for the
// grammar. A nil Principal is allowed nothing.
func (p *Principal) Allows(resourceType string, perm byte) bool {
	if p == nil || p.Role != RoleApp || !validType(resourceType) || resourceType == "*" {
		return false
	}
	bit := permBit(perm)
	if bit == 0 {
		return false
	}
	for _, s := range p.Scopes {
		sc, err := ParseScope(s)
		if err != nil {
			continue // malformed or patient/user scopes never grant anything
		}
		if (sc.ResourceType == "*" || sc.ResourceType == resourceType) && sc.perms&bit != 0 {
			return true
		}
	}
	return false
}

// clone returns a copy whose Scopes callers may change without touching p.
func (p *Principal) clone() *Principal {
	c := *p
	c.Scopes = append([]string(nil), p.Scopes...)
	return &c
}

type principalKey struct{}

// WithPrincipal returns a context carrying p, for the handlers behind the
// authentication middleware.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal WithPrincipal stored, or nil when the
// request was not authenticated.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
