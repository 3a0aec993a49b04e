package certs

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a fresh self-signed pair to dir and returns its paths
// and the certificate's DER.
func writePair(t *testing.T, dir string, validFor time.Duration) (certPath, keyPath string, der []byte) {
	t.Helper()
	c, k, err := SelfSigned(validFor, "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, c, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, k, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath, pair.Certificate[0]
}

func TestLoadRefusesWhatCannotServe(t *testing.T) {
	dir := t.TempDir()
	good, goodKey, _ := writePair(t, dir, time.Hour)
	other := t.TempDir()
	_, otherKey, _ := writePair(t, other, time.Hour)
	expired := t.TempDir()
	oldCert, oldKey, _ := writePair(t, expired, -time.Minute)
	if _, err := Load(good, goodKey); err != nil {
		t.Fatalf("a good pair: %v", err)
	}
	for name, c := range map[string]struct{ cert, key, want string }{
		"key of another certificate": {good, otherKey, "private key does not match"},
		"missing key":                {good, filepath.Join(dir, "nope.key"), "no such file"},
		"key given as certificate":   {goodKey, goodKey, "failed to find"},
		"expired":                    {oldCert, oldKey, "expired on"},
	} {
		_, err := Load(c.cert, c.key)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error quotes the key file: %v", name, err)
		}
	}
}

func TestReloaderPicksUpRewrittenFilesAndKeepsServingThroughABadOne(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, first := writePair(t, dir, time.Hour)
	var logs bytes.Buffer
	r, err := New(certPath, keyPath, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.Every = time.Nanosecond // look at the files on every handshake
	served := func() []byte {
		t.Helper()
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	if !bytes.Equal(served(), first) {
		t.Fatal("not serving the loaded certificate")
	}

	// A renewal: both files rewritten.
	_, _, second := writePair(t, dir, time.Hour)
	if !bytes.Equal(served(), second) {
		t.Fatal("the rewritten pair was not picked up")
	}

	// Half a renewal: a new certificate beside the old key. The hub keeps
	// the pair it has and says so once.
	c3, _, err := SelfSigned(time.Hour, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, c3, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if !bytes.Equal(served(), second) {
			t.Fatal("a mismatched pair replaced a good one")
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Fatalf("the bad pair was reported %d times, want once:\n%s", n, logs.String())
	}

	// Forced (SIGHUP) reload of files the stat check would not look at.
	r.Every = time.Hour
	_, _, fourth := writePair(t, dir, time.Hour)
	if bytes.Equal(served(), fourth) {
		t.Fatal("looked at the files before Every passed")
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served(), fourth) {
		t.Fatal("Reload did not load the new pair")
	}
	if cfg := r.Config(); cfg.MinVersion != tls.VersionTLS12 || cfg.GetCertificate == nil {
		t.Fatalf("TLS config: min version %x", cfg.MinVersion)
	}
}
