package transferlog_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var dialects = []store.Dialect{store.SQLite, store.Postgres}

func openStore(t *testing.T, d store.Dialect) store.Store { return testenv.Store(t, d) }

func newLog(t *testing.T, st store.Store) *transferlog.Log {
	t.Helper()
	mac, err := seal.NewMAC([]byte(strings.Repeat("m", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return &transferlog.Log{Store: st, MAC: mac}
}

const n = 10

// fill appends n rows, every other one with a Detail and every column used
// somewhere.
func fill(t *testing.T, l *transferlog.Log) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for i := 1; i <= n; i++ {
		row := transferlog.Row{At: at.Add(time.Duration(i) * time.Second), Event: transferlog.EventPoll,
			Direction: transferlog.Inbound, Source: "ehr", ResourceType: "Appointment", Outcome: "completed", Actor: "reconciler",
			LatencyMS: int64(i)}
		if i%2 == 0 {
			row = transferlog.Row{At: at.Add(time.Duration(i) * time.Second), Event: transferlog.EventChangeDropped,
				TransferID: fmt.Sprintf("tr_%d", i), Direction: transferlog.Outbound, Destination: "payments",
				Interaction: "update", SubjectHash: "abc123", Outcome: "failed", HTTPStatus: 503, Attempt: i, ErrorClass: "retryable",
				Detail: map[string]any{"pages": i, "error_code": "http_503", "manual": true}}
		}
		if err := l.Append(ctx, row); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendVerify(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			ctx := context.Background()
			rows, brk, err := l.Verify(ctx)
			if err != nil || brk != nil || rows != 0 {
				t.Fatalf("empty log: %d %+v %v", rows, brk, err)
			}
			fill(t, l)
			rows, brk, err = l.Verify(ctx)
			if err != nil || brk != nil || rows != n {
				t.Fatalf("Verify: rows %d break %+v err %v", rows, brk, err)
			}
			// Zero fields are stored as NULL, Detail as JSON.
			var nulls int
			if err := st.DB().QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_log WHERE transfer_id IS NULL AND http_status IS NULL AND detail IS NULL`).Scan(&nulls); err != nil {
				t.Fatal(err)
			}
			if nulls != n/2 {
				t.Fatalf("%d rows with NULL columns, want %d", nulls, n/2)
			}
			var detail, prev string
			if err := st.DB().QueryRow(ctx, `SELECT detail FROM switchboard_log WHERE seq = 2`).Scan(&detail); err != nil {
				t.Fatal(err)
			}
			if detail != `{"error_code":"http_503","manual":true,"pages":2}` {
				t.Fatalf("detail: %s", detail)
			}
			if err := st.DB().QueryRow(ctx, `SELECT prev_hash FROM switchboard_log WHERE seq = 1`).Scan(&prev); err != nil {
				t.Fatal(err)
			}
			if prev != "genesis" {
				t.Fatalf("first prev_hash %q", prev)
			}
			// Another key does not verify the chain.
			other, _ := seal.NewMAC([]byte(strings.Repeat("x", 32)))
			if _, brk, err := (&transferlog.Log{Store: st, MAC: other}).Verify(ctx); err != nil || brk == nil || brk.Seq != 1 {
				t.Fatalf("verify with another key: %+v %v", brk, err)
			}
		})
	}
}

func TestAppendDefaultsAt(t *testing.T) {
	st := openStore(t, store.SQLite)
	l := newLog(t, st)
	ctx := context.Background()
	before := time.Now().UnixMicro()
	if err := l.Append(ctx, transferlog.Row{Event: transferlog.EventDrift}); err != nil {
		t.Fatal(err)
	}
	var at int64
	if err := st.DB().QueryRow(ctx, `SELECT at FROM switchboard_log`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if at < before || at > time.Now().UnixMicro() {
		t.Fatalf("at %d not now", at)
	}
	if _, brk, err := l.Verify(ctx); brk != nil || err != nil {
		t.Fatalf("%+v %v", brk, err)
	}
	if err := l.Append(ctx, transferlog.Row{Event: "x", Detail: map[string]any{"bad": func() {}}}); err == nil {
		t.Fatal("a Detail that is not JSON was appended")
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	const mid = n / 2
	cases := []struct {
		name    string
		tamper  []string // statements run against a valid log of n rows
		wantSeq int64    // the seq Verify names; 0 with ok for no break
		reason  string   // a word the reason holds
		rows    int64    // rows read up to the break
	}{
		{"alter outcome", []string{`UPDATE switchboard_log SET outcome = 'completed' WHERE seq = 6`}, 6, "altered", 6},
		{"alter at", []string{`UPDATE switchboard_log SET at = at + 1 WHERE seq = 5`}, 5, "altered", 5},
		{"alter detail", []string{`UPDATE switchboard_log SET detail = '{"pages":99}' WHERE seq = 4`}, 4, "altered", 4},
		{"null a column", []string{`UPDATE switchboard_log SET source = NULL WHERE seq = 5`}, 5, "altered", 5},
		{"alter event", []string{`UPDATE switchboard_log SET event = 'webhook_rejected' WHERE seq = 3`}, 3, "altered", 3},
		{"alter prev_hash", []string{`UPDATE switchboard_log SET prev_hash = 'genesis' WHERE seq = 5`}, 5, "prev_hash", 5},
		{"alter hash", []string{`UPDATE switchboard_log SET hash = 'feed' WHERE seq = 5`}, 5, "altered", 5},
		// The row after a removed one is named: its seq jumps.
		{"delete a middle row", []string{fmt.Sprintf(`DELETE FROM switchboard_log WHERE seq = %d`, mid)}, mid + 1, "jumps", mid},
		{"delete the first row", []string{`DELETE FROM switchboard_log WHERE seq = 1`}, 2, "jumps", 1},
		{"delete and renumber", []string{`DELETE FROM switchboard_log WHERE seq = 5`, `UPDATE switchboard_log SET seq = seq - 1 WHERE seq > 5`}, 5, "prev_hash", 5},
		{"forged row at the end", []string{fmt.Sprintf(`INSERT INTO switchboard_log (seq, at, event, prev_hash, hash)
			SELECT %d, at + 1, 'poll', hash, 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef' FROM switchboard_log WHERE seq = %d`, n+1, n)}, n + 1, "altered", n + 1},
		{"forged row after a gap", []string{fmt.Sprintf(`INSERT INTO switchboard_log (seq, at, event, prev_hash, hash) VALUES (%d, 1, 'poll', 'x', 'y')`, n+5)}, n + 5, "jumps", n + 1},
		{"forged row before the first", []string{`INSERT INTO switchboard_log (seq, at, event, prev_hash, hash) VALUES (0, 1, 'poll', 'genesis', 'made-up')`}, 0, "jumps", 1},
		{"forged row in the middle, later rows shifted", []string{
			`UPDATE switchboard_log SET seq = seq + 1000 WHERE seq > 5`,
			`UPDATE switchboard_log SET seq = seq - 999 WHERE seq > 1000`,
			`INSERT INTO switchboard_log (seq, at, event, prev_hash, hash) SELECT 6, at, 'poll', hash, 'made-up-hash' FROM switchboard_log WHERE seq = 5`,
		}, 6, "altered", 6},
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					st := openStore(t, d)
					l := newLog(t, st)
					ctx := context.Background()
					fill(t, l)
					for _, q := range tc.tamper {
						if _, err := st.DB().Exec(ctx, q); err != nil {
							t.Fatalf("%s: %v", q, err)
						}
					}
					rows, brk, err := l.Verify(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if brk == nil {
						t.Fatalf("no break found after %q", tc.tamper)
					}
					if brk.Seq != tc.wantSeq || !strings.Contains(brk.Reason, tc.reason) || rows != tc.rows {
						t.Fatalf("break %+v after %d rows, want seq %d (%q) after %d", brk, rows, tc.wantSeq, tc.reason, tc.rows)
					}
				})
			}
		})
	}
}

