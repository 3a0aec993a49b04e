package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/certs"
)

func writeCert(t *testing.T, dir string, validFor time.Duration) (string, string) {
	t.Helper()
	c, k, err := certs.SelfSigned(validFor, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cp, kp := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cp, c, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kp, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return cp, kp
}

func TestTransportSettings(t *testing.T) {
	cert, key := writeCert(t, t.TempDir(), time.Hour)
	_, otherKey := writeCert(t, t.TempDir(), time.Hour)
	oldCert, oldKey := writeCert(t, t.TempDir(), -time.Minute)

	c, err := FromEnv(envOf(map[string]string{
		"SWITCHBOARD_TLS_CERT": cert, "SWITCHBOARD_TLS_KEY": key,
		"SWITCHBOARD_PUBLIC_URL":         "https://hub.example.com/",
		"SWITCHBOARD_HTTP_REDIRECT_ADDR": "127.0.0.1:8081",
		"SWITCHBOARD_TRUSTED_PROXIES":    "10.0.0.0/8, 192.168.1.7,::1",
		"SWITCHBOARD_CORS_ORIGINS":       "https://App.Example.com:443,http://localhost:3000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.ServesTLS() || c.PublicURL != "https://hub.example.com" {
		t.Fatalf("TLS %v, public URL %q", c.ServesTLS(), c.PublicURL)
	}
	if got := c.Value("SWITCHBOARD_TRUSTED_PROXIES"); got != "10.0.0.0/8,192.168.1.7/32,::1/128" {
		t.Errorf("trusted proxies %q", got)
	}
	if got := c.Value("SWITCHBOARD_CORS_ORIGINS"); got != "https://app.example.com,http://localhost:3000" {
		t.Errorf("CORS origins %q (as browsers send Origin: lower case, no default port)", got)
	}
	if d, _ := FromEnv(envOf(nil)); d.ServesTLS() || len(d.CORSOrigins) != 0 || len(d.TrustedProxies) != 0 || d.RedirectAddr != "" {
		t.Fatalf("defaults: TLS %v, CORS %v, proxies %v", d.ServesTLS(), d.CORSOrigins, d.TrustedProxies)
	}

	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"certificate without key": {map[string]string{"SWITCHBOARD_TLS_CERT": cert}, "go together"},
		"key of another certificate": {map[string]string{"SWITCHBOARD_TLS_CERT": cert, "SWITCHBOARD_TLS_KEY": otherKey},
			"private key does not match"},
		"missing file": {map[string]string{"SWITCHBOARD_TLS_CERT": cert + ".gone", "SWITCHBOARD_TLS_KEY": key}, "no such file"},
		"expired":      {map[string]string{"SWITCHBOARD_TLS_CERT": oldCert, "SWITCHBOARD_TLS_KEY": oldKey}, "expired on"},
		"redirect without TLS": {map[string]string{"SWITCHBOARD_HTTP_REDIRECT_ADDR": "127.0.0.1:8081",
			"SWITCHBOARD_PUBLIC_URL": "https://hub.example.com"}, "needs SWITCHBOARD_TLS_CERT"},
		"redirect without an https public URL": {map[string]string{"SWITCHBOARD_TLS_CERT": cert, "SWITCHBOARD_TLS_KEY": key,
			"SWITCHBOARD_HTTP_REDIRECT_ADDR": "127.0.0.1:8081"}, "needs an https:// SWITCHBOARD_PUBLIC_URL"},
		"public URL with a query":      {map[string]string{"SWITCHBOARD_PUBLIC_URL": "https://hub.example.com/?x=1"}, "SWITCHBOARD_PUBLIC_URL"},
		"public URL without scheme":    {map[string]string{"SWITCHBOARD_PUBLIC_URL": "hub.example.com"}, "SWITCHBOARD_PUBLIC_URL"},
		"proxy that is not an address": {map[string]string{"SWITCHBOARD_TRUSTED_PROXIES": "proxy.internal"}, "not an IP address"},
		"trusting everyone":            {map[string]string{"SWITCHBOARD_TRUSTED_PROXIES": "0.0.0.0/0"}, "trusts every client"},
		"wildcard origin":              {map[string]string{"SWITCHBOARD_CORS_ORIGINS": "*"}, "no wildcards"},
		"origin with a path":           {map[string]string{"SWITCHBOARD_CORS_ORIGINS": "https://app.example.com/app"}, "SWITCHBOARD_CORS_ORIGINS"},
	}
	for name, c := range cases {
		_, err := FromEnv(envOf(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}
