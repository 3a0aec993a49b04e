package server_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/certs"
)

// tlsPair writes a self-signed pair for the loopback address to the two
// paths and returns the certificate's PEM and DER.
func tlsPair(t *testing.T, certPath, keyPath string) (pemBytes, der []byte) {
	t.Helper()
	c, k, err := certs.SelfSigned(time.Hour, "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	// Key first, then the certificate, as a renewal tool would; the hub
	// keeps its pair while they do not match.
	if err := os.WriteFile(keyPath, k, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, c, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return c, pair.Certificate[0]
}

// freeAddr is a loopback address nothing listens on (for the redirect
// listener, which the hub opens itself).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServesTLS: given a certificate and key, the hub serves the API over
// HTTPS only (TLS 1.2 or later, HSTS on every answer), a Patient goes
// through to the vendors as in the walkthrough, plain HTTP on the port is
// refused, the redirect listener sends browsers to the public URL, and a
// rewritten certificate is served without a restart (by itself within a
// second, at once on SIGHUP).
func TestServesTLS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	caPEM, firstDER := tlsPair(t, certPath, keyPath)
	redirectAddr := freeAddr(t)
	h := startWithEnv(t, dialectSQLite, adminRoutes, map[string]string{
		"SWITCHBOARD_TLS_CERT": certPath, "SWITCHBOARD_TLS_KEY": keyPath,
		"SWITCHBOARD_PUBLIC_URL":         "https://switchboard.test",
		"SWITCHBOARD_HTTP_REDIRECT_ADDR": redirectAddr,
	})
	if !strings.HasPrefix(h.url, "https://") {
		t.Fatalf("the hub serves at %s", h.url)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	// One connection per request, so that each sees the current certificate.
	client := func(cfg *tls.Config) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	}
	h.httpc = client(&tls.Config{RootCAs: roots})

	// The walkthrough's first step, over HTTPS.
	r := h.post("/fhir/R4/Patient", patient)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST over TLS: %d %s", r.status, r.body)
	}
	if st := h.waitFor(r.header.Get("Content-Location"), 15*time.Second); st.State != "delivered" {
		t.Fatalf("not delivered over TLS: %+v", st)
	}
	for _, path := range []string{"/fhir/R4/metadata", "/healthz", "/admin/queue/"} {
		resp, err := h.httpc.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if path == "/admin/queue/" {
			// River UI itself: frame denial and its CSP over TLS too.
			req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
			req.Header.Set("Authorization", "Bearer "+h.adminToken)
			req.Header.Set("Accept", "text/html")
			if resp, err = h.httpc.Do(req); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Frame-Options") != "DENY" ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("River UI over TLS: %d %v", resp.StatusCode, resp.Header)
			}
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("GET %s: not TLS 1.2+: %+v", path, resp.TLS)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("GET %s: Strict-Transport-Security %q", path, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %v", path, resp.Header)
		}
	}

	// TLS 1.1 and 1.0 are refused at the handshake.
	if _, err := client(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}).Get(h.url + "/healthz"); err == nil ||
		!strings.Contains(err.Error(), "protocol version") {
		t.Errorf("a TLS 1.1 client: %v, want a protocol version failure", err)
	}

	// Plain HTTP on the TLS port: refused with 400, nothing served.
	addr := strings.TrimPrefix(h.url, "https://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "GET /fhir/R4/metadata HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	conn.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") ||
		strings.Contains(string(body), "CapabilityStatement") {
		t.Errorf("plain HTTP on the TLS port: %d %s", resp.StatusCode, body)
	}

	// The redirect listener.
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get("http://" + redirectAddr + "/console/"); err != nil || resp.StatusCode != http.StatusPermanentRedirect ||
		resp.Header.Get("Location") != "https://switchboard.test/console/" {
		t.Errorf("redirect listener, GET: %v %+v", err, resp)
	}
	if resp, err := noFollow.Post("http://"+redirectAddr+"/fhir/R4/Patient", "application/fhir+json", strings.NewReader(patient)); err != nil ||
		resp.StatusCode != http.StatusForbidden {
		t.Errorf("redirect listener, POST: %v %+v", err, resp)
	}

	served := func() []byte {
		t.Helper()
		resp, err := h.httpc.Get(h.url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Raw
	}
	if !bytes.Equal(served(), firstDER) {
		t.Fatal("not serving the configured certificate")
	}

	// A renewal rewrites both files: new connections get the new
	// certificate within a second or two, no restart.
	secondPEM, secondDER := tlsPair(t, certPath, keyPath)
	roots.AppendCertsFromPEM(secondPEM)
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Equal(served(), secondDER) {
		if time.Now().After(deadline) {
			t.Fatal("the rewritten certificate was not picked up in 5 s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// SIGHUP reloads at once, without a handshake to notice the files.
	loaded := strings.Count(h.logs.String(), "TLS certificate loaded")
	thirdPEM, thirdDER := tlsPair(t, certPath, keyPath)
	roots.AppendCertsFromPEM(thirdPEM)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for strings.Count(h.logs.String(), "TLS certificate loaded") == loaded {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the certificate")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !bytes.Equal(served(), thirdDER) {
		t.Fatal("not serving the certificate SIGHUP loaded")
	}
}
