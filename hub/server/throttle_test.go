package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors/stripe"
	"github.com/switchboard-health/switchboard/hub/auth"
)

// TestInboundLimits: an API client created with its own rate gets 429
// with Retry-After and an OperationOutcome (throttled) past it, while
// other clients go on; a webhook source past its rate gets 429 with
// Retry-After for verified events, and forged requests (401) do not spend
// its allowance.
func TestInboundLimits(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			// Cal.com is never called here.
			h := startWithEnv(t, dialect, strings.ReplaceAll(webhookRoutes, "{{CALCOM}}", "http://127.0.0.1:9"), map[string]string{
				"SWITCHBOARD_WEBHOOK_RATE": "0.01", "SWITCHBOARD_WEBHOOK_BURST": "1",
			})
			_, slow, err := (&auth.Clients{DB: h.hub.Store.DB()}).Create(context.Background(), "slow importer", auth.RoleApp,
				[]string{"system/Patient.cu"}, auth.WithRateLimit(0.01, 2))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				if r := h.do(http.MethodGet, "/transfers/tr_none", "", "", "Authorization", "Bearer "+slow); r.status != http.StatusNotFound {
					t.Fatalf("request %d within the client's burst: %d %s", i+1, r.status, r.body)
				}
			}
			r := h.do(http.MethodGet, "/transfers/tr_none", "", "", "Authorization", "Bearer "+slow)
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("past the client's burst: %d %s, want 429", r.status, r.body)
			}
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 90 || ra > 100 {
				t.Errorf("Retry-After %q, want about 100 s (one request per 100 s)", r.header.Get("Retry-After"))
			}
			var oo struct {
				ResourceType string                  `json:"resourceType"`
				Issue        []struct{ Code string } `json:"issue"`
			}
			if json.Unmarshal(r.body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 || oo.Issue[0].Code != "throttled" {
				t.Errorf("429 body is not an OperationOutcome with a throttled issue: %s", r.body)
			}
			if r := h.do(http.MethodGet, "/transfers/tr_none", "", ""); r.status != http.StatusNotFound {
				t.Errorf("another client (the hub's default limit): %d", r.status)
			}

			post := func(body []byte, sig string) *http.Response {
				req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/payments", bytes.NewReader(body))
				req.Header = http.Header{"Content-Type": {"application/json"}, "Stripe-Signature": {sig}}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			first := webhookSample(t, "stripe", "webhook-payment-intent-succeeded.json")
			second := bytes.Replace(first, []byte(`"id": "evt_`), []byte(`"id": "evt_second_`), 1)
			if bytes.Equal(first, second) {
				t.Fatal("could not make a second event")
			}
			for i := 0; i < 3; i++ {
				if resp := post(first, stripe.SignWebhook(time.Now(), first, "whsec_not_the_secret")); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("forged webhook: %d, want 401", resp.StatusCode)
				}
			}
			if resp := post(first, stripe.SignWebhook(time.Now(), first, "whsec_test_new_secret")); resp.StatusCode != http.StatusOK {
				t.Fatalf("the source's first verified webhook after forged ones: %d, want 200", resp.StatusCode)
			}
			resp := post(second, stripe.SignWebhook(time.Now(), second, "whsec_test_new_secret"))
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("past the source's burst: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			var stored int
			if err := h.hub.Store.DB().QueryRow(context.Background(),
				`SELECT COUNT(*) FROM switchboard_webhook WHERE source = 'payments' AND outcome = 'accepted'`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored != 1 {
				t.Errorf("%d webhooks stored; the throttled one must not be", stored)
			}
			if n := counterValue(gather(t, h.hub), "switchboard_inbound_throttled_total", "kind", "webhook"); n != 1 {
				t.Errorf("switchboard_inbound_throttled_total{kind=webhook} = %v, want 1", n)
			}
			if n := counterValue(gather(t, h.hub), "switchboard_inbound_throttled_total", "kind", "api"); n != 1 {
				t.Errorf("switchboard_inbound_throttled_total{kind=api} = %v, want 1", n)
			}
		})
	}
}
