package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAuditVerifyNamesTampering alters, inserts and deletes transfer-log
// rows straight in the database, as someone with database access but not
// the hub's key could, and checks that /audit/verify (what `switchboard
// audit verify` calls) fails and names the row each time, and that the
// untouched log verifies.
func TestAuditVerifyNamesTampering(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			h := startWith(t, d, adminRoutes)
			for i := range 3 {
				r := h.post("/fhir/R4/Patient", fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Tamper%d"}]}`, i))
				if st := h.waitFor(r.header.Get("Content-Location"), 20*time.Second); st.State != "delivered" {
					t.Fatalf("transfer %d: %s", i, st.State)
				}
			}
			// Nothing else appends meanwhile: each verify's own audit_read
			// row is chained before the next edit.
			ctx := context.Background()
			if err := h.hub.Log.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			db := h.hub.Store.DB()
			verify := func() (ok bool, seq int64, reason string) {
				t.Helper()
				var v struct {
					OK    bool `json:"ok"`
					Break *struct {
						Seq    int64  `json:"seq"`
						Reason string `json:"reason"`
					} `json:"break"`
				}
				h.decode(h.as(h.auditorToken, http.MethodGet, "/audit/verify", ""), http.StatusOK, &v)
				// The verify itself staged an audit_read row: chain it now
				// (the chainer refuses while the end of the log is tampered
				// with; the row then waits in the queue).
				_ = h.hub.Log.Flush(ctx)
				if v.Break != nil {
					return v.OK, v.Break.Seq, v.Break.Reason
				}
				return v.OK, 0, ""
			}
			if ok, seq, why := verify(); !ok {
				t.Fatalf("untouched log: broken at %d: %s", seq, why)
			}
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := db.Exec(ctx, q, args...); err != nil {
					t.Fatal(err)
				}
			}
			var outcome string
			if err := db.QueryRow(ctx, `SELECT outcome FROM switchboard_log WHERE seq = 3`).Scan(&outcome); err != nil {
				t.Fatal(err)
			}

			// Altered.
			exec(`UPDATE switchboard_log SET outcome = 'delivered-not' WHERE seq = 3`)
			if ok, seq, why := verify(); ok || seq != 3 {
				t.Fatalf("altered row 3: ok=%v, named %d (%s)", ok, seq, why)
			} else {
				t.Logf("altered: row %d: %s", seq, why)
			}
			exec(`UPDATE switchboard_log SET outcome = $1 WHERE seq = 3`, outcome)
			if ok, seq, why := verify(); !ok {
				t.Fatalf("restored: broken at %d: %s", seq, why)
			}

			// Inserted in the middle: a forged row takes row 4's place and
			// every later row moves up one.
			var max int64
			if err := db.QueryRow(ctx, `SELECT MAX(seq) FROM switchboard_log`).Scan(&max); err != nil {
				t.Fatal(err)
			}
			exec(`UPDATE switchboard_log SET seq = seq + 1000000 WHERE seq >= 4`)
			exec(`UPDATE switchboard_log SET seq = seq - 999999 WHERE seq >= 1000000`)
			exec(`INSERT INTO switchboard_log (seq, at, event, outcome, prev_hash, hash)
				SELECT 4, at, 'delivery_attempt', 'delivered', hash, 'forged' FROM switchboard_log WHERE seq = 3`)
			if ok, seq, why := verify(); ok || seq != 4 {
				t.Fatalf("inserted row 4: ok=%v, named %d (%s)", ok, seq, why)
			} else {
				t.Logf("inserted: row %d: %s", seq, why)
			}
			exec(`DELETE FROM switchboard_log WHERE seq = 4`)
			exec(`UPDATE switchboard_log SET seq = seq + 1000000 WHERE seq >= 5`)
			exec(`UPDATE switchboard_log SET seq = seq - 1000001 WHERE seq >= 1000000`)
			if ok, seq, why := verify(); !ok {
				t.Fatalf("insert undone: broken at %d: %s", seq, why)
			}

			// Removed from the middle, then from the end.
			exec(`DELETE FROM switchboard_log WHERE seq = 5`)
			if ok, seq, why := verify(); ok || (seq != 5 && seq != 6) || !strings.Contains(why, "5") {
				t.Fatalf("removed row 5: ok=%v, named %d (%s)", ok, seq, why)
			} else {
				t.Logf("removed: row %d: %s", seq, why)
			}
		})
	}
}

// TestAuditVerifyNamesTruncation removes the newest rows: the chain alone
// cannot see that, the MAC'd head can.
func TestAuditVerifyNamesTruncation(t *testing.T) {
	h := startWith(t, dialectSQLite, adminRoutes)
	r := h.post("/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"Truncate"}]}`)
	h.waitFor(r.header.Get("Content-Location"), 20*time.Second)
	ctx := context.Background()
	if err := h.hub.Log.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var max int64
	db := h.hub.Store.DB()
	if err := db.QueryRow(ctx, `SELECT MAX(seq) FROM switchboard_log`).Scan(&max); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM switchboard_log WHERE seq >= $1`, max-1); err != nil {
		t.Fatal(err)
	}
	var v struct {
		OK    bool `json:"ok"`
		Break *struct {
			Seq    int64  `json:"seq"`
			Reason string `json:"reason"`
		} `json:"break"`
	}
	h.decode(h.as(h.auditorToken, http.MethodGet, "/audit/verify", ""), http.StatusOK, &v)
	if v.OK || v.Break == nil || v.Break.Seq != max-1 {
		t.Fatalf("last two rows removed: %+v (want row %d named)", v, max-1)
	}
	t.Logf("truncated: row %d: %s", v.Break.Seq, v.Break.Reason)
}
