//go:build conformance

package calcom

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/calcom"
)

// checked is one request that reached the Prism mock of Cal.com's OpenAPI
// spec and what the mock said of it.
type checked struct {
	method, path string
	status       int
	answer       []byte
}

// prism forwards to the mock at VENDOR_MOCK_CALCOM_URL and records every
// exchange, so that a refused request is shown with Prism's list of
// violations (the data is synthetic: printing it is fine).
type prism struct {
	mu   sync.Mutex
	seen []checked
}

func (p *prism) start(t *testing.T) string {
	t.Helper()
	mock := os.Getenv("VENDOR_MOCK_CALCOM_URL")
	if mock == "" {
		t.Fatal("VENDOR_MOCK_CALCOM_URL is not set: start the Prism mock of Cal.com's spec (make conformance does) and set it, e.g. VENDOR_MOCK_CALCOM_URL=http://127.0.0.1:4012")
	}
	mock = strings.TrimRight(mock, "/")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, mock+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("the mock at %s does not answer: %v", mock, err)
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		p.mu.Lock()
		p.seen = append(p.seen, checked{r.Method, r.URL.Path, resp.StatusCode, answer})
		p.mu.Unlock()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// violations reports each refused exchange with Prism's answer.
func (p *prism) violations(t *testing.T) int {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.seen {
		if s.status < 200 || s.status > 299 {
			n++
			t.Errorf("%s %s: the mock answered %d:\n%s", s.method, s.path, s.status, s.answer)
		}
	}
	return n
}

func TestConformance(t *testing.T) {
	var p prism
	base := p.start(t)
	c := mustBuild(t, base)
	ctx := context.Background()

	// The mock must refuse what the spec forbids, or this test proves nothing.
	bad, _ := http.NewRequest(http.MethodPost, base+"/v2/bookings", strings.NewReader(`{"start":1}`))
	bad.Header = c.header(BookingsVersion)
	resp, err := http.DefaultClient.Do(bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("the mock accepted a booking without attendee (%d): it does not validate against the spec", resp.StatusCode)
	}
	p.mu.Lock()
	p.seen = nil
	p.mu.Unlock()

	// (a) every golden request body, through Deliver.
	t.Run("golden requests", func(t *testing.T) {
		for _, in := range requestInputs(t) {
			d := delivery(t, in, connectors.Create)
			plan, err := mapping.PlanDelivery(d.Resource, d.Related, mapping.Options{
				DefaultEventTypeID: c.cfg.EventTypeID, DefaultTimeZone: c.cfg.TimeZone, TransferID: d.TransferID})
			if err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			if !bytes.Equal(plan.Body, goldenBody(t, in)) {
				t.Fatalf("%s: the body sent is not the golden file", in)
			}
			if res, err := c.Deliver(ctx, d); err != nil {
				t.Errorf("%s (%s): %v", in, plan.Action, err)
			} else if res.VendorID == "" {
				t.Errorf("%s (%s): no booking uid in the answer", in, plan.Action)
			}
		}
	})

	// (b) one booking's life: create, reschedule, cancel, then the reads.
	t.Run("end to end", func(t *testing.T) {
		created, err := c.Deliver(ctx, delivery(t, "appointment-contained-patient.json", connectors.Create))
		if err != nil || created.VendorID == "" {
			t.Fatalf("create: %+v %v", created, err)
		}
		again := delivery(t, "appointment-contained-patient.json", connectors.Create)
		again.Attempt = 2
		if res, err := c.Deliver(ctx, again); err != nil || res.VendorID == "" {
			t.Fatalf("create, attempt 2: %+v %v", res, err)
		}
		booked := func(status, start string) connectors.Delivery {
			d := delivery(t, "appointment-reschedule.json", connectors.Update)
			d.Resource = bytes.Replace(d.Resource, []byte("bk3Xq9TzR2mW7pLs"), []byte(created.VendorID), 1)
			d.Resource = bytes.Replace(d.Resource, []byte(`"status": "booked"`), []byte(`"status": "`+status+`"`), 1)
			d.Resource = bytes.Replace(d.Resource, []byte(`"2030-03-06T09:15:00-05:00"`), []byte(`"`+start+`"`), 1)
			d.Resource = bytes.Replace(d.Resource, []byte(`"2030-03-06T10:00:00-05:00"`), []byte(`"2030-03-07T10:45:00Z"`), 1)
			return d
		}
		moved, err := c.Deliver(ctx, booked("booked", "2030-03-07T10:00:00Z"))
		if err != nil || moved.VendorID == "" {
			t.Fatalf("reschedule: %+v %v", moved, err)
		}
		// The mock answers every read with the spec's example, which carries
		// a rescheduledToUid: the cancel follows it to that booking.
		cancelled, err := c.Deliver(ctx, booked("cancelled", "2030-03-07T10:00:00Z"))
		if err != nil || cancelled.VendorID == "" {
			t.Fatalf("cancel: %+v %v", cancelled, err)
		}
		slots, err := c.Search(ctx, connectors.SearchQuery{ResourceType: "Slot",
			Params: url.Values{"start": {"ge2030-03-05"}, "end": {"2030-03-07"}, "service-type": {"4242"}}})
		if err != nil || len(slots.Resources) == 0 || !bytes.Contains(slots.Resources[0], []byte(`"resourceType":"Slot"`)) {
			t.Fatalf("slot search: %d slots %v", len(slots.Resources), err)
		}
		read, err := c.Search(ctx, connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"identifier": {mapping.BookingSystem + "|" + created.VendorID}}})
		if err != nil || len(read.Resources) != 1 || !bytes.Contains(read.Resources[0], []byte(created.VendorID)) {
			t.Fatalf("booking read: %d appointments %v", len(read.Resources), err)
		}
		list, err := c.Search(ctx, connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"patient.email": {"alex@example.org"}, "_count": {"10"}}})
		if err != nil || len(list.Resources) == 0 {
			t.Fatalf("bookings of an attendee: %d appointments %v", len(list.Resources), err)
		}
	})

	n := p.violations(t)
	p.mu.Lock()
	total := len(p.seen)
	p.mu.Unlock()
	if total == 0 {
		t.Fatal("no request reached the mock")
	}
	fmt.Printf("conformance: calcom: %d requests checked, %d violations\n", total, n)
}
