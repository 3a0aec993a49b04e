package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-health/switchboard/hub/store"
)

// ErrNotFound means no API client has the id.
var ErrNotFound = errors.New("auth: no such API client")

// DefaultCacheFor is how long Clients trusts a verified token without
// asking the database again when CacheFor is zero.
const DefaultCacheFor = 30 * time.Second

// touchEvery bounds how often one process writes a client's last_used_at:
// it is a hint for operators pruning unused clients, not an access log
// (the transfer log is that), so it must not cost a write per request.
const touchEvery = time.Minute

// Clients issues, lists, revokes and verifies API client tokens, kept in
// the switchboard_client table. Set the exported fields, then use it by
// pointer; it is safe for concurrent use.
//
// A token is sb_<id>_<secret>: id is "cl_" and 16 hex digits, secret is 32
// random bytes in unpadded base64url. Only the SHA-256 of the secret is
// stored; a fast hash is enough for 256 random bits, and it keeps
// verification cheap.
//
// Verified tokens are cached in memory for CacheFor, so the FHIR path does
// not query the database per request. The price: a revocation takes
// effect in other processes within CacheFor (in the process that revoked,
// at once).
type Clients struct {
	DB store.Querier
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// CacheFor is how long a verified token is trusted without the
	// database: zero means DefaultCacheFor, negative disables the cache.
	CacheFor time.Duration

	mu      sync.Mutex
	cache   map[[sha256.Size]byte]cachedPrincipal
	touched map[string]time.Time // client id -> last last_used_at write
}

type cachedPrincipal struct {
	p       *Principal
	expires time.Time
}

// ClientInfo is an API client as List shows it. It never carries the
// secret or its hash.
type ClientInfo struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Scopes   []string  `json:"scopes"`
	Created  time.Time `json:"created_at"`
	Revoked  time.Time `json:"revoked_at,omitzero"`
	LastUsed time.Time `json:"last_used_at,omitzero"`
	// RateLimit is the client's own inbound limit; nil takes the hub's
	// default.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
}

// RateLimit is an API client's own inbound limit: Burst requests at once,
// refilled at PerSecond, in each hub process.
type RateLimit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
}

// CreateOption sets something about a client being created.
type CreateOption func(*createOptions)

type createOptions struct{ rate *RateLimit }

// WithRateLimit gives the client its own inbound limit instead of the
// hub's default. A burst of 0 is one second's worth (at least 1).
func WithRateLimit(perSecond float64, burst int) CreateOption {
	return func(o *createOptions) { o.rate = &RateLimit{PerSecond: perSecond, Burst: burst} }
}

const (
	tokenPrefix  = "sb_"
	idPrefix     = "cl_"
	idHexLen     = 16
	secretBytes  = 32
	maxNameBytes = 200
)

var secretEncoding = base64.RawURLEncoding.Strict()

