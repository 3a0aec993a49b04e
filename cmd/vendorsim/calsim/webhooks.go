package calsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Webhook triggers the sandbox sends, as Cal.com names them.
const (
	triggerCreated     = "BOOKING_CREATED"
	triggerRescheduled = "BOOKING_RESCHEDULED"
	triggerCancelled   = "BOOKING_CANCELLED"
)

// signatureHeader is the header Cal.com signs a webhook in. The value is
// the hex HMAC-SHA256 of the raw body keyed with the secret, as
// connectors/calcom.SignWebhook computes it (that package cannot be
// imported here: its tests import this one), or "no-secret-provided" when
// the webhook has no secret, as Cal.com sends it.
const (
	signatureHeader = "X-Cal-Signature-256"
	noSecret        = "no-secret-provided"
)

// Delivery policy: an attempt that fails (connection error, timeout or a
// non-2xx answer) is retried after webhookBackoff, doubled each time, up to
// webhookAttempts attempts in all; then the event is counted failed and the
// next one is sent. Cal.com likewise retries a failed delivery a few times.
const (
	webhookAttempts = 5
	webhookBackoff  = 100 * time.Millisecond
	webhookTimeout  = 10 * time.Second
)

// WebhookStats counts the webhooks the sandbox sent since it started
// (Reset does not clear them: deliveries may still be under way). Served
// at GET /_sandbox/webhooks; it holds no booking data.
type WebhookStats struct {
	// URL is Options.WebhookURL; "" when webhooks are off.
	URL string `json:"url"`
	// Queued counts the events made (one per create, reschedule, cancel).
	Queued int `json:"queued"`
	// Sent counts the events a subscriber accepted (2xx).
	Sent int `json:"sent"`
	// Failed counts the events given up after every attempt failed.
	Failed int `json:"failed"`
	// Retries counts failed attempts that were tried again.
	Retries int `json:"retries"`
	// Pending counts the events not yet sent nor given up.
	Pending int `json:"pending"`
}

// webhooks posts Cal.com-shaped webhooks to one subscriber, one at a time
// and in the order the changes happened (events are queued under the
// store's lock, in the same critical section as the change), each signed
// with X-Cal-Signature-256, retrying a failed delivery a few times. Every
// change through the API is sent, the hub's own included: Cal.com sends
// webhooks for API-made changes too. The queue is unbounded, so an API call
// never waits for a subscriber.
type webhooks struct {
	url, secret string
	client      *http.Client
	logger      *slog.Logger
	backoff     time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	wake   *sync.Cond
	queue  [][]byte
	closed bool
	stats  WebhookStats
}

func newWebhooks(url, secret string, logger *slog.Logger) *webhooks {
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhooks{url: url, secret: secret, client: &http.Client{Timeout: webhookTimeout}, logger: logger,
		backoff: webhookBackoff, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	w.wake = sync.NewCond(&w.mu)
	w.stats.URL = url
	go w.run()
	return w
}

// enqueue queues one event body; it never blocks on the subscriber.
func (w *webhooks) enqueue(body []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.queue = append(w.queue, body)
	w.stats.Queued++
	w.wake.Signal()
}

func (w *webhooks) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.wake.Wait()
		}
		if w.closed {
			w.mu.Unlock()
			return
		}
		body := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.mu.Unlock()
		w.deliver(body)
	}
}

// deliver posts body until a 2xx answer or webhookAttempts attempts.
func (w *webhooks) deliver(body []byte) {
	trigger := triggerOf(body)
	wait := w.backoff
	for attempt := 1; ; attempt++ {
		status, err := w.post(body)
		if err == nil && status >= 200 && status < 300 {
			w.count(func(s *WebhookStats) { s.Sent++ })
			w.logger.Info("calcom webhook sent", "trigger", trigger, "attempt", attempt, "status", status)
			return
		}
		if attempt >= webhookAttempts || w.ctx.Err() != nil {
			w.count(func(s *WebhookStats) { s.Failed++ })
			w.logger.Warn("calcom webhook failed", "trigger", trigger, "attempts", attempt, "status", status)
			return
		}
		w.count(func(s *WebhookStats) { s.Retries++ })
		select {
		case <-time.After(wait):
		case <-w.ctx.Done():
		}
		wait *= 2
	}
}

