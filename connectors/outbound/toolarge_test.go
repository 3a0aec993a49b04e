package outbound

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

// TestAnswerOverTheLimitIsAnError: an answer one byte over the limit is a
// typed error naming the limit, never a body cut short (issue 14 §1: an
// 8 MB EHR page was cut at 4 MiB and read as "not a Bundle", which stopped
// polling for good). It is Permanent and leaves the breaker closed: the
// vendor answered, the request asked for too much. An answer of exactly
// the limit is read whole.
func TestAnswerOverTheLimitIsAnError(t *testing.T) {
	const limit = 1000
	var size atomic.Int64
	size.Store(limit + 1)
	v := newVendor(t, func(_ int64, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(strings.Repeat("x", int(size.Load()))))
	})
	c := New(fast(Options{Name: "ehr", MaxResponseBytes: limit, BreakerFailures: 2}))
	for range 3 {
		resp, err := c.Do(context.Background(), Request{Method: http.MethodGet, URL: v.URL + "/Patient"})
		if resp != nil {
			t.Fatalf("a cut answer was returned (%d bytes)", len(resp.Body))
		}
		if !errors.Is(err, ErrResponseTooLarge) || !errors.Is(err, connectors.ErrResponseTooLarge) {
			t.Fatalf("error %v does not wrap ErrResponseTooLarge", err)
		}
		if got := connectors.ResponseLimit(err); got != limit {
			t.Fatalf("limit in the error = %d, want %d", got, limit)
		}
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != "response_too_large" || ce.Status != http.StatusOK {
			t.Fatalf("error %#v, want Permanent response_too_large with status 200", err)
		}
		if !strings.Contains(err.Error(), "larger than 1000 bytes") {
			t.Fatalf("error text %q does not name the limit", err)
		}
	}
	if s := c.BreakerState(); s != "closed" {
		t.Fatalf("breaker %s after answers over the limit, want closed", s)
	}
	if n := v.calls.Load(); n != 3 {
		t.Fatalf("vendor called %d times, want 3 (no inline retry of a too-large answer)", n)
	}

	size.Store(limit)
	resp, err := c.Do(context.Background(), Request{Method: http.MethodGet, URL: v.URL + "/Patient"})
	if err != nil || len(resp.Body) != limit {
		t.Fatalf("an answer of exactly the limit: %v, %d bytes", err, len(resp.Body))
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{4 << 20: "4 MiB", 3 << 19: "1.5 MiB", 512 << 10: "512 KiB", 1000: "1000 bytes"} {
		if got := connectors.FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
