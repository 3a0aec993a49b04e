package server_test

import (
	"net/http"
	"testing"
)

// TestWorkerServesHealthOnly: a worker process (--role worker) answers its
// probes and Prometheus' scrape and nothing else, so it can sit outside the
// ingress.
func TestWorkerServesHealthOnly(t *testing.T) {
	h := startWithEnv(t, dialectSQLite, adminRoutes, map[string]string{"SWITCHBOARD_ROLE": "worker"})
	for path, want := range map[string]int{
		"/healthz":          http.StatusOK,
		"/readyz":           http.StatusOK,
		"/metrics":          http.StatusOK,
		"/fhir/R4/metadata": http.StatusNotFound,
		"/admin/health":     http.StatusNotFound,
		"/audit/verify":     http.StatusNotFound,
		"/console/":         http.StatusNotFound,
		"/admin/queue/":     http.StatusNotFound,
	} {
		if r := h.as(h.adminToken, http.MethodGet, path, ""); r.status != want {
			t.Errorf("GET %s on a worker: %d, want %d", path, r.status, want)
		}
	}
}