func (w *webhooks) post(body []byte) (int, error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signatureHeader, sign(w.secret, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (w *webhooks) count(f func(*WebhookStats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

func (w *webhooks) snapshot() WebhookStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Pending = s.Queued - s.Sent - s.Failed
	return s
}

// close stops the sender: queued events are dropped, a delivery under way
// is abandoned.
func (w *webhooks) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		w.wake.Broadcast()
	}
	w.mu.Unlock()
	w.cancel()
	<-w.done
}

// sign is Cal.com's X-Cal-Signature-256 value for body.
func sign(secret string, body []byte) string {
	if secret == "" {
		return noSecret
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func triggerOf(body []byte) string {
	var b struct {
		TriggerEvent string `json:"triggerEvent"`
	}
	_ = json.Unmarshal(body, &b)
	return b.TriggerEvent
}

// WebhookStats returns the webhook counters, as GET /_sandbox/webhooks does.
func (s *Server) WebhookStats() WebhookStats {
	if s.hooks == nil {
		return WebhookStats{}
	}
	return s.hooks.snapshot()
}

// Close stops the webhook sender (queued events are dropped). The sandbox
// still answers requests but sends no more webhooks. Close is idempotent
// and needed only when Options.WebhookURL is set.
func (s *Server) Close() {
	if s.hooks != nil {
		s.hooks.close()
	}
}

// hookLocked queues the webhook of a change to b (old: the booking a
// reschedule replaced, else nil). The caller holds the store's lock, in
// the same critical section as the change, so that events leave in the
// order the changes happened.
func (s *Server) hookLocked(trigger string, b, old *booking) {
	if s.hooks == nil {
		return
	}
	body, err := json.Marshal(map[string]any{
		"triggerEvent": trigger,
		"createdAt":    s.opts.Now().UTC().Format(calTime),
		"payload":      b.webhookPayload(old),
	})
	if err != nil {
		return // metadata holds strings, numbers and booleans only: cannot happen
	}
	s.hooks.enqueue(body)
}

// webhookPayload is the booking as Cal.com's webhook payload has it (the
// calendar event plus bookingId, uid, upper-case status and metadata):
// startTime/endTime, attendees and organizer with name, email and timeZone,
// the booking metadata as given at creation (Cal.com copies it, so the
// hub's switchboard_origin comes back). On a reschedule b is the NEW
// booking and rescheduleUid, rescheduleId, rescheduleStartTime and
// rescheduleEndTime name the booking it replaced, as in Cal.com's
// handleNewBooking; on a cancel, cancellationReason and cancelledBy.
func (b *booking) webhookPayload(old *booking) map[string]any {
	attendee := map[string]any{"name": b.attendee.Name, "email": b.attendee.Email, "timeZone": b.attendee.TimeZone}
	if b.attendee.Language != "" {
		attendee["language"] = map[string]any{"locale": b.attendee.Language}
	}
	p := map[string]any{
		"type":        "sandbox-event-type",
		"title":       "Sandbox booking",
		"description": "",
		"startTime":   b.start.UTC().Format(time.RFC3339),
		"endTime":     b.end.UTC().Format(time.RFC3339),
		"length":      int64(b.end.Sub(b.start) / time.Minute),
		"organizer":   map[string]any{"id": 1, "name": "Sandbox Host", "email": HostEmail, "timeZone": "UTC"},
		"attendees":   []any{attendee},
		"eventTypeId": b.eventTypeID,
		"uid":         b.uid,
		"bookingId":   b.id,
		"metadata":    b.metadata,
		"status":      strings.ToUpper(b.status),
	}
	if b.metadata == nil {
		p["metadata"] = map[string]any{}
	}
	if old != nil {
		p["rescheduleUid"] = old.uid
		p["rescheduleId"] = old.id
		p["rescheduleStartTime"] = old.start.UTC().Format(time.RFC3339)
		p["rescheduleEndTime"] = old.end.UTC().Format(time.RFC3339)
		if b.rescheduledBy != "" {
			p["rescheduledBy"] = b.rescheduledBy
		}
	}
	if b.status == statusCancelled {
		if b.cancellationReason != "" {
			p["cancellationReason"] = b.cancellationReason
		}
		if b.cancelledBy != "" {
			p["cancelledBy"] = b.cancelledBy
		}
	}
	return p
}
