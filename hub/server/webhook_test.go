package server_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/connectors/calcom"
	"github.com/switchboard-health/switchboard/connectors/stripe"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// webhookRoutes: Stripe and Cal.com take webhooks with two secrets each
// (a rotation in progress); payments land at the EHR as PaymentNotices,
// bookings as Appointments at the EHR and (never back) at Cal.com.
const webhookRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  payments:
    type: stripe
    config: {base_url: %[2]q, api_key_env: STRIPE_KEY_FOR_TEST, webhook_secrets_env: [WEBHOOK_SECRET_OLD, WEBHOOK_SECRET_NEW]}
  scheduling:
    type: calcom
    config: {base_url: "{{CALCOM}}", api_key_env: VENDOR_KEY_FOR_TEST, event_type_id: 1001, time_zone: UTC, slot_minutes: 30,
      webhook_secrets_env: [WEBHOOK_SECRET_NEW]}
routes:
  - {resource: PaymentNotice, to: [ehr]}
  - {resource: Appointment, to: [ehr, scheduling]}
`

func webhookSample(t *testing.T, vendor, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", vendor, "webhook", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWebhooksIn: signed webhooks are verified (either secret of a
// rotation), de-duplicated (five concurrent deliveries of one event, one
// effect), mapped to FHIR and routed, never back to the vendor they came
// from; forged, tampered, stale and rotated-out requests get 401 and a
// row, nothing else; the hub's own booking coming back is dropped.
func TestWebhooksIn(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			cal := calsim.New(calsim.Options{})
			calSrv := httptest.NewServer(cal)
			t.Cleanup(calSrv.Close)
			h := startWith(t, dialect, strings.ReplaceAll(webhookRoutes, "{{CALCOM}}", calSrv.URL))

			post := func(path string, body []byte, header http.Header) int {
				req, _ := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
				req.Header = header
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			stripeHeader := func(body []byte, at time.Time, secret string) http.Header {
				return http.Header{"Content-Type": {"application/json"}, "Stripe-Signature": {stripe.SignWebhook(at, body, secret)}}
			}

			// Five concurrent deliveries of one event, signed with the new secret.
			event := webhookSample(t, "stripe", "webhook-payment-intent-succeeded.json")
			var wg sync.WaitGroup
			codes := make([]int, 5)
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = post("/webhooks/payments", event, stripeHeader(event, time.Now(), "whsec_test_new_secret"))
				}()
			}
			wg.Wait()
			for _, c := range codes {
				if c != http.StatusOK {
					t.Fatalf("webhook answers %v, want 200 each", codes)
				}
			}
			// The old secret still verifies during the rotation (same event: a duplicate).
			if c := post("/webhooks/payments", event, stripeHeader(event, time.Now(), "whsec_test_old_secret")); c != http.StatusOK {
				t.Fatalf("old secret: %d", c)
			}
			notices := waitCount(t, func() int { return len(h.ehrSearch("PaymentNotice")) }, 1, 10*time.Second)
			if notices != 1 {
				t.Fatalf("EHR has %d PaymentNotices, want 1", notices)
			}

			// Rejections: forged, tampered, stale, rotated out, missing.
			tampered := bytes.Replace(event, []byte("12500"), []byte("12501"), 1)
			for name, c := range map[string]struct {
				body   []byte
				header http.Header
			}{
				"forged":      {event, stripeHeader(event, time.Now(), "whsec_forger")},
				"tampered":    {tampered, stripeHeader(event, time.Now(), "whsec_test_new_secret")},
				"stale":       {event, stripeHeader(event, time.Now().Add(-10*time.Minute), "whsec_test_new_secret")},
				"rotated out": {event, stripeHeader(event, time.Now(), "whsec_test_retired_secret")},
				"unsigned":    {event, http.Header{"Content-Type": {"application/json"}}},
			} {
				if code := post("/webhooks/payments", c.body, c.header); code != http.StatusUnauthorized {
					t.Fatalf("%s: %d, want 401", name, code)
				}
			}
			if code := post("/webhooks/nosuch", event, stripeHeader(event, time.Now(), "whsec_test_new_secret")); code != http.StatusNotFound {
				t.Fatalf("unknown source: %d", code)
			}
			// Rejections are unauthenticated: counted, not stored one row each.
			rows := webhookRows(t, h)
			if rows["accepted"] != 1 || rows["duplicate"] != 5 || rows["rejected"] != 0 {
				t.Fatalf("webhook rows %v, want 1 accepted, 5 duplicate, no rejected", rows)
			}
			// The transfer log has one row per reason with its count, and
			// nothing from the body: forged, tampered and rotated out are
			// bad signatures, stale a stale timestamp, unsigned a missing one.
			h.flushLog()
			logged := map[string]float64{}
			lrows, err := h.hub.Store.DB().Query(t.Context(), `SELECT detail FROM switchboard_log
				WHERE event = 'webhook_rejected' AND source = 'payments' AND http_status = 401`)
			if err != nil {
				t.Fatal(err)
			}
			for lrows.Next() {
				var d string
				if err := lrows.Scan(&d); err != nil {
					t.Fatal(err)
				}
				var m struct {
					Reason string
					Count  float64
				}
				if err := json.Unmarshal([]byte(d), &m); err != nil {
					t.Fatal(err)
				}
				logged[m.Reason] += m.Count
			}
			lrows.Close()
			if want := map[string]float64{"bad_signature": 3, "stale_timestamp": 1, "missing_signature": 1}; !maps.Equal(logged, want) {
				t.Fatalf("transfer log's rejected webhooks by reason: %v, want %v", logged, want)
			}
			// And each one taken in: 1 accepted, 5 duplicates.
			for outcome, want := range map[string]int{"accepted": 1, "duplicate": 5} {
				var n int
				if err := h.hub.Store.DB().QueryRow(t.Context(), `SELECT count(*) FROM switchboard_log
					WHERE event = 'webhook_received' AND source = 'payments' AND outcome = $1 AND actor = 'webhook:payments'`, outcome).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != want {
					t.Fatalf("transfer log has %d %s webhooks, want %d", n, outcome, want)
				}
			}

			// A booking made in Cal.com reaches the EHR once, not Cal.com again.
			booking := webhookSample(t, "calcom", "webhook-created.json")
			calHeader := http.Header{"Content-Type": {"application/json"}, "X-Cal-Signature-256": {calcom.SignWebhook("whsec_test_new_secret", booking)}}
			for range 3 {
				if c := post("/webhooks/scheduling", booking, calHeader); c != http.StatusOK {
					t.Fatalf("cal.com webhook: %d", c)
				}
			}
			if n := waitCount(t, func() int { return len(h.ehrSearch("Appointment")) }, 1, 10*time.Second); n != 1 {
				t.Fatalf("EHR has %d Appointments, want 1", n)
			}
			// The hub's own booking coming back: dropped.
			own := webhookSample(t, "calcom", "webhook-created-by-hub.json")
			if c := post("/webhooks/scheduling", own, http.Header{"Content-Type": {"application/json"},
				"X-Cal-Signature-256": {calcom.SignWebhook("whsec_test_new_secret", own)}}); c != http.StatusOK {
				t.Fatalf("own booking webhook: %d", c)
			}
			time.Sleep(500 * time.Millisecond)
			if n := len(h.ehrSearch("Appointment")); n != 1 {
				t.Fatalf("EHR has %d Appointments after the hub's own booking came back, want 1", n)
			}
			if n := len(cal.Received()); n != 0 {
				t.Fatalf("Cal.com received %d writes from its own webhooks", n)
			}
			if strings.Contains(h.logs.String(), "Zzclinical") {
				t.Fatal("webhook body content reached the logs")
			}
		})
	}
}

// waitCount polls f until it returns want or the timeout, and returns its
// last value.
func waitCount(t *testing.T, f func() int, want int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := f()
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// webhookRows counts the webhook table's rows by outcome.
func webhookRows(t *testing.T, h *harness) map[string]int {
	t.Helper()
	rows, err := h.hub.Store.DB().Query(t.Context(), `SELECT outcome, COUNT(*) FROM switchboard_webhook GROUP BY outcome`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var o string
		var n int
		if err := rows.Scan(&o, &n); err != nil {
			t.Fatal(err)
		}
		out[o] = n
	}
	return out
}
