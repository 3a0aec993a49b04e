package server_test

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestOrderPerSubject: update 1 of a patient is being retried (the EHR
// fails it once and asks for 2 s) when update 2 is accepted; update 2
// reaches the EHR only after update 1 did, while a change about another
// patient, accepted after both, is not held back.
func TestOrderPerSubject(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			h := start(t, dialect)
			h.ehrFaults(`{"fail_next": 1, "fail_status": 503, "retry_after_s": 2}`)
			put := func(family string) string {
				r := h.do(http.MethodPut, "/fhir/R4/Patient/ord-1", "application/fhir+json",
					`{"resourceType":"Patient","id":"ord-1","name":[{"family":"`+family+`"}]}`)
				if r.status != http.StatusAccepted {
					t.Fatalf("PUT %s: %d %s", family, r.status, r.body)
				}
				return r.header.Get("Content-Location")
			}
			first := put("First")
			// Let update 1 fail at least once before update 2 is accepted.
			deadline := time.Now().Add(5 * time.Second)
			for len(h.ehrLog().Requests) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			second := put("Second")
			other := h.post("/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"Other"}]}`)
			for _, loc := range []string{first, second, other.header.Get("Content-Location")} {
				if st := h.waitFor(loc, 20*time.Second); st.State != "delivered" {
					t.Fatalf("%s: %+v", loc, st)
				}
			}
			firstKey, secondKey := keyOf(first), keyOf(second)
			var okFirst, okSecond, okOther = -1, -1, -1
			for i, r := range h.ehrLog().Requests {
				if r.Status >= 300 {
					continue
				}
				switch {
				case strings.Contains(r.IdempotencyKey, firstKey):
					okFirst = i
				case strings.Contains(r.IdempotencyKey, secondKey):
					okSecond = i
				case r.Method == http.MethodPost:
					okOther = i
				}
			}
			if okFirst < 0 || okSecond < 0 || okSecond < okFirst {
				t.Fatalf("update 2 reached the EHR at %d, update 1 at %d: out of order (%+v)", okSecond, okFirst, h.ehrLog().Requests)
			}
			if okOther < 0 || okOther > okFirst {
				t.Fatalf("another patient's create (at %d) was held back behind update 1 (at %d)", okOther, okFirst)
			}
		})
	}
}

// keyOf is the transfer id in a Content-Location, which the vendor
// idempotency key contains.
func keyOf(loc string) string { return strings.TrimPrefix(loc, "/transfers/") }

// TestHotSubjectFlows: many updates of one patient in a row all reach the
// EHR, in the order they were accepted (none is stranded behind another).
func TestHotSubjectFlows(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			hotSubject(t, start(t, dialect), "hot-1", 8, 30*time.Second)
		})
	}
}

// TestTwoHundredOrderedUpdates: 200 updates of one patient, accepted in a
// row, reach the EHR one after the other in the order they were accepted.
// Each waits for the one before it, so the time from the last accept to
// the last delivery is the cost of the hand-over between them (issue 15
// §7), reported as a figure.
func TestTwoHundredOrderedUpdates(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			// 200 in make chaos, which reports the time (RELIABILITY.md);
			// 40 in make test: the order is the same claim, and a hand-over
			// still waits for River's fetch poll (about 0.7 s on
			// PostgreSQL), so 200 would cost make test minutes.
			n := 40
			if os.Getenv("SWITCHBOARD_CHAOS") == "full" {
				n = 200
			}
			took := hotSubject(t, start(t, dialect), "hot-200", n, 5*time.Minute)
			testenv.Figure(t, "ordered-updates", fmt.Sprintf("%s: %d updates of one patient, last accept to last delivered", dialect, n),
				math.Round(took.Seconds()*10)/10, "s")
		})
	}
}

// hotSubject PUTs n updates of one patient, checks that every one is
// delivered and that they reached the EHR in order, and returns the time
// from the last accept to the last delivery. The accepts take a while
// themselves (the client's inbound rate limit holds back a burst), so the
// first deliveries are under way by the last accept.
func hotSubject(t *testing.T, h *harness, id string, n int, limit time.Duration) time.Duration {
	t.Helper()
	locs := make([]string, n)
	for i := range n {
		r := h.do(http.MethodPut, "/fhir/R4/Patient/"+id, "application/fhir+json",
			fmt.Sprintf(`{"resourceType":"Patient","id":"%s","name":[{"family":"V%03d"}]}`, id, i))
		for r.status == http.StatusTooManyRequests { // the client's inbound rate limit: as a client would
			wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
			time.Sleep(time.Duration(max(wait, 1)) * time.Second)
			r = h.do(http.MethodPut, "/fhir/R4/Patient/"+id, "application/fhir+json",
				fmt.Sprintf(`{"resourceType":"Patient","id":"%s","name":[{"family":"V%03d"}]}`, id, i))
		}
		if r.status != http.StatusAccepted {
			t.Fatalf("PUT %d: %d %s", i, r.status, r.body)
		}
		locs[i] = r.header.Get("Content-Location")
	}
	accepted := time.Now()
	deadline := accepted.Add(limit)
	for _, loc := range locs {
		if st := h.waitFor(loc, time.Until(deadline)); st.State != "delivered" {
			t.Fatalf("%s: %+v", loc, st)
		}
	}
	took := time.Since(accepted)
	next := 0
	for _, r := range h.ehrLog().Requests {
		if r.Status >= 300 || next == n {
			continue
		}
		if strings.Contains(r.IdempotencyKey, keyOf(locs[next])) {
			next++
			continue
		}
		for j := next + 1; j < n; j++ {
			if strings.Contains(r.IdempotencyKey, keyOf(locs[j])) {
				t.Fatalf("update %d reached the EHR before update %d", j, next)
			}
		}
	}
	if next != n {
		t.Fatalf("%d of %d updates reached the EHR in order", next, n)
	}
	return took
}