// Create registers a client and returns its id and token. The token is
// not kept and cannot be shown again. An app needs at least one valid
// system scope (an invalid one is an error here, not silently ignored, so
// a typo is caught when it is cheap); admins and auditors take none.
func (c *Clients) Create(ctx context.Context, name, role string, scopes []string, opts ...CreateOption) (id, token string, err error) {
	var o createOptions
	for _, opt := range opts {
		opt(&o)
	}
	var ratePS, rateBurst any // NULL: the hub's default
	if r := o.rate; r != nil {
		if r.Burst == 0 {
			r.Burst = max(1, int(r.PerSecond))
		}
		if !(r.PerSecond > 0) || r.PerSecond > 1e6 || r.Burst < 1 || r.Burst > 1e6 {
			return "", "", errors.New("create API client: the rate must be above 0 requests per second and the burst 1 or more")
		}
		ratePS, rateBurst = r.PerSecond, r.Burst
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxNameBytes {
		return "", "", fmt.Errorf("create API client: the name must be 1 to %d bytes", maxNameBytes)
	}
	if !ValidRole(role) {
		return "", "", fmt.Errorf("create API client: role must be %s, %s or %s", RoleApp, RoleAdmin, RoleAuditor)
	}
	var kept []string
	for _, s := range scopes {
		if _, err := ParseScope(s); err != nil {
			return "", "", fmt.Errorf("create API client: scope %q: %w", s, err)
		}
		if !slices.Contains(kept, s) {
			kept = append(kept, s)
		}
	}
	switch {
	case role == RoleApp && len(kept) == 0:
		return "", "", errors.New("create API client: an app needs at least one scope, e.g. system/Patient.cu")
	case role != RoleApp && len(kept) > 0:
		return "", "", fmt.Errorf("create API client: scopes are for apps; a %s has none", role)
	}
	var raw [8 + secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("create API client: %w", err)
	}
	id = idPrefix + hex.EncodeToString(raw[:8])
	secret := secretEncoding.EncodeToString(raw[8:])
	if _, err := c.DB.Exec(ctx, `INSERT INTO switchboard_client (id, name, role, scopes, secret_hash, created_at, rate_per_second, rate_burst)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, name, role, strings.Join(kept, " "), hashSecret(secret), c.now().UnixMicro(),
		ratePS, rateBurst); err != nil {
		return "", "", fmt.Errorf("create API client: %w", err)
	}
	return id, tokenPrefix + id + "_" + secret, nil
}

// List returns every client, revoked ones included, oldest first.
func (c *Clients) List(ctx context.Context) ([]ClientInfo, error) {
	rows, err := c.DB.Query(ctx, `SELECT id, name, role, scopes, created_at, revoked_at, last_used_at, rate_per_second, rate_burst
		FROM switchboard_client ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list API clients: %w", err)
	}
	defer rows.Close()
	var out []ClientInfo
	for rows.Next() {
		var ci ClientInfo
		var scopes string
		var created int64
		var revoked, used, burst sql.NullInt64
		var ratePS sql.NullFloat64
		if err := rows.Scan(&ci.ID, &ci.Name, &ci.Role, &scopes, &created, &revoked, &used, &ratePS, &burst); err != nil {
			return nil, fmt.Errorf("list API clients: %w", err)
		}
		ci.Scopes = strings.Fields(scopes)
		ci.Created = time.UnixMicro(created).UTC()
		if revoked.Valid {
			ci.Revoked = time.UnixMicro(revoked.Int64).UTC()
		}
		if used.Valid {
			ci.LastUsed = time.UnixMicro(used.Int64).UTC()
		}
		if ratePS.Valid && burst.Valid {
			ci.RateLimit = &RateLimit{PerSecond: ratePS.Float64, Burst: int(burst.Int64)}
		}
		out = append(out, ci)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list API clients: %w", err)
	}
	return out, nil
}

// Revoke revokes a client for good; revoking it again is not an error.
// This process stops accepting its token at once, others within CacheFor.
func (c *Clients) Revoke(ctx context.Context, id string) error {
	n, err := c.DB.Exec(ctx, `UPDATE switchboard_client SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`,
		c.now().UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("revoke API client: %w", err)
	}
	c.forget(id)
	if n == 0 {
		var one int
		err := c.DB.QueryRow(ctx, `SELECT 1 FROM switchboard_client WHERE id = $1`, id).Scan(&one)
		if store.IsNoRows(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("revoke API client: %w", err)
		}
	}
	return nil
}

// Verify returns the Principal a client token stands for. Errors wrapping
// ErrInvalidToken mean the token is malformed, unknown, wrong or revoked;
// others (ErrUnavailable) mean the database could not be asked. Neither
// contains the token.
func (c *Clients) Verify(ctx context.Context, token string) (*Principal, error) {
	id, secret, ok := parseClientToken(token)
	if !ok {
		return nil, fmt.Errorf("%w: not an API client token", ErrInvalidToken)
	}
	now := c.now()
	key := sha256.Sum256([]byte(token))
	if p := c.cached(key, now); p != nil {
		c.touch(ctx, id, now)
		return p, nil
	}
	var name, role, scopes, stored string
	var revoked, burst sql.NullInt64
	var ratePS sql.NullFloat64
	err := c.DB.QueryRow(ctx, `SELECT name, role, scopes, secret_hash, revoked_at, rate_per_second, rate_burst
		FROM switchboard_client WHERE id = $1`, id).
		Scan(&name, &role, &scopes, &stored, &revoked, &ratePS, &burst)
	if store.IsNoRows(err) {
		// Answering faster for an unknown id than for a wrong secret tells
		// only whether an id exists; ids are not secret (they are the
		// actor in the transfer log).
		return nil, fmt.Errorf("%w: unknown API client", ErrInvalidToken)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read API client: %w", ErrUnavailable, err)
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(stored)) != 1 {
		return nil, fmt.Errorf("%w: wrong secret for API client %s", ErrInvalidToken, id)
	}
	if revoked.Valid {
		return nil, fmt.Errorf("%w: API client %s is revoked", ErrInvalidToken, id)
	}
	p := &Principal{ID: id, Name: name, Role: role, Scopes: strings.Fields(scopes)}
	if ratePS.Valid && burst.Valid {
		p.RatePerSecond, p.RateBurst = ratePS.Float64, int(burst.Int64)
	}
	c.remember(key, p, now)
	c.touch(ctx, id, now)
	return p.clone(), nil
}

// parseClientToken splits sb_<id>_<secret>. The secret's alphabet includes
// "_", so the parts are found by length, not by splitting.
func parseClientToken(tok string) (id, secret string, ok bool) {
	const idLen = len(idPrefix) + idHexLen
	rest, found := strings.CutPrefix(tok, tokenPrefix)
	if !found || len(rest) < idLen+1 || rest[idLen] != '_' {
		return "", "", false
	}
	id, secret = rest[:idLen], rest[idLen+1:]
	if !strings.HasPrefix(id, idPrefix) || !isLowerHex(id[len(idPrefix):]) {
		return "", "", false
	}
	if b, err := secretEncoding.DecodeString(secret); err != nil || len(b) != secretBytes {
		return "", "", false
	}
	return id, secret, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func (c *Clients) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Clients) cacheFor() time.Duration {
	if c.CacheFor == 0 {
		return DefaultCacheFor
	}
	return c.CacheFor
}

func (c *Clients) cached(key [sha256.Size]byte, now time.Time) *Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[key]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		delete(c.cache, key)
		return nil
	}
	return e.p.clone()
}

