package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/switchboard-health/switchboard/hub/auth"
)

const audience = "https://hub.example.org"

// issuer is a test OpenID provider: discovery, a JWKS it can rotate, and
// RSA keys to sign with.
type issuer struct {
	srv   *httptest.Server
	jwks  atomic.Pointer[[]byte]
	hits  atomic.Int32
	keys  map[string]jwk.Key // kid -> private key
	pubOf map[string]*rsa.PublicKey
}

func newIssuer(t *testing.T, kids ...string) *issuer {
	t.Helper()
	is := &issuer{keys: map[string]jwk.Key{}, pubOf: map[string]*rsa.PublicKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		is.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*is.jwks.Load())
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	for _, kid := range kids {
		is.addKey(t, kid)
	}
	is.publish(t, kids...)
	return is
}

func (is *issuer) addKey(t *testing.T, kid string) {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	is.keys[kid], is.pubOf[kid] = k, &raw.PublicKey
}

// publish serves the public halves of kids as the JWKS, without "alg"
// (as many issuers do) so that the algorithm check is the hub's own.
func (is *issuer) publish(t *testing.T, kids ...string) {
	t.Helper()
	set := jwk.NewSet()
	for _, kid := range kids {
		pub, err := jwk.PublicKeyOf(is.keys[kid])
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	is.jwks.Store(&b)
}

// claims are a valid app token's, which each case then spoils.
func (is *issuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": is.srv.URL, "aud": audience, "sub": "svc-scheduling",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"azp": "scheduling-tool", "switchboard_role": "app", "scope": "openid system/Patient.cu system/*.rs",
	}
}

func (is *issuer) sign(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), is.keys[kid]))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (is *issuer) oidc(t *testing.T) *auth.OIDC {
	t.Helper()
	o, err := auth.NewOIDC(context.Background(), auth.OIDCConfig{Issuer: is.srv.URL, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o
}

func unsigned(header, claims map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

func TestOIDCVerify(t *testing.T) {
	is := newIssuer(t, "k1")
	o := is.oidc(t)
	ctx := context.Background()

	p, err := o.Verify(ctx, is.sign(t, "k1", is.claims()))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "oidc:svc-scheduling" || p.Name != "scheduling-tool" || p.Role != auth.RoleApp ||
		strings.Join(p.Scopes, " ") != "openid system/Patient.cu system/*.rs" || !p.Allows("Patient", 'u') || p.Allows("Patient", 'd') {
		t.Fatalf("principal %+v", p)
	}

	with := func(change map[string]any) map[string]any {
		c := is.claims()
		for k, v := range change {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	t.Run("other shapes", func(t *testing.T) {
		for _, tc := range []struct {
			claims map[string]any
			check  func(*auth.Principal) bool
		}{
			{with(map[string]any{"scope": nil, "scp": []string{"system/Appointment.rs"}}),
				func(p *auth.Principal) bool { return p.Allows("Appointment", 's') && !p.Allows("Patient", 'r') }},
			{with(map[string]any{"azp": nil, "client_id": "ci"}), func(p *auth.Principal) bool { return p.Name == "ci" }},
			{with(map[string]any{"aud": []string{"other", audience}}), func(p *auth.Principal) bool { return true }},
			{with(map[string]any{"switchboard_role": "admin"}),
				func(p *auth.Principal) bool { return p.Role == auth.RoleAdmin && !p.Allows("Patient", 'r') }},
			// Thirty seconds' skew.
			{with(map[string]any{"exp": time.Now().Add(-10 * time.Second).Unix()}), func(p *auth.Principal) bool { return true }},
		} {
			p, err := o.Verify(ctx, is.sign(t, "k1", tc.claims))
			if err != nil || !tc.check(p) {
				t.Errorf("claims %v: %+v, %v", tc.claims, p, err)
			}
		}
	})

	other := newIssuer(t, "k1") // same kid, another key
	hsGuess := func(key []byte) string {
		tok := jwt.New()
		for k, v := range is.claims() {
			_ = tok.Set(k, v)
		}
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.KeyIDKey, "k1")
		b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), key, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	der, _ := x509.MarshalPKIXPublicKey(is.pubOf["k1"])
	valid := is.sign(t, "k1", is.claims())
	parts := strings.Split(valid, ".")
	for name, tok := range map[string]string{
		"wrong audience":   is.sign(t, "k1", with(map[string]any{"aud": "https://other.example.org"})),
		"no audience":      is.sign(t, "k1", with(map[string]any{"aud": nil})),
		"wrong issuer":     is.sign(t, "k1", with(map[string]any{"iss": "https://evil.example.org"})),
		"expired":          is.sign(t, "k1", with(map[string]any{"exp": time.Now().Add(-2 * time.Minute).Unix()})),
		"no expiry":        is.sign(t, "k1", with(map[string]any{"exp": nil})),
		"not yet valid":    is.sign(t, "k1", with(map[string]any{"nbf": time.Now().Add(2 * time.Minute).Unix()})),
		"no subject":       is.sign(t, "k1", with(map[string]any{"sub": nil})),
		"missing role":     is.sign(t, "k1", with(map[string]any{"switchboard_role": nil})),
		"unknown role":     is.sign(t, "k1", with(map[string]any{"switchboard_role": "root"})),
		"role not string":  is.sign(t, "k1", with(map[string]any{"switchboard_role": []string{"admin"}})),
		"another key":      other.sign(t, "k1", is.claims()),
		"alg none":         unsigned(map[string]any{"alg": "none", "typ": "JWT"}, is.claims(), ""),
		"alg none, kid":    unsigned(map[string]any{"alg": "none", "kid": "k1"}, is.claims(), ""),
		"HS256 guessed":    hsGuess([]byte("secret")),
		"HS256 public key": hsGuess(der),
		"no kid":           unsigned(map[string]any{"alg": "RS256"}, is.claims(), parts[2]),
		"tampered claims":  parts[0] + "." + strings.Split(is.sign(t, "k1", with(map[string]any{"switchboard_role": "admin"})), ".")[1] + "." + parts[2],
		"garbage":          "a.b.c",
		"huge":             strings.Repeat("a", 20000) + ".b.c",
	} {
		_, err := o.Verify(ctx, tok)
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: err %v, want ErrInvalidToken", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

// An unknown key id makes the hub fetch the keys again once, which is how
// a rotation is picked up before the background refresh; a token under a
// key the issuer never published is still refused.
func TestOIDCKeyRotation(t *testing.T) {
	is := newIssuer(t, "k1")
	o := is.oidc(t)
	ctx := context.Background()
	if _, err := o.Verify(ctx, is.sign(t, "k1", is.claims())); err != nil {
		t.Fatal(err)
	}
	before := is.hits.Load()

	is.addKey(t, "k2")
	is.publish(t, "k2")
	if _, err := o.Verify(ctx, is.sign(t, "k2", is.claims())); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if is.hits.Load() != before+1 {
		t.Fatalf("JWKS fetched %d times for the rotation, want 1", is.hits.Load()-before)
	}
	// k1 left the published set, so its tokens stop working.
	if _, err := o.Verify(ctx, is.sign(t, "k1", is.claims())); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("retired key: err %v", err)
	}
	// Unknown kids do not make the hub fetch the keys on every request.
	is.addKey(t, "k3")
	for range 5 {
		if _, err := o.Verify(ctx, is.sign(t, "k3", is.claims())); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("unknown kid: err %v", err)
		}
	}
	if is.hits.Load() > before+1 {
		t.Fatalf("JWKS fetched %d times, want one (forced refreshes are rate limited)", is.hits.Load()-before)
	}
}

func TestOIDCUnknownKid(t *testing.T) {
	is := newIssuer(t, "k1")
	o := is.oidc(t)
	is.addKey(t, "unpublished")
	if _, err := o.Verify(context.Background(), is.sign(t, "unpublished", is.claims())); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("err %v", err)
	}
}

func TestOIDCFromEnv(t *testing.T) {
	ctx := context.Background()
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	o, err := auth.OIDCFromEnv(ctx, env(nil), nil)
	if o != nil || err != nil {
		t.Fatalf("unset: %v, %v", o, err)
	}
	is := newIssuer(t, "k1")
	if _, err := auth.OIDCFromEnv(ctx, env(map[string]string{"SWITCHBOARD_OIDC_ISSUER": is.srv.URL}), nil); err == nil ||
		!strings.Contains(err.Error(), "SWITCHBOARD_OIDC_AUDIENCE") {
		t.Fatalf("no audience: %v", err)
	}
	if _, err := auth.OIDCFromEnv(ctx, env(map[string]string{"SWITCHBOARD_OIDC_ISSUER": "http://idp.example.org",
		"SWITCHBOARD_OIDC_AUDIENCE": audience}), nil); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("plain http issuer: %v", err)
	}
	o, err = auth.OIDCFromEnv(ctx, env(map[string]string{
		"SWITCHBOARD_OIDC_ISSUER": is.srv.URL, "SWITCHBOARD_OIDC_AUDIENCE": audience,
		"SWITCHBOARD_OIDC_JWKS_URL": is.srv.URL + "/keys", "SWITCHBOARD_OIDC_ROLE_CLAIM": "groups_role",
	}), is.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(ctx)
	c := is.claims()
	delete(c, "switchboard_role")
	c["groups_role"] = "auditor"
	p, err := o.Verify(ctx, is.sign(t, "k1", c))
	if err != nil || p.Role != auth.RoleAuditor {
		t.Fatalf("custom role claim: %+v, %v", p, err)
	}
}

func TestNewOIDCDiscoveryMismatch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"https://elsewhere.example.org","jwks_uri":"https://elsewhere.example.org/keys"}`))
	}))
	defer srv.Close()
	_, err := auth.NewOIDC(context.Background(), auth.OIDCConfig{Issuer: srv.URL, Audience: audience})
	if err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("err %v", err)
	}
}
