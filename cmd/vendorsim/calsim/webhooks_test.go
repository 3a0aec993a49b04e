package calsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/calcom"
	mapping "github.com/switchboard-health/switchboard/mappings/calcom"
)

const hookSecret = "whsec_sandbox_test"

// subscriber records the webhooks it accepts; it answers 500 to the first
// failFirst requests.
type subscriber struct {
	t         *testing.T
	failFirst int

	mu       sync.Mutex
	attempts int
	got      []hook
	arrived  chan struct{}
}

type hook struct {
	header http.Header
	body   []byte
}

func newSubscriber(t *testing.T, failFirst int) (*subscriber, string) {
	s := &subscriber{t: t, failFirst: failFirst, arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.attempts++
	fail := s.attempts <= s.failFirst
	if !fail {
		s.got = append(s.got, hook{header: r.Header.Clone(), body: body})
	}
	s.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	s.arrived <- struct{}{}
}

// wait returns the first n webhooks accepted.
func (s *subscriber) wait(n int) []hook {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for range n {
		select {
		case <-s.arrived:
		case <-deadline:
			s.t.Fatalf("timed out waiting for %d webhooks", n)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hook(nil), s.got...)
}

// sandbox starts a calsim posting webhooks to url.
func sandbox(t *testing.T, url string) (*calsim.Server, string) {
	t.Helper()
	sim := calsim.New(calsim.Options{WebhookURL: url, WebhookSecret: hookSecret,
		Now: func() time.Time { return time.Date(2030, 3, 4, 6, 0, 0, 0, time.UTC) }})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return sim, srv.URL
}

// post calls the sandbox API and returns data.uid of the answer.
func post(t *testing.T, url, body string, want int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer cal_test_key")
	req.Header.Set("cal-api-version", calsim.BookingsVersion)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			UID string `json:"uid"`
		} `json:"data"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d: %s", url, resp.StatusCode, want, raw)
	}
	_ = json.Unmarshal(raw, &out)
	return out.Data.UID
}

func verify(t *testing.T, h hook) connectors.WebhookEvent {
	t.Helper()
	v, err := calcom.NewWebhookVerifier([]string{"an_old_secret", hookSecret})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := v.VerifyWebhook(connectors.WebhookRequest{Header: h.header, Body: h.body}, time.Now())
	if err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if got, want := h.header.Get(calcom.SignatureHeader), calcom.SignWebhook(hookSecret, h.body); got != want {
		t.Fatalf("X-Cal-Signature-256 = %q, want %q", got, want)
	}
	return ev
}

const hubBooking = `{"start":"2030-03-05T09:00:00Z","lengthInMinutes":30,"eventTypeId":4242,` +
	`"attendee":{"name":"Alex Example","email":"alex@example.org","timeZone":"Europe/Lisbon"},` +
	`"metadata":{"switchboard_origin":"switchboard","fhir_appointment_id":"Appointment/appt-1","switchboard_transfer":"tr_1"}}`

func TestWebhooksCreateRescheduleCancel(t *testing.T) {
	sub, hookURL := newSubscriber(t, 0)
	sim, base := sandbox(t, hookURL)

	uid := post(t, base+"/v2/bookings", hubBooking, http.StatusCreated)
	newUID := post(t, base+"/v2/bookings/"+uid+"/reschedule",
		`{"start":"2030-03-06T10:00:00Z","rescheduledBy":"alex@example.org"}`, http.StatusCreated)
	post(t, base+"/v2/bookings/"+newUID+"/cancel", `{"cancellationReason":"no longer needed"}`, http.StatusOK)
	// Errors send nothing.
	post(t, base+"/v2/bookings/"+newUID+"/cancel", `{}`, http.StatusBadRequest)
	post(t, base+"/v2/bookings/"+uid+"/reschedule", `{"start":"2030-03-07T10:00:00Z"}`, http.StatusBadRequest)

	hooks := sub.wait(3)
	time.Sleep(100 * time.Millisecond) // nothing more may come
	if n := len(sub.wait(0)); n != 3 {
		t.Fatalf("%d webhooks, want 3", n)
	}
	want := []struct {
		trigger, uid, prev, status string
		interaction                mapping.Interaction
		start                      string
	}{
		{mapping.TriggerCreated, uid, "", "booked", mapping.InteractionCreate, "2030-03-05T09:00:00Z"},
		{mapping.TriggerRescheduled, newUID, uid, "booked", mapping.InteractionUpdate, "2030-03-06T10:00:00Z"},
		{mapping.TriggerCancelled, newUID, "", "cancelled", mapping.InteractionUpdate, "2030-03-06T10:00:00Z"},
	}
	seen := map[string]bool{}
	for i, w := range want {
		h := hooks[i]
		if ct := h.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", w.trigger, ct)
		}
		ev := verify(t, h)
		if ev.Type != w.trigger || ev.ID == "" || ev.Time.IsZero() || seen[ev.ID] {
			t.Errorf("event %d: verified as type %q id %q time %v, want %s with a fresh id", i, ev.Type, ev.ID, ev.Time, w.trigger)
		}
		seen[ev.ID] = true

		got, err := mapping.AppointmentFromWebhook(h.body)
		if err != nil {
			t.Fatalf("%s: AppointmentFromWebhook: %v\n%s", w.trigger, err, h.body)
		}
		if got.Trigger != w.trigger || got.UID != w.uid || got.PreviousUID != w.prev || got.Interaction != w.interaction {
			t.Errorf("event %d = %s uid %q prev %q %s, want %s uid %q prev %q %s",
				i, got.Trigger, got.UID, got.PreviousUID, got.Interaction, w.trigger, w.uid, w.prev, w.interaction)
		}
		if !got.FromHub() || got.AppointmentID != "Appointment/appt-1" || got.TransferID != "tr_1" {
			t.Errorf("%s: metadata not carried: origin %q appointment %q transfer %q", w.trigger, got.Origin, got.AppointmentID, got.TransferID)
		}
		var appt struct {
			Status     string `json:"status"`
			Start      string `json:"start"`
			Identifier []struct {
				Use   string `json:"use"`
				Value string `json:"value"`
			} `json:"identifier"`
		}
		if err := json.Unmarshal(got.Appointment, &appt); err != nil {
			t.Fatal(err)
		}
		if appt.Status != w.status || !sameInstant(appt.Start, w.start) {
			t.Errorf("%s: Appointment status %q start %q, want %q %q", w.trigger, appt.Status, appt.Start, w.status, w.start)
		}
		if len(appt.Identifier) == 0 || appt.Identifier[0].Value != w.uid {
			t.Errorf("%s: Appointment identifiers %+v, want %q first", w.trigger, appt.Identifier, w.uid)
		}

		var raw struct {
			Payload map[string]any `json:"payload"`
		}
		_ = json.Unmarshal(h.body, &raw)
		if w.trigger == mapping.TriggerRescheduled {
			if raw.Payload["rescheduleUid"] != uid || raw.Payload["rescheduleStartTime"] != "2030-03-05T09:00:00Z" {
				t.Errorf("reschedule payload does not name the old booking: %v", raw.Payload)
			}
		}
		for _, k := range []string{"startTime", "endTime", "eventTypeId", "organizer", "attendees", "bookingId", "status"} {
			if _, ok := raw.Payload[k]; !ok {
				t.Errorf("%s: payload has no %s", w.trigger, k)
			}
		}
	}

	if st := sim.WebhookStats(); st.Queued != 3 || st.Sent != 3 || st.Failed != 0 || st.Pending != 0 || st.Retries != 0 {
		t.Errorf("WebhookStats = %+v", st)
	}
}

func sameInstant(a, b string) bool {
	ta, err1 := time.Parse(time.RFC3339, a)
	tb, err2 := time.Parse(time.RFC3339, b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}

func TestWebhookRetriedUntilDelivered(t *testing.T) {
	sub, hookURL := newSubscriber(t, 2)
	sim, base := sandbox(t, hookURL)

	began := time.Now()
	uid := post(t, base+"/v2/bookings", hubBooking, http.StatusCreated)
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("the API call waited for the subscriber: %v", d)
	}
	hooks := sub.wait(1)
	time.Sleep(100 * time.Millisecond)
	if len(sub.wait(0)) != 1 {
		t.Fatalf("delivered more than once")
	}
	ev, err := mapping.AppointmentFromWebhook(hooks[0].body)
	verify(t, hooks[0])
	if err != nil || ev.UID != uid || ev.Trigger != mapping.TriggerCreated {
		t.Fatalf("delivered %+v, %v; want BOOKING_CREATED of %s", ev, err, uid)
	}
	sub.mu.Lock()
	attempts := sub.attempts
	sub.mu.Unlock()
	if attempts != 3 {
		t.Errorf("%d attempts, want 3", attempts)
	}
	if st := sim.WebhookStats(); st.Sent != 1 || st.Retries != 2 || st.Failed != 0 || st.Pending != 0 {
		t.Errorf("WebhookStats = %+v", st)
	}
}

// A subscriber that is down does not fail or slow the API; events still
// leave in order once it answers.
func TestWebhooksOrderedWhileSubscriberFails(t *testing.T) {
	sub, hookURL := newSubscriber(t, 3)
	_, base := sandbox(t, hookURL)

	uid := post(t, base+"/v2/bookings", hubBooking, http.StatusCreated)
	post(t, base+"/v2/bookings/"+uid+"/cancel", `{}`, http.StatusOK)
	hooks := sub.wait(2)
	for i, want := range []string{mapping.TriggerCreated, mapping.TriggerCancelled} {
		if ev := verify(t, hooks[i]); ev.Type != want {
			t.Errorf("webhook %d is %s, want %s", i, ev.Type, want)
		}
	}
}

func TestWebhooksOffByDefault(t *testing.T) {
	sim := calsim.New(calsim.Options{})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	post(t, srv.URL+"/v2/bookings", hubBooking, http.StatusCreated)
	if st := sim.WebhookStats(); st != (calsim.WebhookStats{}) {
		t.Errorf("WebhookStats = %+v with no WebhookURL", st)
	}
	resp, err := http.Get(srv.URL + "/_sandbox/webhooks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /_sandbox/webhooks: %d", resp.StatusCode)
	}
}
