package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors Authenticate returns, for the HTTP layer to branch on. None of
// them, nor anything wrapping them, contains the token.
var (
	// ErrNoToken means the request carried no Authorization header: 401.
	ErrNoToken = errors.New("auth: no bearer token")
	// ErrInvalidToken means a token was presented and refused (malformed,
	// unknown, expired, revoked, wrong signature, issuer or audience): 401.
	ErrInvalidToken = errors.New("auth: invalid bearer token")
	// ErrUnavailable means the token could not be checked right now (the
	// database or the OIDC issuer did not answer): 503, not 401, so a
	// caller does not throw away a good token.
	ErrUnavailable = errors.New("auth: cannot check the token now")
)

// Authenticator tells API client tokens and OIDC JWTs apart and checks
// each with its verifier. OIDC may be nil (not configured); then JWTs are
// refused.
type Authenticator struct {
	Clients *Clients
	OIDC    *OIDC
}

// Authenticate reads "Authorization: Bearer <token>" (the scheme in any
// case, RFC 7235) and returns the caller.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil, ErrNoToken
	}
	if len(values) > 1 {
		return nil, fmt.Errorf("%w: more than one Authorization header", ErrInvalidToken)
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, fmt.Errorf("%w: the Authorization scheme must be Bearer", ErrInvalidToken)
	}
	return a.AuthenticateToken(ctx, strings.TrimSpace(tok))
}

// AuthenticateToken checks a bare token, such as the console's sb_token
// cookie.
func (a *Authenticator) AuthenticateToken(ctx context.Context, tok string) (*Principal, error) {
	switch {
	case tok == "":
		return nil, fmt.Errorf("%w: empty token", ErrInvalidToken)
	case strings.HasPrefix(tok, tokenPrefix):
		if a.Clients == nil {
			return nil, fmt.Errorf("%w: API client tokens are not accepted here", ErrInvalidToken)
		}
		return a.Clients.Verify(ctx, tok)
	case strings.Count(tok, ".") == 2:
		if a.OIDC == nil {
			return nil, fmt.Errorf("%w: a JWT was presented but no OIDC issuer is configured", ErrInvalidToken)
		}
		return a.OIDC.Verify(ctx, tok)
	default:
		return nil, fmt.Errorf("%w: neither an API client token nor a JWT", ErrInvalidToken)
	}
}
