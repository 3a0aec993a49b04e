package transferlog_test

import (
	"context"
	"errors"
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

func openStore(t testing.TB, d store.Dialect) store.Store { return testenv.Store(t, d) }

func testMAC(t testing.TB) seal.MAC {
	t.Helper()
	mac, err := seal.NewMAC([]byte(strings.Repeat("m", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func newLog(t testing.TB, st store.Store) *transferlog.Log {
	t.Helper()
	return &transferlog.Log{Store: st, MAC: testMAC(t)}
}

const n = 10

var base = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

// fill stages n rows, every other one with a Detail and every column used
// somewhere, and chains them.
func fill(t testing.TB, l *transferlog.Log) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		row := transferlog.Row{At: base.Add(time.Duration(i) * time.Second), Event: transferlog.EventPoll,
			Direction: transferlog.Inbound, Source: "ehr", ResourceType: "Appointment", Outcome: "completed", Actor: "reconciler",
			LatencyMS: int64(i)}
		if i%2 == 0 {
			row = transferlog.Row{At: base.Add(time.Duration(i) * time.Second), Event: transferlog.EventDeliveryAttempt,
				TransferID: fmt.Sprintf("tr_%d", i), Direction: transferlog.Outbound, Source: "switchboard", Destination: "payments",
				Interaction: "update", SubjectHash: "abc123", Outcome: "failed", HTTPStatus: 503, Attempt: i, ErrorClass: "retryable",
				PayloadDigest: fmt.Sprintf("digest-%d", i%4), Detail: map[string]any{"pages": i, "error_code": "http_503", "manual": true}}
		}
		if err := l.Append(ctx, row); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func verify(t testing.TB, l *transferlog.Log, cp *transferlog.Checkpoint) transferlog.Report {
	t.Helper()
	rep, err := l.Verify(context.Background(), cp)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestStageChainVerify(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			ctx := context.Background()
			if rep := verify(t, l, nil); rep.Break != nil || rep.Rows != 0 || rep.Pending != 0 {
				t.Fatalf("empty log: %+v", rep)
			}
			// Staged rows are pending, not on the chain, until chained.
			if err := l.Append(ctx, transferlog.Row{Event: transferlog.EventPoll}); err != nil {
				t.Fatal(err)
			}
			if rep := verify(t, l, nil); rep.Break != nil || rep.Rows != 0 || rep.Pending != 1 {
				t.Fatalf("one staged row: %+v", rep)
			}
			if _, err := st.DB().Exec(ctx, `DELETE FROM switchboard_log_queue`); err != nil {
				t.Fatal(err)
			}
			fill(t, l)
			rep := verify(t, l, nil)
			if rep.Break != nil || rep.Rows != n || rep.Pending != 0 || rep.Head.Seq != n || rep.Head.Hash == "" {
				t.Fatalf("Verify: %+v", rep)
			}
			// Zero fields are stored as NULL, Detail as JSON.
			var nulls int
			if err := st.DB().QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_log WHERE transfer_id IS NULL AND http_status IS NULL AND detail IS NULL AND payload_digest IS NULL`).Scan(&nulls); err != nil {
				t.Fatal(err)
			}
			if nulls != n/2 {
				t.Fatalf("%d rows with NULL columns, want %d", nulls, n/2)
			}
			var detail, prev, digest string
			if err := st.DB().QueryRow(ctx, `SELECT detail, payload_digest FROM switchboard_log WHERE seq = 2`).Scan(&detail, &digest); err != nil {
				t.Fatal(err)
			}
			if detail != `{"error_code":"http_503","manual":true,"pages":2}` || digest != "digest-2" {
				t.Fatalf("detail %s, digest %s", detail, digest)
			}
			if err := st.DB().QueryRow(ctx, `SELECT prev_hash FROM switchboard_log WHERE seq = 1`).Scan(&prev); err != nil {
				t.Fatal(err)
			}
			if prev != "genesis" {
				t.Fatalf("first prev_hash %q", prev)
			}
			// Rows were chained in the order they were staged.
			rows, err := l.Query(ctx, transferlog.Filter{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rows {
				if r.Seq != int64(i+1) || !r.At.Equal(base.Add(time.Duration(i+1)*time.Second)) || r.Hash == "" || (i > 0 && r.PrevHash != rows[i-1].Hash) {
					t.Fatalf("row %d: seq %d at %s", i, r.Seq, r.At)
				}
			}
			// Another key does not verify the chain.
			other, _ := seal.NewMAC([]byte(strings.Repeat("x", 32)))
			if rep := verify(t, &transferlog.Log{Store: st, MAC: other}, nil); rep.Break == nil || rep.Break.Seq != 1 {
				t.Fatalf("verify with another key: %+v", rep)
			}
		})
	}
}

// TestStageInTransaction shows the point of staging: rows staged in a
// transaction that rolls back never reach the log.
func TestStageInTransaction(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			ctx := context.Background()
			rows := make([]transferlog.Row, 1203) // three INSERT chunks
			for i := range rows {
				rows[i] = transferlog.Row{Event: transferlog.EventAccepted, Attempt: i + 1}
			}
			_ = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				if err := transferlog.Stage(ctx, tx, rows[:5]...); err != nil {
					t.Fatal(err)
				}
				return fmt.Errorf("roll back")
			})
			if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				return transferlog.Stage(ctx, tx, rows...)
			}); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := l.Query(ctx, transferlog.Filter{}, 2000)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(rows) {
				t.Fatalf("%d rows chained, want %d", len(got), len(rows))
			}
			for i, r := range got {
				if r.Attempt != i+1 {
					t.Fatalf("row %d has attempt %d: not in staging order", i, r.Attempt)
				}
			}
			if rep := verify(t, l, nil); rep.Break != nil || rep.Rows != int64(len(rows)) {
				t.Fatalf("%+v", rep)
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
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var at int64
	if err := st.DB().QueryRow(ctx, `SELECT at FROM switchboard_log`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if at < before || at > time.Now().UnixMicro() {
		t.Fatalf("at %d not now", at)
	}
	if rep := verify(t, l, nil); rep.Break != nil {
		t.Fatalf("%+v", rep)
	}
	if err := l.Append(ctx, transferlog.Row{Event: "x", Detail: map[string]any{"bad": func() {}}}); err == nil {
		t.Fatal("a Detail that is not JSON was staged")
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	const mid = n / 2
	cases := []struct {
		name    string
		tamper  []string // statements run against a valid log of n rows
		wantSeq int64    // the seq Verify names
		reason  string   // words the reason holds
		rows    int64    // rows read up to the break
	}{
		{"alter outcome", []string{`UPDATE switchboard_log SET outcome = 'completed' WHERE seq = 6`}, 6, "altered", 6},
		{"alter at", []string{`UPDATE switchboard_log SET at = at + 1 WHERE seq = 5`}, 5, "altered", 5},
		{"alter detail", []string{`UPDATE switchboard_log SET detail = '{"pages":99}' WHERE seq = 4`}, 4, "altered", 4},
		{"alter payload digest", []string{`UPDATE switchboard_log SET payload_digest = 'other' WHERE seq = 4`}, 4, "altered", 4},
		{"remove payload digest", []string{`UPDATE switchboard_log SET payload_digest = NULL WHERE seq = 4`}, 4, "altered", 4},
		{"null a column", []string{`UPDATE switchboard_log SET source = NULL WHERE seq = 5`}, 5, "altered", 5},
		{"alter event", []string{`UPDATE switchboard_log SET event = 'webhook_rejected' WHERE seq = 3`}, 3, "altered", 3},
		{"alter prev_hash", []string{`UPDATE switchboard_log SET prev_hash = 'genesis' WHERE seq = 5`}, 5, "prev_hash", 5},
		{"alter hash", []string{`UPDATE switchboard_log SET hash = 'feed' WHERE seq = 5`}, 5, "altered", 5},
		{"alter the last row", []string{`UPDATE switchboard_log SET outcome = 'x' WHERE seq = 10`}, 10, "altered", 10},
		// The row after a removed one is named, and the reason names the missing one.
		{"delete a middle row", []string{fmt.Sprintf(`DELETE FROM switchboard_log WHERE seq = %d`, mid)}, mid + 1, "row 5 is missing", mid},
		{"delete middle rows", []string{`DELETE FROM switchboard_log WHERE seq IN (4, 5, 6)`}, 7, "rows 4 to 6 are missing", 4},
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
		// Truncation: the chain that is left holds, the head does not.
		{"delete the last row", []string{`DELETE FROM switchboard_log WHERE seq = 10`}, 10, "rows after 9 were removed (the head names row 10)", 9},
		{"delete the last rows", []string{`DELETE FROM switchboard_log WHERE seq > 7`}, 8, "rows after 7 were removed (the head names row 10)", 7},
		{"delete every row", []string{`DELETE FROM switchboard_log`}, 1, "rows after 0 were removed", 0},
		{"delete the head", []string{`DELETE FROM switchboard_log_head`}, 10, "the chain head is missing", 10},
		{"delete the last rows and the head", []string{`DELETE FROM switchboard_log WHERE seq > 7`, `DELETE FROM switchboard_log_head`}, 7, "the chain head is missing", 7},
		{"move the head back", []string{`UPDATE switchboard_log_head SET seq = 7, hash = (SELECT hash FROM switchboard_log WHERE seq = 7)`}, 10, "MAC does not verify", 10},
		{"replace the last row, head kept", []string{`DELETE FROM switchboard_log WHERE seq = 10`,
			`INSERT INTO switchboard_log (seq, at, event, prev_hash, hash) SELECT 10, at, 'poll', hash, 'made-up' FROM switchboard_log WHERE seq = 9`}, 10, "altered", 10},
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
					rep := verify(t, l, nil)
					if rep.Break == nil {
						t.Fatalf("no break found after %q", tc.tamper)
					}
					if rep.Break.Seq != tc.wantSeq || !strings.Contains(rep.Break.Reason, tc.reason) || rep.Rows != tc.rows {
						t.Fatalf("break %+v after %d rows, want seq %d (%q) after %d", rep.Break, rep.Rows, tc.wantSeq, tc.reason, tc.rows)
					}
				})
			}
		})
	}
}

// TestChainKeepsTruncationVisible removes the newest rows and lets the
// chainer run: it must not chain new rows over the hole (which would make
// the log verify again) but refuse, keeping new events staged.
func TestChainKeepsTruncationVisible(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			ctx := context.Background()
			fill(t, l)
			if _, err := st.DB().Exec(ctx, `DELETE FROM switchboard_log WHERE seq > 8`); err != nil {
				t.Fatal(err)
			}
			if err := l.Append(ctx, transferlog.Row{Event: transferlog.EventAuditRead}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Chain(ctx); !errors.Is(err, transferlog.ErrHeadMismatch) {
				t.Fatalf("Chain over a truncated log: %v", err)
			}
			rep := verify(t, l, nil)
			if rep.Break == nil || rep.Break.Seq != 9 || rep.Pending != 1 {
				t.Fatalf("after a refused chain: %+v", rep)
			}
		})
	}
}

// TestChainRefusesALogWithoutHead: rows without a head mean the head was
// deleted, perhaps with rows from the end; adopting the last row would
// hide that, so the chainer refuses and new rows stay staged.
func TestChainRefusesALogWithoutHead(t *testing.T) {
	st := openStore(t, store.SQLite)
	l := newLog(t, st)
	ctx := context.Background()
	fill(t, l)
	if _, err := st.DB().Exec(ctx, `DELETE FROM switchboard_log_head`); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, transferlog.Row{Event: transferlog.EventPoll}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Chain(ctx); !errors.Is(err, transferlog.ErrHeadMismatch) {
		t.Fatalf("Chain without a head: %v", err)
	}
	if rep := verify(t, l, nil); rep.Break == nil || rep.Break.Seq != n || rep.Pending != 1 {
		t.Fatalf("%+v", rep)
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			ctx := context.Background()
			fill(t, l)
			rows, err := l.Query(ctx, transferlog.Filter{After: 3}, 1)
			if err != nil || len(rows) != 1 {
				t.Fatal(rows, err)
			}
			good := transferlog.Checkpoint{Seq: 4, Hash: rows[0].Hash}
			cases := []struct {
				name    string
				cp      transferlog.Checkpoint
				wantSeq int64 // 0: no break
				reason  string
			}{
				{"matches", good, 0, ""},
				{"the head itself", transferlog.Checkpoint{Seq: n, Hash: verify(t, l, nil).Head.Hash}, 0, ""},
				{"other hash", transferlog.Checkpoint{Seq: 4, Hash: "rewritten"}, 4, "not the checkpoint's"},
				{"row past the end", transferlog.Checkpoint{Seq: n + 3, Hash: good.Hash}, n + 3, "not in the log"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					rep := verify(t, l, &tc.cp)
					switch {
					case tc.wantSeq == 0 && rep.Break != nil:
						t.Fatalf("break %+v", rep.Break)
					case tc.wantSeq != 0 && (rep.Break == nil || rep.Break.Seq != tc.wantSeq || !strings.Contains(rep.Break.Reason, tc.reason)):
						t.Fatalf("break %+v, want row %d (%q)", rep.Break, tc.wantSeq, tc.reason)
					}
				})
			}
			if _, err := l.Verify(ctx, &transferlog.Checkpoint{Seq: 0}); err == nil {
				t.Fatal("checkpoint row 0 accepted")
			}
		})
	}
}

// TestConcurrentChainers stages and chains from many goroutines at once
// (several chainers, as several hub processes run them): the chain never
// forks, skips or repeats a row.
func TestConcurrentChainers(t *testing.T) {
	const stagers, each, chainers = 20, 50, 6
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, d)
			l := newLog(t, st)
			ctx := context.Background()
			var wg, chainWG sync.WaitGroup
			errs := make(chan error, stagers*each+chainers)
			stop := make(chan struct{})
			for range chainers {
				chainWG.Add(1)
				go func() {
					defer chainWG.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := l.Chain(ctx); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for g := range stagers {
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
			close(stop)
			chainWG.Wait()
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			rep := verify(t, l, nil)
			if rep.Break != nil || rep.Rows != stagers*each || rep.Pending != 0 || rep.Head.Seq != stagers*each {
				t.Fatalf("%+v", rep)
			}
			// Every staged row is on the chain exactly once, each stager's
			// rows in its order.
			seen := map[[2]int]bool{}
			next := map[string]int{}
			if err := l.Each(ctx, transferlog.Filter{}, func(r transferlog.Row) error {
				k := [2]int{int(r.Detail["g"].(float64)), int(r.Detail["i"].(float64))}
				if seen[k] {
					return fmt.Errorf("row %v chained twice", k)
				}
				seen[k] = true
				if r.Attempt != next[r.Source]+1 {
					return fmt.Errorf("%s: attempt %d after %d", r.Source, r.Attempt, next[r.Source])
				}
				next[r.Source] = r.Attempt
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(seen) != stagers*each {
				t.Fatalf("%d distinct rows", len(seen))
			}
		})
	}
}

// TestRunChainer chains in the background and once more on the way out.
func TestRunChainer(t *testing.T) {
	st := openStore(t, store.SQLite)
	l := newLog(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.RunChainer(ctx, 10*time.Millisecond) }()
	if err := l.Append(ctx, transferlog.Row{Event: transferlog.EventPoll}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for verify(t, l, nil).Rows != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the chainer did not chain a staged row")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Staged just before shutdown: chained by the last pass.
	cancel()
	if err := l.Append(context.Background(), transferlog.Row{Event: transferlog.EventPoll}); err != nil {
		t.Fatal(err)
	}
	<-done
	if rep := verify(t, l, nil); rep.Rows+rep.Pending != 2 || rep.Break != nil {
		t.Fatalf("%+v", rep)
	}
}
