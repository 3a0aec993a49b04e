package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// OIDCConfig names the OpenID Connect issuer whose access tokens the hub
// accepts, typically the organisation's identity provider for staff
// (admins, auditors) and its client-credentials grants for apps.
type OIDCConfig struct {
	// Issuer is the exact "iss" of accepted tokens, e.g.
	// https://login.example.org/realms/hub.
	Issuer string
	// Audience must be among the tokens' "aud": the identifier the issuer
	// uses for the hub, so a token minted for another service is refused.
	Audience string
	// JWKSURL is where the issuer publishes its signing keys; empty means
	// the jwks_uri of Issuer + "/.well-known/openid-configuration".
	JWKSURL string
	// RoleClaim is the claim holding the caller's role (app, admin or
	// auditor); empty means DefaultRoleClaim.
	RoleClaim string
	// HTTPClient fetches the discovery document and the keys; nil means a
	// client with a 10 second timeout.
	HTTPClient *http.Client
}

// DefaultRoleClaim is the claim read for the role unless configured.
const DefaultRoleClaim = "switchboard_role"

const (
	// clockSkew is how far the issuer's clock may be from ours.
	clockSkew = 30 * time.Second
	// keysMinInterval and keysMaxInterval bound the background refresh of
	// the issuer's keys (the issuer's Cache-Control picks within them).
	keysMinInterval = 5 * time.Minute
	keysMaxInterval = time.Hour
	// refreshCooldown is the least time between refreshes forced by a
	// token signed with a key we do not know (a rotation): without it
	// anyone could make the hub fetch the keys on every request.
	refreshCooldown = 30 * time.Second
	// maxJWTBytes refuses absurd tokens before any parsing.
	maxJWTBytes = 16 << 10
)

// asymmetric lists the signature algorithms accepted. The issuer's keys
// are public, so HMAC (HS*) tokens would be forgeable by anyone who read
// the JWKS if a symmetric key were ever published there, and "none" is no
// signature at all; both are refused before verification.
var asymmetric = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// OIDC verifies JWT access tokens from one issuer against its published
// keys, which it keeps cached and refreshes in the background. Close it
// to stop the refresh.
type OIDC struct {
	issuer, audience, jwksURL, roleClaim string

	cache *jwk.Cache
	keys  jwk.Set // the cache's current set for jwksURL

	refreshMu   sync.Mutex
	lastRefresh time.Time
}

// OIDCFromEnv builds an OIDC from SWITCHBOARD_OIDC_ISSUER,
// SWITCHBOARD_OIDC_AUDIENCE (required with an issuer),
// SWITCHBOARD_OIDC_JWKS_URL and SWITCHBOARD_OIDC_ROLE_CLAIM (both
// optional). Without an issuer it returns nil and no error: OIDC is off
// and only API client tokens are accepted.
func OIDCFromEnv(ctx context.Context, lookup func(string) (string, bool), client *http.Client) (*OIDC, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	cfg := OIDCConfig{
		Issuer:     get("SWITCHBOARD_OIDC_ISSUER"),
		Audience:   get("SWITCHBOARD_OIDC_AUDIENCE"),
		JWKSURL:    get("SWITCHBOARD_OIDC_JWKS_URL"),
		RoleClaim:  get("SWITCHBOARD_OIDC_ROLE_CLAIM"),
		HTTPClient: client,
	}
	if cfg.Issuer == "" {
		return nil, nil
	}
	if cfg.Audience == "" {
		return nil, errors.New("SWITCHBOARD_OIDC_AUDIENCE is required with SWITCHBOARD_OIDC_ISSUER: " +
			"without it a token the issuer minted for any other service would be accepted")
	}
	o, err := NewOIDC(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("SWITCHBOARD_OIDC_ISSUER: %w", err)
	}
	return o, nil
}

// NewOIDC discovers the issuer's keys (unless JWKSURL is set) and fetches
// them once, so a misconfigured or unreachable issuer fails start-up with
// a clear message rather than every sign-in later. ctx bounds that start;
// the background refresh runs until Close.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("oidc: an issuer and an audience are required")
	}
	if err := checkFetchURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("oidc: issuer: %w", err)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	o := &OIDC{issuer: cfg.Issuer, audience: cfg.Audience, jwksURL: cfg.JWKSURL, roleClaim: cfg.RoleClaim}
	if o.roleClaim == "" {
		o.roleClaim = DefaultRoleClaim
	}
	if o.jwksURL == "" {
		u, err := discoverJWKS(ctx, client, cfg.Issuer)
		if err != nil {
			return nil, err
		}
		o.jwksURL = u
	}
	if err := checkFetchURL(o.jwksURL); err != nil {
		return nil, fmt.Errorf("oidc: JWKS URL: %w", err)
	}
	// The cache outlives ctx (often a start-up deadline); Close stops it.
	cache, err := jwk.NewCache(context.WithoutCancel(ctx), httprc.NewClient(httprc.WithHTTPClient(client)))
	if err != nil {
		return nil, fmt.Errorf("oidc: start the key cache: %w", err)
	}
	if err := cache.Register(ctx, o.jwksURL, jwk.WithHTTPClient(client),
		jwk.WithMinInterval(keysMinInterval), jwk.WithMaxInterval(keysMaxInterval)); err != nil {
		_ = cache.Shutdown(context.Background())
		return nil, fmt.Errorf("oidc: fetch the issuer's keys from %s: %w", o.jwksURL, err)
	}
	keys, err := cache.CachedSet(o.jwksURL)
	if err != nil {
		_ = cache.Shutdown(context.Background())
		return nil, fmt.Errorf("oidc: %w", err)
	}
	o.cache, o.keys = cache, keys
	return o, nil
}

