package quota_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/quota"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestSharedLimitGrantsBurstThenReservesWithinTheHorizon checks the
// algorithm on both databases: a burst at once, then places reserved up
// to the horizon ahead, then refusals that say how long to wait; two
// Shared values on one database (two processes) share the one limit.
func TestSharedLimitGrantsBurstThenReservesWithinTheHorizon(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			st := testenv.Store(t, d)
			limit := connectors.RateLimit{PerSecond: 10, Burst: 3} // a place every 100 ms
			var throttled int
			var mu sync.Mutex
			procs := make([]*quota.Shared, 2)
			for i := range procs {
				procs[i] = &quota.Shared{DB: st.DB(), Horizon: 250 * time.Millisecond,
					Throttled: func(string) { mu.Lock(); throttled++; mu.Unlock() }}
				if err := procs[i].Configure("crm", limit); err != nil {
					t.Fatal(err)
				}
			}
			var granted, later, refused int
			var firstWait time.Duration
			for i := 0; i < 10; i++ {
				delay, ok, err := procs[i%2].Take(ctx, "crm")
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case ok && delay == 0:
					granted++
				case ok:
					if delay > 250*time.Millisecond+50*time.Millisecond {
						t.Errorf("a place reserved %s ahead, beyond the 250ms horizon", delay)
					}
					later++
				default:
					if refused == 0 {
						firstWait = delay
					}
					refused++
				}
			}
			// The takes above run within a few milliseconds (the
			// database's time): 3 now, 2 or 3 within the next 250 ms.
			if granted < 3 || granted > 4 || granted+later > 7 || granted+later < 5 {
				t.Errorf("granted now %d, reserved ahead %d; want the burst of 3 now and 2 to 3 within 250ms", granted, later)
			}
			if refused == 0 || throttled != refused {
				t.Errorf("refused %d, counted %d", refused, throttled)
			}
			if firstWait <= 0 || firstWait > 150*time.Millisecond {
				t.Errorf("first refusal asks to wait %s; want up to one interval (100ms)", firstWait)
			}
			// After the wait, a place within the horizon is free again.
			time.Sleep(firstWait + 5*time.Millisecond)
			if _, ok, err := procs[0].Take(ctx, "crm"); err != nil || !ok {
				t.Errorf("after the wait: ok %v, err %v", ok, err)
			}
			if _, _, err := procs[0].Take(ctx, "unknown"); err == nil {
				t.Error("a destination without a configured limit was granted")
			}
		})
	}
}

// TestSharedLimitNeverExceedsItsRate has 8 goroutines over two Shared
// values take places as fast as they can for 1.5 s and checks when each
// place was due: in any window, at most burst + rate × window of them.
func TestSharedLimitNeverExceedsItsRate(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			st := testenv.Store(t, d)
			limit := connectors.RateLimit{PerSecond: 40, Burst: 5}
			procs := []*quota.Shared{{DB: st.DB(), Horizon: 100 * time.Millisecond}, {DB: st.DB(), Horizon: 100 * time.Millisecond}}
			for _, p := range procs {
				if err := p.Configure("ehr", limit); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var sent []time.Time
			stop := time.Now().Add(1500 * time.Millisecond)
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func(p *quota.Shared) {
					defer wg.Done()
					for time.Now().Before(stop) {
						delay, ok, err := p.Take(ctx, "ehr")
						if err != nil {
							t.Error(err)
							return
						}
						time.Sleep(delay)
						if ok {
							mu.Lock()
							sent = append(sent, time.Now())
							mu.Unlock()
						}
					}
				}(procs[g%2])
			}
			wg.Wait()
			const window = 500 * time.Millisecond
			most := 0
			for i := range sent {
				n := 0
				for j := range sent {
					if !sent[j].Before(sent[i]) && sent[j].Sub(sent[i]) < window {
						n++
					}
				}
				most = max(most, n)
			}
			// 5 + 40 × 0.5 = 25, and three for the sleeps' own lateness.
			if most > 28 {
				t.Errorf("%d calls in one %s window; the limit allows 25", most, window)
			}
			if len(sent) < 40 {
				t.Errorf("only %d calls in 1.5 s at 40/s", len(sent))
			}
			t.Logf("%d calls in 1.5 s, at most %d in any %s", len(sent), most, window)
		})
	}
}
