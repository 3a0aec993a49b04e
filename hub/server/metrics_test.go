package server_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchboard-health/switchboard/connectors/stripe"
)

// metricsRoutes has a polled EHR and Stripe taking webhooks, so that every
// family has something to count.
const metricsRoutes = `destinations:
  ehr:
    type: fhir
    poll: {interval: 1s, page_size: 50}
    config: {base_url: %[1]q, poll_types: [Patient]}
  payments:
    type: stripe
    config: {base_url: %[2]q, api_key_env: STRIPE_KEY_FOR_TEST, webhook_secrets_env: [WEBHOOK_SECRET_NEW]}
routes:
  - {resource: Patient, to: [ehr, payments]}
  - {resource: PaymentNotice, to: [ehr]}
`

// TestMetricsCarryNoPHI: after canary traffic (a write, a webhook, a forged
// webhook, polls), /metrics shows every family an operator's dashboards
// need, and no label value holds the canary or anything shaped like an id.
func TestMetricsCarryNoPHI(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			h := startWith(t, d, metricsRoutes)
			family := fmt.Sprintf("Zqxmetric%08d", rand.IntN(1e8))
			email := strings.ToLower(family) + "@canary.example"
			body := strings.NewReplacer("Chalmers", family, "peter@example.org", email).Replace(patient)
			r := h.post("/fhir/R4/Patient", body, "Idempotency-Key", "metrics-"+family)
			if r.status != http.StatusAccepted {
				t.Fatalf("%d %s", r.status, r.body)
			}
			loc := r.header.Get("Content-Location")
			if st := h.waitFor(loc, 15*time.Second); st.State != "delivered" {
				t.Fatalf("not delivered: %+v", st)
			}
			// A bad write, a signed and a forged webhook, and a few polls.
			h.post("/fhir/R4/Patient", `{"resourceType":"Patient","birthDate":"`+family+`"}`)
			event := webhookSample(t, "stripe", "webhook-payment-intent-succeeded.json")
			for _, secret := range []string{"whsec_test_new_secret", "whsec_forger"} {
				req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/payments", strings.NewReader(string(event)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Stripe-Signature", stripe.SignWebhook(time.Now(), event, secret))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			// The first poll runs once River has elected a leader.
			var fams map[string]*dto.MetricFamily
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
				if fams = scrape(t, h.url); fams["switchboard_reconciler_lag_seconds"] != nil {
					break
				}
			}
			for _, want := range []string{
				"switchboard_http_requests_total", "switchboard_http_request_duration_seconds",
				"switchboard_accept_duration_seconds", "switchboard_deliveries_total",
				"switchboard_delivery_duration_seconds", "switchboard_delivery_retries_total",
				"switchboard_breaker_state", "switchboard_queue_depth", "switchboard_queue_oldest_job_age_seconds",
				"switchboard_webhook_verifications_total", "switchboard_reconciler_lag_seconds", "switchboard_build_info",
			} {
				if fams[want] == nil {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			value := func(name string, labels map[string]string) float64 {
				f := fams[name]
				if f == nil {
					return -1
				}
			next:
				for _, m := range f.GetMetric() {
					for _, l := range m.GetLabel() {
						if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
							continue next
						}
					}
					if m.Counter != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
				return -1
			}
			if v := value("switchboard_deliveries_total", map[string]string{"destination": "ehr", "outcome": "delivered"}); v < 1 {
				t.Errorf("deliveries to ehr delivered = %v, want >= 1", v)
			}
			if v := value("switchboard_webhook_verifications_total", map[string]string{"source": "payments", "result": "rejected"}); v != 1 {
				t.Errorf("rejected webhooks = %v, want 1", v)
			}
			if v := value("switchboard_webhook_verifications_total", map[string]string{"source": "payments", "result": "accepted"}); v != 1 {
				t.Errorf("accepted webhooks = %v, want 1", v)
			}
			if v := value("switchboard_http_requests_total", map[string]string{"route": "/fhir/R4/:type", "status": "400"}); v < 1 {
				t.Errorf("requests {route=/fhir/R4/:type,status=400} = %v, want >= 1", v)
			}

			transferID := strings.TrimPrefix(loc, "/transfers/")
			forbidden := []*regexp.Regexp{
				regexp.MustCompile(regexp.QuoteMeta(family)),
				regexp.MustCompile(regexp.QuoteMeta(email)),
				regexp.MustCompile(regexp.QuoteMeta(transferID)),
				regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-`), // a UUID
				regexp.MustCompile(`\d{5,}`),                         // a long number: an id, an MRN
				regexp.MustCompile(`^(tr|pi|cus|ch|evt)_`),           // hub or Stripe ids
				regexp.MustCompile(`@`),
			}
			labels := 0
			for name, f := range fams {
				for _, m := range f.GetMetric() {
					for _, l := range m.GetLabel() {
						labels++
						for _, re := range forbidden {
							if re.MatchString(l.GetValue()) {
								t.Errorf("%s{%s=%q} matches %s", name, l.GetName(), l.GetValue(), re)
							}
						}
					}
				}
			}
			t.Logf("%d families, %d label values checked", len(fams), labels)
		})
	}
}

// scrape reads /metrics without a token (it is scraped inside the cluster).
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}