func (c *Clients) remember(key [sha256.Size]byte, p *Principal, now time.Time) {
	d := c.cacheFor()
	if d < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = map[[sha256.Size]byte]cachedPrincipal{}
	}
	// Only valid tokens are cached, so the map is as big as the set of
	// clients in use; sweeping expired entries now and then keeps revoked
	// and rotated ones from lingering.
	if len(c.cache) >= 1024 {
		for k, e := range c.cache {
			if !now.Before(e.expires) {
				delete(c.cache, k)
			}
		}
	}
	c.cache[key] = cachedPrincipal{p: p.clone(), expires: now.Add(d)}
}

// forget drops id's cached tokens, so a revocation holds at once here.
func (c *Clients) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.cache {
		if e.p.ID == id {
			delete(c.cache, k)
		}
	}
}

// touch records that id was used, at most once per touchEvery from this
// process. It is best effort: a failed write does not fail the request.
func (c *Clients) touch(ctx context.Context, id string, now time.Time) {
	c.mu.Lock()
	if last, ok := c.touched[id]; ok && now.Sub(last) < touchEvery {
		c.mu.Unlock()
		return
	}
	if c.touched == nil {
		c.touched = map[string]time.Time{}
	}
	c.touched[id] = now
	c.mu.Unlock()
	// The condition keeps several hub processes from each writing a row
	// another one just wrote.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, _ = c.DB.Exec(ctx, `UPDATE switchboard_client SET last_used_at = $1
		WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)`,
		now.UnixMicro(), id, now.Add(-touchEvery).UnixMicro())
}
