package calsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Webhook triggers the sandbox sends, as Cal.com names them.
const (
	triggerCreated     = "BOOKING_CREATED"
	triggerRescheduled = "BOOKING_RESCHEDULED"
	triggerCancelled   = "BOOKING_CANCELLED"
)

// webhooks posts Cal.com-shaped webhooks to one subscriber, in the order
// the changes happened, each signed with X-Cal-Signature-256 (hex
// HMAC-SHA256 of the raw body), and retries a failed delivery a few times
// as Cal.com does. Every change through the API is sent, the hub's own
// included: Cal.com does not know who its API caller is.
type webhooks struct {
	url, secret string
	queue       chan []byte
	client      *http.Client
}

func newWebhooks(url, secret string) *webhooks {
	w := &webhooks{url: url, secret: secret, queue: make(chan []byte, 4096), client: &http.Client{Timeout: 10 * time.Second}}
	go w.run()
	return w
}

func (w *webhooks) run() {
	for body := range w.queue {
		for attempt := range 5 {
			if w.post(body) {
				break
			}
			time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
		}
	}
}

func (w *webhooks) post(body []byte) bool {
	req, err := http.NewRequest(http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(w.secret))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Cal-Signature-256", hex.EncodeToString(mac.Sum(nil)))
	resp, err := w.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 300
}

// emit queues the webhook of a write's effect on booking uid; the caller
// holds no lock.
func (s *Server) emit(effect Effect, uid string) {
	if s.hooks == nil {
		return
	}
	trigger := map[Effect]string{EffectCreated: triggerCreated, EffectRescheduled: triggerRescheduled, EffectCancelled: triggerCancelled}[effect]
	if trigger == "" {
		return
	}
	s.store.mu.Lock()
	b := s.store.byUID[uid]
	var payload map[string]any
	if b != nil {
		payload = b.webhookPayload()
	}
	s.store.mu.Unlock()
	if payload == nil {
		return
	}
	body, err := json.Marshal(map[string]any{"triggerEvent": trigger,
		"createdAt": s.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "payload": payload})
	if err != nil {
		return
	}
	s.hooks.queue <- body
}

// webhookPayload is the booking as Cal.com's webhook payload has it
// (startTime/endTime, upper-case status, rescheduleUid naming the booking
// a reschedule replaced). The store's lock is held.
func (b *booking) webhookPayload() map[string]any {
	p := map[string]any{
		"uid": b.uid, "bookingId": b.id, "eventTypeId": b.eventTypeID, "status": strings.ToUpper(b.status),
		"startTime": b.start.UTC().Format(time.RFC3339), "endTime": b.end.UTC().Format(time.RFC3339),
		"length":    int(b.end.Sub(b.start).Minutes()),
		"attendees": []map[string]any{{"name": b.attendee.Name, "email": b.attendee.Email, "timeZone": b.attendee.TimeZone}},
		"organizer": map[string]any{"name": "Sandbox Host", "email": HostEmail, "timeZone": "UTC"},
		"metadata":  b.metadata,
	}
	if b.metadata == nil {
		p["metadata"] = map[string]any{}
	}
	if b.rescheduledFrom != "" {
		p["rescheduleUid"] = b.rescheduledFrom
		p["rescheduledBy"] = b.rescheduledBy
	}
	if b.cancelledBy != "" {
		p["cancelledBy"] = b.cancelledBy
	}
	return p
}
