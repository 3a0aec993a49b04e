package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/hub/store"
)

// scrapeTimeout bounds a collector's queries: a scrape must not hang on a
// database that is down (the scrape then shows the up metric at 0).
const scrapeTimeout = 2 * time.Second

// cacheFor is how long a collector reuses its last read: every process of
// a cluster reports the same queues, and Prometheus may scrape each of them
// often; the database should not answer the same question many times a
// second.
const cacheFor = 5 * time.Second

var (
	queueDepthDesc = prometheus.NewDesc("switchboard_queue_depth",
		"Jobs waiting or running, by queue and River state (cluster-wide: every process reports the same value).",
		[]string{"queue", "state"}, nil)
	queueAgeDesc = prometheus.NewDesc("switchboard_queue_oldest_job_age_seconds",
		"Age of the oldest job available to work, by queue (0 when none waits).", []string{"queue"}, nil)
	queueUpDesc = prometheus.NewDesc("switchboard_queue_scrape_ok",
		"1 when the last read of queue depths from the database succeeded.", nil, nil)
	lagDesc = prometheus.NewDesc("switchboard_reconciler_lag_seconds",
		"Time since a polled source's last successful poll, by destination and resource type.", []string{"destination", "resource_type"}, nil)
	breakerDesc = prometheus.NewDesc("switchboard_breaker_state",
		"Circuit breaker state of a destination in this process: 0 closed, 1 half-open, 2 open.", []string{"destination"}, nil)
)

// QueueCollector reports River queue depths and the oldest waiting job's
// age per queue, read at scrape time.
type QueueCollector struct {
	DB      store.Querier
	Queues  func() []string
	Logger  *slog.Logger
	mu      sync.Mutex
	at      time.Time
	metrics []prometheus.Metric
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
	ch <- queueUpDesc
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > cacheFor {
		c.metrics = c.read()
		c.at = time.Now()
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *QueueCollector) read() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	// Every configured queue is reported, at 0 when empty, so a dashboard
	// shows a flat line rather than a gap.
	depth := map[[2]string]float64{}
	oldest := map[string]float64{}
	for _, q := range c.Queues() {
		for _, st := range []string{"available", "scheduled", "retryable", "running"} {
			depth[[2]string{q, st}] = 0
		}
		oldest[q] = 0
	}
	counts, err := store.QueueCounts(ctx, c.DB, rivertype.JobStateAvailable, rivertype.JobStateScheduled,
		rivertype.JobStateRetryable, rivertype.JobStateRunning)
	ok := 1.0
	for _, n := range counts {
		depth[[2]string{n.Queue, string(n.State)}] = float64(n.Jobs)
		if n.State == rivertype.JobStateAvailable {
			oldest[n.Queue] = n.OldestAvailable.Seconds()
		}
	}
	if err != nil {
		ok = 0
		if c.Logger != nil {
			c.Logger.Warn("metrics: could not read queue depths", "error", err)
		}
	}
	out := []prometheus.Metric{prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, ok)}
	if ok == 0 {
		return out
	}
	for k, v := range depth {
		out = append(out, prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, v, k[0], k[1]))
	}
	for q, v := range oldest {
		out = append(out, prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, v, q))
	}
	return out
}

// LagCollector reports, per polled source and resource type, the time
// since its last successful poll (switchboard_cursor.polled_at).
type LagCollector struct {
	DB     store.Querier
	Logger *slog.Logger
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

// Collect implements prometheus.Collector.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	rows, err := c.DB.Query(ctx, `SELECT source, resource_type, polled_at FROM switchboard_cursor WHERE polled_at IS NOT NULL`)
	if err != nil {
		if c.Logger != nil {
			c.Logger.Warn("metrics: could not read reconciler cursors", "error", err)
		}
		return
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var src, typ string
		var polled int64
		if rows.Scan(&src, &typ, &polled) != nil {
			return
		}
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, now.Sub(time.UnixMicro(polled)).Seconds(), src, typ)
	}
}

// BreakerCollector reports each destination's breaker state in this
// process (breakers are per process: each worker trips on its own).
type BreakerCollector struct {
	States func() map[string]string
}

// Describe implements prometheus.Collector.
func (c *BreakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- breakerDesc }

// Collect implements prometheus.Collector.
func (c *BreakerCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.States() {
		v := 0.0
		switch st {
		case "half-open":
			v = 1
		case "open":
			v = 2
		}
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, v, name)
	}
}
