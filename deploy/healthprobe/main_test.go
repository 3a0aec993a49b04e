package main

import (
	"net/http"
	"net/http/httptest"
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