// TestVerifyMissesTruncation documents a known limit: removing the last
// row(s) leaves a shorter chain that is valid in itself, so Verify cannot
// tell it from a log that never had them. Detecting it needs an anchor
// outside the table (e.g. the head seq and hash kept elsewhere, or signed
// checkpoints). If that is added, this test should expect a break.
func TestVerifyMissesTruncation(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			ctx := context.Background()
			fill(t, l)
			if _, err := st.DB().Exec(ctx, `DELETE FROM switchboard_log WHERE seq > 7`); err != nil {
				t.Fatal(err)
			}
			rows, brk, err := l.Verify(ctx)
			if err != nil || brk != nil || rows != 7 {
				t.Fatalf("rows %d break %+v err %v", rows, brk, err)
			}
			t.Log("known limitation: removing the last rows is not detected by the chain alone")
		})
	}
}

func TestConcurrentAppends(t *testing.T) {
	const goroutines, each = 20, 5
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, goroutines*each)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						errs <- l.Append(ctx, transferlog.Row{Event: transferlog.EventPoll, Source: fmt.Sprintf("src-%d", g),
							Attempt: i + 1, Detail: map[string]any{"g": g, "i": i}})
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			rows, brk, err := l.Verify(ctx)
			if err != nil || brk != nil || rows != goroutines*each {
				t.Fatalf("rows %d break %+v err %v", rows, brk, err)
			}
		})
	}
}
