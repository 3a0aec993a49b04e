package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/server"
)

// quotaSandbox is a FHIR sandbox that enforces a vendor's limit: at most
// limit requests in any sliding window, answering 429 past it.
type quotaSandbox struct {
	next   http.Handler
	limit  int
	window time.Duration

	mu        sync.Mutex
	arrivals  []time.Time
	served    int
	throttled int
	peak      int
}

func (q *quotaSandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q.mu.Lock()
	now := time.Now()
	keep := q.arrivals[:0]
	for _, at := range q.arrivals {
		if now.Sub(at) < q.window {
			keep = append(keep, at)
		}
	}
	q.arrivals = keep
	if len(q.arrivals) >= q.limit {
		q.throttled++
		q.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled"}]}`, http.StatusTooManyRequests)
		return
	}
	q.arrivals = append(q.arrivals, now)
	q.served++
	q.peak = max(q.peak, len(q.arrivals))
	q.mu.Unlock()
	q.next.ServeHTTP(w, r)
}

func (q *quotaSandbox) counts() (served, throttled, peak int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.served, q.throttled, q.peak
}

// quotaRoutes sends Patients to the quota sandbox (the first %[1]s keeps
// the harness's placeholders in use; the EHR sandbox is not routed).
const quotaRoutes = `# harness EHR: %[1]s
destinations:
  vendor:
    type: fhir
    max_workers: 10
    max_attempts: 1
    rate_limit: {per_second: {{RATE}}, burst: {{BURST}}}
    config: {base_url: "{{URL}}/fhir/R4"}
routes:
  - {resource: Patient, to: [vendor]}
`

// startSecondWorker runs another hub process (role worker) on h's
// database and configuration, as a second replica would.
func startSecondWorker(t *testing.T, h *harness) *server.Hub {
	t.Helper()
	env := func(k string) (string, bool) {
		if k == "SWITCHBOARD_ROLE" {
			return "worker", true
		}
		return h.env(k)
	}
	cfg, err := config.FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hub, err := server.New(ctx, server.Options{Config: cfg, Logger: logging.New(h.logs, "info", "json"), Env: env})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hub.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("second worker: %v", err)
		}
	})
	return hub
}

