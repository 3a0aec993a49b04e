package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var dialects = []store.Dialect{store.SQLite, store.Postgres}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func newNotifier(st store.Store, cfg *route.Alerts, process string, c *clock) *Notifier {
	return &Notifier{DB: st.DB(), Insert: StoreInserter(st), Config: cfg, Process: process, Now: c.Now}
}

// fail records one permanent failure of destination at time at, as the
// delivery worker does.
func fail(t *testing.T, st store.Store, destination string, n int, at time.Time) {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("tr_%s_%d", destination, n)
	if _, err := st.DB().Exec(ctx, `INSERT INTO switchboard_transfer (id, client_id, request_hash, kind, resource_type, interaction, entry_count, created_at)
		VALUES ($1, 'cl_test', 'h', 'resource', 'Patient', 'create', 1, $2)`, id, at.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(ctx, `INSERT INTO switchboard_delivery (transfer_id, entry, destination, resource_type, interaction, state, attempts, error_class, created_at, updated_at)
		VALUES ($1, 0, $2, 'Patient', 'create', 'failed', 1, 'permanent', $3, $3)`, id, destination, at.UnixMicro()); err != nil {
		t.Fatal(err)
	}
}

// alerts lists the alert jobs enqueued, oldest first.
func alerts(t *testing.T, st store.Store) []Args {
	t.Helper()
	col := "args"
	if st.Dialect() == store.SQLite {
		col = "json(args)" // riversqlite keeps args as JSONB
	}
	rows, err := st.DB().Query(context.Background(), `SELECT `+col+`, queue FROM river_job WHERE kind = $1 ORDER BY id`, Kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Args
	for rows.Next() {
		var raw []byte
		var queue string
		if err := rows.Scan(&raw, &queue); err != nil {
			t.Fatal(err)
		}
		var a Args
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		if queue != Queue {
			t.Errorf("alert job in queue %q, want %q", queue, Queue)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestThresholdAlertsOncePerWindow: twelve permanent failures with a
// threshold of ten send one alert, not three; the next window alerts
// again; a destination under the threshold does not alert.
func TestThresholdAlertsOncePerWindow(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			st := testenv.Store(t, d)
			start := time.Now().Truncate(15 * time.Minute).Add(time.Minute)
			c := &clock{t: start}
			n := newNotifier(st, &route.Alerts{URL: "https://ops.example.com/h", SecretEnv: "S",
				Failures: &route.FailureAlert{Threshold: 10, Window: 15 * time.Minute}}, "host-1", c)

			for i := range 12 {
				c.Set(start.Add(time.Duration(i) * time.Second))
				fail(t, st, "ehr", i, c.Now())
				if err := n.deliveryFailed(ctx, "ehr"); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 9 {
				fail(t, st, "payments", i, c.Now())
				if err := n.deliveryFailed(ctx, "payments"); err != nil {
					t.Fatal(err)
				}
			}
			got := alerts(t, st)
			if len(got) != 1 {
				t.Fatalf("%d alerts for 12 failures (threshold 10) in one window, want 1: %+v", len(got), got)
			}
			a := got[0].Alert
			if a.Type != TypeFailures || a.Destination != "ehr" || a.Failures != 10 || a.Threshold != 10 || a.Window != "15m" {
				t.Fatalf("alert %+v", a)
			}

			// The failures still count in the next window's first minutes:
			// a new period, a new alert.
			c.Set(start.Add(15 * time.Minute))
			if err := n.deliveryFailed(ctx, "ehr"); err != nil {
				t.Fatal(err)
			}
			if got := alerts(t, st); len(got) != 2 || got[1].Key == got[0].Key {
				t.Fatalf("next window: %+v", got)
			}
			// Long after, the window holds no failures: nothing.
			c.Set(start.Add(2 * time.Hour))
			if err := n.deliveryFailed(ctx, "ehr"); err != nil {
				t.Fatal(err)
			}
			if got := alerts(t, st); len(got) != 2 {
				t.Fatalf("failures outside the window alerted: %+v", got)
			}
		})
	}
}

type breakerRow struct {
	state              string
	changedAt, updated int64
}

func breakers(t *testing.T, st store.Store) map[string]breakerRow {
	t.Helper()
	rows, err := st.DB().Query(context.Background(), `SELECT destination, process, state, changed_at, updated_at FROM switchboard_breaker`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]breakerRow{}
	for rows.Next() {
		var dest, proc string
		var r breakerRow
		if err := rows.Scan(&dest, &proc, &r.state, &r.changedAt, &r.updated); err != nil {
			t.Fatal(err)
		}
		out[dest+"@"+proc] = r
	}
	return out
}

// TestBreakerOpenAlertsOnceAndIsPublished: the breaker's state reaches
// switchboard_breaker for every process; its opening alerts once per
// destination, however many processes see it; a recovery is reported.
func TestBreakerOpenAlertsOnceAndIsPublished(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := testenv.Store(t, d)
			t0 := time.Now().Truncate(BreakerAlertPeriod)
			c := &clock{t: t0}
			cfg := &route.Alerts{URL: "https://ops.example.com/h", SecretEnv: "S", BreakerOpen: true}
			n1 := newNotifier(st, cfg, "host-1:100", c)
			n2 := newNotifier(st, cfg, "host-2:200", c)

			n1.BreakerChanged("ehr", "closed", "open")
			n1.Wait()
			c.Set(t0.Add(time.Second))
			n2.BreakerChanged("ehr", "closed", "open")
			n2.Wait()

			rows := breakers(t, st)
			if r := rows["ehr@host-1:100"]; r.state != "open" || r.changedAt != t0.UnixMicro() {
				t.Fatalf("host-1: %+v", r)
			}
			if r := rows["ehr@host-2:200"]; r.state != "open" {
				t.Fatalf("host-2: %+v", r)
			}
			got := alerts(t, st)
			if len(got) != 1 || got[0].Alert.Type != TypeBreakerOpen || got[0].Alert.BreakerState != "open" || got[0].Alert.Destination != "ehr" {
				t.Fatalf("alerts: %+v", got)
			}

			c.Set(t0.Add(time.Minute))
			n1.BreakerChanged("ehr", "open", "half-open")
			n1.Wait()
			c.Set(t0.Add(time.Minute + time.Second))
			n1.BreakerChanged("ehr", "half-open", "closed")
			n1.Wait()
			if r := breakers(t, st)["ehr@host-1:100"]; r.state != "closed" || r.changedAt != c.Now().UnixMicro() {
				t.Fatalf("after recovery: %+v", r)
			}
			got = alerts(t, st)
			if len(got) != 2 || got[1].Alert.Type != TypeRecovered {
				t.Fatalf("recovery alerts: %+v", got)
			}

			// A change's write that lands after a newer one's does not undo it.
			c.Set(t0.Add(30 * time.Second))
			n1.BreakerChanged("ehr", "closed", "open")
			n1.Wait()
			if r := breakers(t, st)["ehr@host-1:100"]; r.state != "closed" {
				t.Fatalf("an older change overwrote a newer one: %+v", r)
			}
		})
	}
}

