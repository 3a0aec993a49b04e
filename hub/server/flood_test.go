package server_test

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// floodRoutes: Stripe takes webhooks (two secrets), routed to the EHR.
const floodRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  payments:
    type: stripe
    config: {base_url: %[2]q, api_key_env: STRIPE_KEY_FOR_TEST, webhook_secrets_env: [WEBHOOK_SECRET_OLD, WEBHOOK_SECRET_NEW]}
routes:
  - {resource: PaymentNotice, to: [ehr]}
`

// storage is what a flood could grow: the webhook table's and the
// transfer log's rows (chained and staged), and the bytes of the tables
// (PostgreSQL) or of the whole database (SQLite's page count).
type storage struct {
	webhookRows, logRows, bytes int64
}

func measure(t *testing.T, h *harness) storage {
	t.Helper()
	ctx := context.Background()
	db := h.hub.Store.DB()
	var s storage
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_webhook`).Scan(&s.webhookRows); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM switchboard_log) + (SELECT COUNT(*) FROM switchboard_log_queue)`).Scan(&s.logRows); err != nil {
		t.Fatal(err)
	}
	if h.pgURL != "" {
		if err := db.QueryRow(ctx, `SELECT pg_total_relation_size('switchboard_webhook') + pg_total_relation_size('switchboard_log')
			+ pg_total_relation_size('switchboard_log_queue')`).Scan(&s.bytes); err != nil {
			t.Fatal(err)
		}
	} else {
		var pages, size int64
		if err := db.QueryRow(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
			t.Fatal(err)
		}
		s.bytes = pages * size
	}
	return s
}

// TestUnsignedWebhookFloodCostsNothing sends 10,000 unsigned webhooks to
// a source that takes them (issue 14 §2: 1,000 of them had written 1,000
// webhook rows and 1,000 transfer-log rows in 0.7 s). Every one is
// refused 401 and counted in switchboard_webhook_rejected_total; storage
// grows by one transfer-log row per source and reason per minute, and the
// audit chain still verifies.
func TestUnsignedWebhookFloodCostsNothing(t *testing.T) {
	const flood, senders = 10000, 8
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			h := startWith(t, dialect, floodRoutes)
			h.flushLog()
			before := measure(t, h)

			body := `{"id":"evt_flood","type":"payment_intent.succeeded","data":{"object":{"amount":12500}}}`
			var next, refused atomic.Int64
			var wrong sync.Map
			var wg sync.WaitGroup
			start := time.Now()
			for range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= flood {
						resp, err := http.Post(h.url+"/webhooks/payments", "application/json", strings.NewReader(body))
						if err != nil {
							wrong.Store(err.Error(), true)
							continue
						}
						resp.Body.Close()
						if resp.StatusCode == http.StatusUnauthorized {
							refused.Add(1)
						} else {
							wrong.Store(resp.StatusCode, true)
						}
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			wrong.Range(func(k, _ any) bool { t.Errorf("an unsigned webhook was answered %v, want 401", k); return true })
			if refused.Load() != flood {
				t.Fatalf("%d of %d unsigned webhooks refused", refused.Load(), flood)
			}

			// An oversize body and an unknown source are refused the same
			// way: counted under their own reason.
			for path, want := range map[string]int{"/webhooks/payments": http.StatusRequestEntityTooLarge, "/webhooks/nosuch": http.StatusNotFound} {
				b := body
				if want == http.StatusRequestEntityTooLarge {
					b = strings.Repeat(" ", 1<<20+1)
				}
				resp, err := http.Post(h.url+path, "application/json", strings.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
				}
			}

			// What the minute's flush would write, now.
			h.flushLog()
			after := measure(t, h)
			t.Logf("%s: %d unsigned webhooks in %s: switchboard_webhook %d -> %d rows, transfer log %d -> %d rows, %d -> %d bytes (%+d)",
				dialect, flood, took.Round(time.Millisecond), before.webhookRows, after.webhookRows, before.logRows, after.logRows,
				before.bytes, after.bytes, after.bytes-before.bytes)
			// The figures of make chaos's "webhook-flood" (RELIABILITY.md).
			testenv.Figure(t, "webhook-flood", dialect+": unsigned webhooks sent", float64(flood), "requests")
			testenv.Figure(t, "webhook-flood", dialect+": time to refuse them all", float64(took.Milliseconds())/1000, "s")
			testenv.Figure(t, "webhook-flood", dialect+": switchboard_webhook rows added", float64(after.webhookRows-before.webhookRows), "rows")
			testenv.Figure(t, "webhook-flood", dialect+": transfer-log rows added", float64(after.logRows-before.logRows), "rows")
			testenv.Figure(t, "webhook-flood", dialect+": database growth", float64(after.bytes-before.bytes)/1024, "KiB")
			if after.webhookRows != before.webhookRows {
				t.Errorf("switchboard_webhook grew by %d rows, want 0", after.webhookRows-before.webhookRows)
			}
			// One row per source and reason (payments missing_signature,
			// payments oversize, unknown_source) per flush; a minute's
			// tick during the flood can split the first in two.
			if grew := after.logRows - before.logRows; grew < 3 || grew > 4 {
				t.Errorf("transfer log grew by %d rows, want 3 (at most 4)", grew)
			}
			var counted int64
			if err := h.hub.Store.DB().QueryRow(context.Background(), `SELECT CAST(COALESCE(SUM(CAST(`+jsonField(dialect, "detail", "count")+` AS BIGINT)), 0) AS BIGINT)
				FROM switchboard_log WHERE event = 'webhook_rejected' AND source = 'payments' AND `+jsonField(dialect, "detail", "reason")+` = 'missing_signature'`).Scan(&counted); err != nil {
				t.Fatal(err)
			}
			if counted != flood {
				t.Errorf("the transfer log's rejection rows count %d requests, want %d", counted, flood)
			}

			rep, err := h.hub.Log.Verify(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Break != nil || rep.Pending != 0 {
				t.Fatalf("audit verify after the flood: %+v", rep)
			}

			got := map[string]float64{}
			if v := scrape(t, h.url)["switchboard_webhook_rejected_total"]; v != nil {
				for _, m := range v.GetMetric() {
					labels := map[string]string{}
					for _, l := range m.GetLabel() {
						labels[l.GetName()] = l.GetValue()
					}
					got[labels["source"]+"/"+labels["reason"]] = m.GetCounter().GetValue()
				}
			}
			if want := map[string]float64{"payments/missing_signature": flood, "payments/oversize": 1, "/unknown_source": 1}; !maps.Equal(got, want) {
				t.Fatalf("switchboard_webhook_rejected_total by source/reason = %v, want %v", got, want)
			}
		})
	}
}

// jsonField reads a top-level field of a JSON text column.
func jsonField(dialect, column, field string) string {
	if dialect == dialectPostgres {
		return "CAST(" + column + " AS jsonb)->>'" + field + "'"
	}
	return "json_extract(" + column + ", '$." + field + "')"
}
