package calcom

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/calcom"
)

// TestPair: the drift repair pairs what this connector lists with what the
// EHR holds through Pair alone, so Pair must read the Appointments the
// mapping makes: a booking's uid, a reschedule's moved booking as replaced,
// a replaced booking as superseded, and nothing from a foreign identifier.
func TestPair(t *testing.T) {
	c := &Connector{}
	var _ connectors.Pairer = c
	listed, err := mapping.AppointmentFromBooking(mapping.Booking{UID: "bk1", Status: "accepted",
		Start: "2030-01-01T10:00:00Z", End: "2030-01-01T10:30:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	replaced, err := mapping.AppointmentFromBooking(mapping.Booking{UID: "bk0", Status: "cancelled", RescheduledToUID: "bk1",
		Start: "2030-01-01T09:00:00Z", End: "2030-01-01T09:30:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(testdata, "webhook", "webhook-rescheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := mapping.AppointmentFromWebhook(body)
	if err != nil || ev.PreviousUID == "" {
		t.Fatalf("reschedule webhook: %+v %v", ev, err)
	}
	cases := []struct {
		name         string
		resourceType string
		res          []byte
		want         connectors.Pairing
	}{
		{"a listed booking", "Appointment", listed, connectors.Pairing{Key: "bk1"}},
		{"a booking a reschedule replaced", "Appointment", replaced, connectors.Pairing{Key: "bk0", Superseded: true}},
		{"a reschedule names the booking it moved", "Appointment", ev.Appointment,
			connectors.Pairing{Key: ev.UID, Replaced: []string{ev.PreviousUID}}},
		{"an EHR Appointment no booking made", "Appointment",
			[]byte(`{"resourceType":"Appointment","id":"e1","identifier":[{"system":"urn:ehr","value":"x"}]}`), connectors.Pairing{}},
		{"another resource type", "Patient",
			[]byte(`{"resourceType":"Patient","identifier":[{"system":"` + mapping.BookingSystem + `","value":"x"}]}`), connectors.Pairing{}},
		{"not JSON", "Appointment", []byte(`{`), connectors.Pairing{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Pair(tc.resourceType, tc.res)
			if got.Key != tc.want.Key || got.Superseded != tc.want.Superseded || !slices.Equal(got.Replaced, tc.want.Replaced) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if m := c.PairMatch("Appointment", "bk1"); m != mapping.BookingSystem+"|bk1" {
		t.Fatalf("PairMatch = %q", m)
	}
}
