package calcom

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/validation"
)

var webhookDir = filepath.Join("..", "..", "testdata", "mappings", "calcom", "webhook")

// webhookGolden is what a webhook golden file holds: the event's fields
// and the Appointment.
func webhookGolden(e WebhookEvent) []byte {
	out, _ := json.Marshal(map[string]any{
		"trigger": e.Trigger, "interaction": e.Interaction, "uid": e.UID, "previousUid": e.PreviousUID,
		"matchUid": e.MatchUID(), "fromHub": e.FromHub(), "origin": e.Origin,
		"appointmentId": e.AppointmentID, "transferId": e.TransferID, "appointment": e.Appointment,
	})
	return out
}

// Webhook goldens: testdata/mappings/calcom/webhook/webhook-*.json (Cal.com
// webhook bodies, fake people) to *.golden.json (the event and its
// Appointment, pretty-printed with sorted keys). They live in a folder of
// their own because TestGolden reads every *.json beside the request
// goldens. -update rewrites them.
func TestWebhookGolden(t *testing.T) {
	cases := []struct {
		file        string
		interaction Interaction
		status      string
		matchUID    string
		fromHub     bool
	}{
		{"webhook-created.json", InteractionCreate, "booked", "wh7Nq2xVbR4kT9aLs", false},
		{"webhook-created-by-hub.json", InteractionCreate, "booked", "hubMade5pQ8wErT2", true},
		{"webhook-rescheduled.json", InteractionUpdate, "booked", "wh7Nq2xVbR4kT9aLs", false},
		{"webhook-cancelled.json", InteractionUpdate, "cancelled", "newUid3Hk8sPzYc1", false},
	}
	inputs, _ := filepath.Glob(filepath.Join(webhookDir, "webhook-*.json"))
	var n int
	for _, in := range inputs {
		if !strings.HasSuffix(in, ".golden.json") {
			n++
		}
	}
	if n != len(cases) {
		t.Fatalf("%d webhook inputs, %d cases: give every input a case", n, len(cases))
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			in := filepath.Join(webhookDir, c.file)
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := AppointmentFromWebhook(src)
			if err != nil {
				t.Fatal(err)
			}
			got := pretty(t, webhookGolden(ev))
			golden := strings.TrimSuffix(in, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mappings/calcom/ -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
			var a struct{ Status string }
			_ = json.Unmarshal(ev.Appointment, &a)
			if ev.Interaction != c.interaction || a.Status != c.status || ev.MatchUID() != c.matchUID || ev.FromHub() != c.fromHub {
				t.Errorf("got %s %s match=%s fromHub=%v, want %s %s %s %v",
					ev.Interaction, a.Status, ev.MatchUID(), ev.FromHub(), c.interaction, c.status, c.matchUID, c.fromHub)
			}
			// The Appointment names the booking the connector writes to next.
			if BookingUID(ev.Appointment) != ev.UID {
				t.Errorf("BookingUID reads %q, want the current uid %q", BookingUID(ev.Appointment), ev.UID)
			}
			// No free text (titles, notes, reasons) and no email address.
			if bytes.Contains(got, []byte("Zzclinical")) || bytes.Contains(ev.Appointment, []byte("@")) {
				t.Errorf("the Appointment holds free text or an email address")
			}
		})
	}
}

// Every webhook golden's Appointment is valid FHIR R4 as the hub checks it
// at its boundary.
func TestWebhookGoldenIsValidFHIR(t *testing.T) {
	v, err := validation.New()
	if err != nil {
		t.Fatal(err)
	}
	goldens, _ := filepath.Glob(filepath.Join(webhookDir, "webhook-*.golden.json"))
	if len(goldens) == 0 {
		t.Fatal("no webhook goldens")
	}
	for _, g := range goldens {
		t.Run(filepath.Base(g), func(t *testing.T) {
			b, err := os.ReadFile(g)
			if err != nil {
				t.Fatal(err)
			}
			var ev struct {
				Appointment json.RawMessage `json:"appointment"`
			}
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Resource(ev.Appointment, "Appointment"); err != nil {
				t.Fatalf("invalid FHIR R4: %v", err)
			}
		})
	}
}