// TestBreakerStatesWithoutAlerts: with no alerts block the states are
// still published, and nothing is enqueued.
func TestBreakerStatesWithoutAlerts(t *testing.T) {
	st := testenv.Store(t, store.SQLite)
	n := &Notifier{DB: st.DB(), Process: "p"}
	n.BreakerChanged("ehr", "closed", "open")
	n.Wait()
	if r := breakers(t, st)["ehr@p"]; r.state != "open" {
		t.Fatalf("row %+v", r)
	}
	if got := alerts(t, st); len(got) != 0 {
		t.Fatalf("alerts without an alerts block: %+v", got)
	}
	if err := n.deliveryFailed(context.Background(), "ehr"); err != nil {
		t.Fatal(err)
	}
}

func TestHeartbeat(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			st := testenv.Store(t, d)
			t0 := time.Now()
			c := &clock{t: t0}
			n := newNotifier(st, nil, "live", c)
			dead := newNotifier(st, nil, "dead", c)
			if err := dead.heartbeat(ctx, map[string]string{"ehr": "open"}); err != nil {
				t.Fatal(err)
			}
			if err := n.heartbeat(ctx, map[string]string{"ehr": "closed", "payments": "closed"}); err != nil {
				t.Fatal(err)
			}
			c.Set(t0.Add(StaleAfter + time.Second))
			if err := n.heartbeat(ctx, map[string]string{"ehr": "closed", "payments": "open"}); err != nil {
				t.Fatal(err)
			}
			rows := breakers(t, st)
			if r := rows["ehr@live"]; r.state != "closed" || r.changedAt != t0.UnixMicro() || r.updated != c.Now().UnixMicro() {
				t.Fatalf("unchanged state: changed_at kept, updated_at refreshed: %+v", r)
			}
			if r := rows["payments@live"]; r.state != "open" || r.changedAt != c.Now().UnixMicro() {
				t.Fatalf("a missed change is caught up: %+v", r)
			}
			if _, ok := rows["ehr@dead"]; ok || len(rows) != 2 {
				t.Fatalf("a stopped process's rows must go: %+v", rows)
			}
		})
	}
}
