package calsim_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/calcom"
	"github.com/switchboard-health/switchboard/hub/route"
)

// connector builds the real calcom connector through the registry, as the
// hub does from its routing file, pointed at base.
func connector(t *testing.T, base string) connectors.Connector {
	t.Helper()
	table, err := route.Parse([]byte(`
destinations:
  scheduling:
    type: calcom
    config:
      base_url: `+base+`
      api_key_env: CALCOM_API_KEY
      event_type_id: 4242
      time_zone: UTC
      retry_max: 0
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := table.Destinations["scheduling"]
	spec, _ := connectors.Lookup(d.Type)
	conn, err := spec.New(connectors.Params{Name: "scheduling", Decode: d.Decoder(),
		Env: func(name string) (string, bool) {
			return map[string]string{"CALCOM_API_KEY": "cal_sandbox"}[name], true
		}})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func input(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "mappings", "calcom", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The real connector against the sandbox: one create, a retried delivery
// that books nothing more, then a reschedule that Cal.com answers with a new
// booking rather than a second create.
func TestRealConnector(t *testing.T) {
	sim := calsim.New(calsim.Options{APIKey: "cal_sandbox", Now: func() time.Time { return time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC) }})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	conn := connector(t, srv.URL)
	ctx := context.Background()

	d := connectors.Delivery{TransferID: "tr_demo", Destination: "scheduling", Interaction: connectors.Create,
		ResourceType: "Appointment", Resource: input(t, "appointment-contained-patient.json"),
		IdempotencyKey: "tr_demo/0/scheduling", Attempt: 1}
	created, err := conn.Deliver(ctx, d)
	if err != nil || created.VendorID == "" || created.Status != 201 {
		t.Fatalf("create: %+v %v", created, err)
	}
	// The same delivery again, as the queue retries it after a lost answer.
	d.Attempt = 2
	again, err := conn.Deliver(ctx, d)
	if err != nil || again.VendorID != created.VendorID {
		t.Fatalf("retried create: %+v %v, want the booking %s", again, err, created.VendorID)
	}
	writes := sim.Received()
	if len(writes) != 1 || writes[0].Path != "/v2/bookings" || writes[0].Effect != calsim.EffectCreated {
		t.Fatalf("received %+v, want one create", writes)
	}
	if md, _ := writes[0].Body["metadata"].(map[string]any); md["switchboard_transfer"] != "tr_demo" {
		t.Fatalf("create body metadata %v", writes[0].Body["metadata"])
	}

	// The Appointment now carries the booking uid and a different start.
	moved := bytes.Replace(input(t, "appointment-reschedule.json"), []byte("bk3Xq9TzR2mW7pLs"), []byte(created.VendorID), 1)
	res, err := conn.Deliver(ctx, connectors.Delivery{TransferID: "tr_move", Destination: "scheduling",
		Interaction: connectors.Update, ResourceType: "Appointment", ResourceID: "sb-appt-1", Resource: moved,
		IdempotencyKey: "tr_move/0/scheduling", Attempt: 1})
	if err != nil || res.VendorID == "" || res.VendorID == created.VendorID {
		t.Fatalf("reschedule: %+v %v, want a new booking uid", res, err)
	}
	writes = sim.Received()
	if len(writes) != 2 || writes[1].Path != "/v2/bookings/"+created.VendorID+"/reschedule" || writes[1].Effect != calsim.EffectRescheduled {
		t.Fatalf("received %+v, want the create then a reschedule", writes)
	}
	if writes[1].Body["start"] != "2030-03-06T14:15:00Z" {
		t.Fatalf("reschedule body %v", writes[1].Body)
	}
	// Delivered again with the new uid written back and the same start: the
	// connector reads the booking and changes nothing.
	settled := bytes.Replace(moved, []byte(created.VendorID), []byte(res.VendorID), 1)
	if _, err := conn.Deliver(ctx, connectors.Delivery{TransferID: "tr_move2", Interaction: connectors.Update,
		ResourceType: "Appointment", Resource: settled, IdempotencyKey: "tr_move2/0/scheduling", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Received()); n != 2 {
		t.Fatalf("%d writes, want still 2", n)
	}
	l := sim.Log()
	if l.Effects != 2 || l.DuplicateEffects != 0 {
		t.Fatalf("effects %d duplicates %d", l.Effects, l.DuplicateEffects)
	}

	// Reads through the connector's Search: the booking and free slots.
	s := conn.(connectors.Searcher)
	page, err := s.Search(ctx, connectors.SearchQuery{ResourceType: "Appointment",
		Params: url.Values{"patient.email": {"alex@example.org"}}})
	if err != nil || len(page.Resources) != 2 {
		t.Fatalf("bookings of the attendee: %d %v, want the cancelled original and the new one", len(page.Resources), err)
	}
	slots, err := s.Search(ctx, connectors.SearchQuery{ResourceType: "Slot",
		Params: url.Values{"start": {"ge2030-03-06"}, "end": {"2030-03-06"}}})
	if err != nil || len(slots.Resources) == 0 {
		t.Fatalf("slots: %d %v", len(slots.Resources), err)
	}
	for _, sl := range slots.Resources {
		if bytes.Contains(sl, []byte(`"start":"2030-03-06T14:00:00Z"`)) || bytes.Contains(sl, []byte(`"start":"2030-03-06T14:30:00Z"`)) {
			t.Fatalf("a booked time is offered: %s", sl)
		}
	}
}
