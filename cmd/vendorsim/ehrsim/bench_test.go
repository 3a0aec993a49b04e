package ehrsim_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

// BenchmarkSink measures the sink's handler alone: it must stay far cheaper
// than the hub it measures.
func BenchmarkSink(b *testing.B) {
	h := ehrsim.New(ehrsim.Options{})
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/sink/Patient", strings.NewReader(`{"resourceType":"Patient"}`))
			req.Header.Set("Idempotency-Key", strconv.FormatInt(n.Add(1), 10))
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
}

// BenchmarkCreate measures a keyed conditional create, the hub's usual write.
func BenchmarkCreate(b *testing.B) {
	h := ehrsim.New(ehrsim.Options{})
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := strconv.FormatInt(n.Add(1), 10)
			req := httptest.NewRequest(http.MethodPost, "/fhir/R4/Patient", strings.NewReader(patient("urn:mrn", i, "Bench")))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Idempotency-Key", i)
			req.Header.Set("If-None-Exist", "identifier=urn:mrn|"+i)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}