// Unmapped triggers are ErrIgnored, malformed bodies name the field at
// fault, and no error quotes the body.
func TestWebhookErrors(t *testing.T) {
	const payload = `"startTime":"2030-01-01T10:00:00Z","endTime":"2030-01-01T10:30:00Z","attendees":[{"name":"Zzsecret Name"}],"status":"ACCEPTED"`
	cases := []struct {
		name, body string
		want       error
	}{
		{"meeting ended is ignored", `{"triggerEvent":"MEETING_ENDED","payload":{"uid":"u1",` + payload + `}}`, ErrIgnored},
		{"booking requested is ignored", `{"triggerEvent":"BOOKING_REQUESTED","payload":{"uid":"u1",` + payload + `}}`, ErrIgnored},
		{"not JSON", `{"triggerEvent":`, ErrNotWebhook},
		{"a JSON array", `[1,2]`, ErrNotWebhook},
		{"no payload", `{"triggerEvent":"BOOKING_CREATED"}`, ErrNotWebhook},
		{"a custom payload template", `{"content":"A new event has been scheduled","name":"Zzsecret"}`, ErrNotWebhook},
		{"no uid", `{"triggerEvent":"BOOKING_CREATED","payload":{` + payload + `}}`, ErrNoUID},
		{"reschedule without the old uid", `{"triggerEvent":"BOOKING_RESCHEDULED","payload":{"uid":"u2",` + payload + `}}`, ErrNoOldUID},
		{"no start", `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","endTime":"2030-01-01T10:30:00Z","attendees":[{"name":"Zzsecret"}]}}`, ErrWebhookTime},
		{"start not an instant", `{"triggerEvent":"BOOKING_CANCELLED","payload":{"uid":"u1","startTime":"Zzsecret","endTime":"2030-01-01T10:30:00Z"}}`, ErrWebhookTime},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := AppointmentFromWebhook([]byte(c.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if strings.Contains(strings.ToLower(err.Error()), "zzsecret") {
				t.Fatalf("the error quotes the body: %v", err)
			}
		})
	}
	// An unknown booking status fails rather than guess.
	_, err := AppointmentFromWebhook([]byte(`{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","startTime":"2030-01-01T10:00:00Z","endTime":"2030-01-01T10:30:00Z","status":"EXPLODED"}}`))
	if err == nil {
		t.Error("an unknown status must fail")
	}
}

// A reschedule read through the tasker path carries fromReschedule
// instead of rescheduleUid.
func TestWebhookFromReschedule(t *testing.T) {
	ev, err := AppointmentFromWebhook([]byte(`{"triggerEvent":"BOOKING_RESCHEDULED","payload":{"uid":"new1","fromReschedule":"old1","startTime":"2030-01-01T10:00:00Z","endTime":"2030-01-01T10:30:00Z","metadata":null}}`))
	if err != nil || ev.PreviousUID != "old1" || ev.MatchUID() != "old1" {
		t.Fatalf("%+v %v", ev, err)
	}
}

// The body comes from outside: the mapping must not panic, must give valid
// JSON, and must not quote the body in an error.
func FuzzAppointmentFromWebhook(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join(webhookDir, "webhook-*.json"))
	for _, in := range inputs {
		if b, err := os.ReadFile(in); err == nil && !strings.HasSuffix(in, ".golden.json") {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := AppointmentFromWebhook(body)
		if err != nil {
			if strings.Contains(err.Error(), "Zz") {
				t.Fatalf("the error quotes the body: %v", err)
			}
			return
		}
		if !json.Valid(ev.Appointment) {
			t.Fatalf("invalid JSON: %s", ev.Appointment)
		}
	})
}
