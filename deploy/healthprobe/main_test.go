package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		status int
		ok     bool
	}{{http.StatusOK, true}, {http.StatusNoContent, true}, {http.StatusServiceUnavailable, false}, {http.StatusNotFound, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) }))
		err := probe(srv.URL+"/readyz", time.Second)
		srv.Close()
		if (err == nil) != tc.ok {
			t.Errorf("status %d: err %v, want ok=%v", tc.status, err, tc.ok)
		}
	}
	if err := probe("http://127.0.0.1:1/readyz", time.Second); err == nil {
		t.Error("a closed port passed the probe")
	}
}

// A hub serving TLS itself is probed over https on loopback, whatever its
// certificate names; elsewhere the certificate is checked.
func TestProbeHTTPSOnLoopback(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	if err := probe(srv.URL+"/readyz", time.Second); err != nil {
		t.Fatalf("https on loopback: %v", err)
	}
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("test server at %s", srv.URL)
	}
	for raw, want := range map[string]bool{
		"https://127.0.0.1:8080/readyz": true, "https://[::1]:8080/readyz": true, "https://localhost:8080/readyz": true,
		"https://switchboard.example.com/readyz": false, "https://10.0.0.7:8080/readyz": false, "http://127.0.0.1:8080/readyz": false,
	} {
		u, _ := url.Parse(raw)
		if skipVerify(u) != want {
			t.Errorf("%s: skip verification %v, want %v", raw, !want, want)
		}
	}
}