// Close stops the background key refresh. A nil OIDC (not configured)
// closes without error.
func (o *OIDC) Close(ctx context.Context) error {
	if o == nil {
		return nil
	}
	return o.cache.Shutdown(ctx)
}

// discoverJWKS reads the issuer's OpenID Provider metadata (OpenID Connect
// Discovery 1.0 §4) for its jwks_uri.
func discoverJWKS(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("oidc: discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("oidc: discovery at %s: %w", u, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("oidc: discovery at %s: HTTP %d", u, res.StatusCode)
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&meta); err != nil {
		return "", fmt.Errorf("oidc: discovery at %s: %w", u, err)
	}
	// The spec requires the document's issuer to be the one asked about;
	// a mismatch means a wrong URL or a proxy in the way, and every token
	// would fail the iss check anyway.
	if meta.Issuer != issuer {
		return "", fmt.Errorf("oidc: discovery at %s names issuer %q, not the configured %q", u, meta.Issuer, issuer)
	}
	if meta.JWKSURI == "" {
		return "", fmt.Errorf("oidc: discovery at %s has no jwks_uri", u)
	}
	return meta.JWKSURI, nil
}

// checkFetchURL insists on https, except on the loopback interface
// (a development issuer): keys fetched over plain HTTP could be swapped
// by anyone on the path, and they decide who is an admin.
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); u.Scheme == "http" && (host == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%q must use https", raw)
}

// Verify checks a JWT's signature against the issuer's keys, its issuer,
// audience and times (with 30 seconds' skew), and returns its Principal.
// The token must name a role in the configured claim.
func (o *OIDC) Verify(ctx context.Context, token string) (*Principal, error) {
	if len(token) > maxJWTBytes {
		return nil, fmt.Errorf("%w: JWT too large", ErrInvalidToken)
	}
	alg, kid, err := jwtHeader(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if !asymmetric[alg] {
		return nil, fmt.Errorf("%w: JWT algorithm %q is not accepted (asymmetric signatures only)", ErrInvalidToken, alg)
	}
	if kid != "" {
		if err := o.ensureKey(ctx, kid); err != nil {
			return nil, err
		}
	}
	// The JWKS's keys often carry no "alg"; inferring it from the key type
	// is safe here because the header's alg was checked above and must
	// also fit the key's type.
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKeySet(o.keys, jws.WithInferAlgorithmFromKey(true)),
		jwt.WithValidate(true),
		jwt.WithIssuer(o.issuer),
		jwt.WithAudience(o.audience),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithAcceptableSkew(clockSkew),
		jwt.WithContext(ctx),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	sub, _ := tok.Subject()
	if sub == "" {
		return nil, fmt.Errorf("%w: JWT has an empty sub", ErrInvalidToken)
	}
	var role string
	if err := tok.Get(o.roleClaim, &role); err != nil || !ValidRole(role) {
		return nil, fmt.Errorf("%w: JWT has no valid %s claim (app, admin or auditor)", ErrInvalidToken, o.roleClaim)
	}
	p := &Principal{ID: "oidc:" + sub, Role: role, Name: stringClaim(tok, "azp")}
	if p.Name == "" {
		p.Name = stringClaim(tok, "client_id")
	}
	p.Scopes = scopeClaim(tok, "scope")
	if p.Scopes == nil {
		p.Scopes = scopeClaim(tok, "scp")
	}
	return p, nil
}

// ensureKey refreshes the key set once when a token names a key we do not
// have: the issuer rotated its keys since the last refresh. Refreshes so
// forced are at most one per refreshCooldown.
func (o *OIDC) ensureKey(ctx context.Context, kid string) error {
	if _, ok := o.keys.LookupKeyID(kid); ok {
		return nil
	}
	o.refreshMu.Lock()
	defer o.refreshMu.Unlock()
	if _, ok := o.keys.LookupKeyID(kid); ok {
		return nil // another request refreshed while we waited
	}
	if time.Since(o.lastRefresh) < refreshCooldown {
		return fmt.Errorf("%w: JWT signed with an unknown key", ErrInvalidToken)
	}
	o.lastRefresh = time.Now()
	if _, err := o.cache.Refresh(ctx, o.jwksURL); err != nil {
		return fmt.Errorf("%w: refresh the issuer's keys: %w", ErrUnavailable, err)
	}
	if _, ok := o.keys.LookupKeyID(kid); !ok {
		return fmt.Errorf("%w: JWT signed with an unknown key", ErrInvalidToken)
	}
	return nil
}

// jwtHeader reads alg and kid from a compact JWS's protected header
// without trusting anything else in it.
func jwtHeader(token string) (alg, kid string, err error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", errors.New("not a compact JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", "", errors.New("JWT header is not base64url")
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", "", errors.New("JWT header is not a JSON object")
	}
	return h.Alg, h.Kid, nil
}

func stringClaim(tok jwt.Token, name string) string {
	var s string
	if err := tok.Get(name, &s); err != nil {
		return ""
	}
	return s
}

// scopeClaim reads scopes as a space-separated string (RFC 8693's
// "scope") or an array of strings (the "scp" some issuers use); either
// name may come in either form. nil means the claim is absent or unusable.
func scopeClaim(tok jwt.Token, name string) []string {
	var v any
	if err := tok.Get(name, &v); err != nil {
		return nil
	}
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, strings.Fields(s)...)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}
