// Package metrics holds the hub's Prometheus metrics. Every label value is
// bounded by configuration or code: route templates (never URLs),
// destination and queue names from the routing file, resource types,
// outcomes and error classes. No label carries a patient, resource or
// transfer id: a test scrapes /metrics after canary traffic and checks.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics is one process's metric set, on its own registry (no global
// state). A nil *Metrics records nothing, so packages take one optionally.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	reqDuration *prometheus.HistogramVec
	accept      *prometheus.HistogramVec
	deliveries  *prometheus.CounterVec
	delDuration *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	webhooks    *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	throttled   *prometheus.CounterVec
	inbound     *prometheus.CounterVec
}

// New makes the metric set with the Go runtime and process collectors.
func New(version, role string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_http_requests_total", Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		reqDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_http_request_duration_seconds", Help: "HTTP request duration by route template and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		accept: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_accept_duration_seconds",
			Help: "Time from a FHIR write's arrival to its answer (202 accepted, or the error), by outcome.",
			// The accept path is a validation and one transaction: finer
			// buckets at the low end than DefBuckets.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_deliveries_total",
			Help: "Delivery tries by destination and outcome (delivered, retrying, failed, skipped) and error class.",
		}, []string{"destination", "outcome", "error_class"}),
		delDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_delivery_duration_seconds", Help: "Vendor call time of one delivery try, by destination and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"destination", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_delivery_retries_total", Help: "Delivery tries that ended in a retryable error, by destination (the last try before giving up included).",
		}, []string{"destination"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_webhook_verifications_total",
			Help: "Inbound webhooks by source and result (accepted, duplicate, rejected).",
		}, []string{"source", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_webhook_rejected_total",
			Help: "Webhook requests refused before anything was stored, by source (\"\" for a name that takes no webhooks) and reason " +
				"(missing_signature, malformed_signature, bad_signature, stale_timestamp, bad_json, not_configured, unknown_source, oversize).",
		}, []string{"source", "reason"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_rate_limited_total",
			Help: "Vendor calls the destination's shared rate limit held back (the delivery was snoozed, or a search refused), by destination.",
		}, []string{"destination"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_inbound_throttled_total",
			Help: "Requests answered 429 by this process's inbound limit, by kind (api, webhook).",
		}, []string{"kind"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_build_info", Help: "Always 1; the version and role of this process.",
	}, []string{"version", "role"})
	build.WithLabelValues(version, role).Set(1)
	reg.MustRegister(m.requests, m.reqDuration, m.accept, m.deliveries, m.delDuration, m.retries, m.webhooks, m.rejected, m.throttled, m.inbound, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Known starts the per-destination and per-source series at zero, so that
// dashboards and alerts see a 0 rather than no data before the first event.
func (m *Metrics) Known(destinations, webhookSources []string) {
	if m == nil {
		return
	}
	for _, d := range destinations {
		m.retries.WithLabelValues(d)
		m.throttled.WithLabelValues(d)
		m.deliveries.WithLabelValues(d, "delivered", "")
	}
	for _, s := range webhookSources {
		for _, r := range []string{"accepted", "duplicate", "rejected"} {
			m.webhooks.WithLabelValues(s, r)
		}
	}
}

// Register adds a collector (queue depths, breakers, reconciler lag).
func (m *Metrics) Register(c prometheus.Collector) {
	if m != nil {
		m.reg.MustRegister(c)
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gather returns the current values (tests read them).
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) { return m.reg.Gather() }

// HTTP records one request by its route template ("" becomes "unmatched":
// an unknown path is never a label).
func (m *Metrics) HTTP(route, method string, status int, took time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.reqDuration.WithLabelValues(route, method).Observe(took.Seconds())
}

// Accept records a FHIR write's answer time; outcome is "accepted",
// "rejected" (4xx) or "unavailable" (5xx).
func (m *Metrics) Accept(status int, took time.Duration) {
	if m == nil {
		return
	}
	outcome := "accepted"
	switch {
	case status >= 500:
		outcome = "unavailable"
	case status >= 400:
		outcome = "rejected"
	}
	m.accept.WithLabelValues(outcome).Observe(took.Seconds())
}

// Delivery records one delivery try's outcome.
func (m *Metrics) Delivery(destination, outcome, errorClass string, took time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(destination, outcome, errorClass).Inc()
	if took > 0 {
		m.delDuration.WithLabelValues(destination, outcome).Observe(took.Seconds())
	}
	if outcome == "retrying" {
		m.retries.WithLabelValues(destination).Inc()
	}
}

// WebhookRejected counts a webhook request refused before anything was
// stored (webhook.Rejections aggregates its transfer-log rows).
func (m *Metrics) WebhookRejected(source, reason string) {
	if m == nil {
		return
	}
	m.rejected.WithLabelValues(source, reason).Inc()
}

// Webhook records an inbound webhook's verification result.
func (m *Metrics) Webhook(source, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(source, result).Inc()
}

// Throttled records a vendor call the destination's rate limit held back.
func (m *Metrics) Throttled(destination string) {
	if m == nil {
		return
	}
	m.throttled.WithLabelValues(destination).Inc()
}

// InboundThrottled records a request answered 429 by the inbound limit;
// kind is "api" or "webhook" (never the client: ids are not labels).
func (m *Metrics) InboundThrottled(kind string) {
	if m == nil {
		return
	}
	m.inbound.WithLabelValues(kind).Inc()
}