// TestRateLimitHoldsAcrossWorkerProcesses: a burst of deliveries worked by
// two hub processes on one database never exceeds the destination's
// rate_limit in total, so a vendor that answers 429 past its quota sees
// none; the deliveries the limit holds back are snoozed without counting
// as an attempt (max_attempts is 1, so one counted try that failed would
// fail the delivery), and the throttling is counted per destination.
//
// PostgreSQL works 2,000 deliveries. SQLite works 400 at half the rate:
// two processes on one SQLite file share its single writer, and 2,000
// would take minutes on this machine without showing anything more.
func TestRateLimitHoldsAcrossWorkerProcesses(t *testing.T) {
	cases := []struct {
		dialect     string
		deliveries  int
		rate, burst int
	}{
		{dialectPostgres, 2000, 80, 10},
		{dialectSQLite, 400, 40, 10},
	}
	for _, c := range cases {
		t.Run(c.dialect, func(t *testing.T) {
			// The vendor's quota: what the limit allows in its 2 s window
			// (burst + 2 s of refill) and half a second more, the slack
			// for the time between taking a place and the request's
			// arrival. Without the limit, two processes deliver far faster.
			window := 2 * time.Second
			sandbox := &quotaSandbox{next: ehrsim.New(ehrsim.Options{}), window: window,
				limit: c.burst + c.rate*5/2}
			srv := httptest.NewServer(sandbox)
			t.Cleanup(srv.Close)
			routes := strings.NewReplacer("{{URL}}", srv.URL, "{{RATE}}", strconv.Itoa(c.rate),
				"{{BURST}}", strconv.Itoa(c.burst)).Replace(quotaRoutes)
			// A short wait in the worker: the 20 workers cannot all hold
			// a place ahead (burst + 100 ms of refill is fewer), so some
			// deliveries are snoozed, which is what is tested.
			h := startWithEnv(t, c.dialect, routes, map[string]string{"SWITCHBOARD_RATE_LIMIT_WAIT": "100ms",
				"SWITCHBOARD_LOG_LEVEL": "info"})
			second := startSecondWorker(t, h)

			// The deliveries pile up behind a paused queue and are
			// released at once: a burst.
			queue := delivery.QueueName("vendor")
			for tries := 0; ; tries++ {
				// The queue's row appears once a producer has started.
				err := h.hub.Store.PauseQueue(context.Background(), queue)
				if err == nil {
					break
				}
				if tries == 100 {
					t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			const perBundle = 100
			for b := 0; b < c.deliveries/perBundle; b++ {
				var entries []string
				for i := 0; i < perBundle; i++ {
					entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Patient","identifier":[{"system":"urn:test:quota","value":"p-%d-%d"}],"name":[{"family":"Quota"}]},"request":{"method":"POST","url":"Patient"}}`, b, i))
				}
				r := h.post("/fhir/R4", `{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`)
				if r.status != http.StatusAccepted {
					t.Fatalf("bundle %d: %d %s", b, r.status, r.body)
				}
			}
			start := time.Now()
			if err := h.hub.Store.ResumeQueue(context.Background(), queue); err != nil {
				t.Fatal(err)
			}

			timeout := time.Duration(c.deliveries/c.rate)*time.Second*3 + 30*time.Second
			deadline := time.Now().Add(timeout)
			var delivered, other int
			for {
				delivered, other = deliveryStates(t, h)
				if delivered+other >= c.deliveries || time.Now().After(deadline) {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			took := time.Since(start)
			served, throttled, peak := sandbox.counts()
			t.Logf("%d delivered in %s (%.0f/s; limit %d/s, burst %d); vendor served %d, answered 429 %d times, peak %d in %s (quota %d)",
				delivered, took.Round(time.Millisecond), float64(delivered)/took.Seconds(), c.rate, c.burst, served, throttled, peak, window, sandbox.limit)
			if throttled != 0 {
				t.Errorf("the vendor answered 429 %d times: the processes together exceeded the rate limit", throttled)
			}
			if delivered != c.deliveries || other != 0 {
				t.Fatalf("%d of %d delivered, %d in another final state", delivered, c.deliveries, other)
			}
			// Both processes worked, and the limit held some deliveries back.
			var held float64
			for _, hub := range []*server.Hub{h.hub, second} {
				held += counterValue(gather(t, hub), "switchboard_rate_limited_total", "destination", "vendor")
			}
			if held == 0 {
				t.Error("switchboard_rate_limited_total{destination=\"vendor\"} stayed 0 under a burst")
			}
			if worked := counterValue(gather(t, second), "switchboard_deliveries_total", "destination", "vendor"); worked == 0 {
				t.Error("the second worker process delivered nothing: not a test of two processes")
			}
		})
	}
}

// deliveryStates counts the vendor's deliveries that were delivered, and
// those in another final state (failed, skipped, discarded).
func deliveryStates(t *testing.T, h *harness) (delivered, other int) {
	t.Helper()
	err := h.hub.Store.DB().QueryRow(context.Background(), `SELECT
		COALESCE(SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state IN ('failed', 'skipped', 'discarded') THEN 1 ELSE 0 END), 0)
		FROM switchboard_delivery WHERE destination = 'vendor'`).Scan(&delivered, &other)
	if err != nil {
		t.Fatal(err)
	}
	return delivered, other
}

func gather(t *testing.T, hub *server.Hub) []*dto.MetricFamily {
	t.Helper()
	fams, err := hub.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// counterValue sums a counter's series whose label has the value.
func counterValue(fams []*dto.MetricFamily, name, label, value string) float64 {
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
