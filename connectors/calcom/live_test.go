package calcom

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/connectors"
)

// t0 is when the sandbox's bookings are made in these tests.
var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the sandbox's clock, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// lossy stands in front of the sandbox and loses the answers of the next
// writes whose path ends as told: the write is made, the connector gets a
// 504, as after a timeout or a gateway's 5xx.
type lossy struct {
	sim  http.Handler
	mu   sync.Mutex
	lose map[string]int // path suffix ("/reschedule", "/cancel") -> answers to lose
}

func (l *lossy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	lost := false
	for suffix, n := range l.lose {
		if n > 0 && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, suffix) {
			l.lose[suffix], lost = n-1, true
		}
	}
	l.mu.Unlock()
	if !lost {
		l.sim.ServeHTTP(w, r)
		return
	}
	l.sim.ServeHTTP(httptest.NewRecorder(), r) // the write happens; its answer is lost
	w.WriteHeader(http.StatusGatewayTimeout)
}

// sandbox is the Cal.com sandbox behind a lossy proxy, and a connector
// pointed at it.
type sandbox struct {
	sim   *calsim.Server
	clock *clock
	proxy *lossy
	base  string // the sandbox itself, for changes made at Cal.com
	conn  *Connector
}

func newSandbox(t *testing.T, organizer string) *sandbox {
	t.Helper()
	s := &sandbox{clock: &clock{now: t0}}
	s.sim = calsim.New(calsim.Options{APIKey: "cal_test_123", Now: s.clock.Now})
	s.proxy = &lossy{sim: s.sim, lose: map[string]int{}}
	direct := httptest.NewServer(s.sim)
	t.Cleanup(direct.Close)
	front := httptest.NewServer(s.proxy)
	t.Cleanup(front.Close)
	s.base = direct.URL
	cfg := `{base_url: "` + front.URL + `", retry_max: 1, event_type_id: 1001, time_zone: America/Chicago`
	if organizer != "" {
		cfg += `, organizer_email: "` + organizer + `"`
	}
	c, err := build(t, cfg+`}`, map[string]string{"CALCOM_API_KEY": "cal_test_123"})
	if err != nil {
		t.Fatal(err)
	}
	s.conn = c
	return s
}

// calcom makes a change at Cal.com itself (the attendee or the host on
// Cal.com's pages) and returns the booking uid it answers.
func (s *sandbox) calcom(t *testing.T, path, body string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(body))
	req.Header = http.Header{"Authorization": {"Bearer cal_test_123"}, "Cal-Api-Version": {BookingsVersion},
		"Content-Type": {"application/json"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d", path, resp.StatusCode)
	}
	rec := s.sim.Received()
	return rec[len(rec)-1].ID
}

// book makes a booking at 2030-03-04T15:00Z, the hub's (metadata
// switchboard_origin, as the mapping writes it) or not.
func (s *sandbox) book(t *testing.T, hubs bool) string {
	t.Helper()
	md := `{}`
	if hubs {
		md = `{"switchboard_origin":"switchboard","switchboard_transfer":"tr_earlier"}`
	}
	return s.calcom(t, "/v2/bookings", `{"start":"2030-03-04T15:00:00Z","eventTypeId":1001,`+
		`"attendee":{"name":"Alex Example","email":"alex@example.org","timeZone":"America/Chicago"},"metadata":`+md+`}`)
}

// step is one delivery of the Appointment with the booking uid named by uid.
type step struct {
	cancel    bool          // the cancelled Appointment, else the one moved to 2030-03-06T14:15Z
	uid       string        // name of the booking uid it carries
	start     string        // another start for the moved Appointment (RFC 3339), "" for 14:15Z
	changedAt time.Duration // Delivery.ChangedAt after t0; 0 for a client's write (zero ChangedAt)
	attempt   int
	lost      string // path suffix whose answer the proxy loses on this step
	fails     bool   // the step fails, retryably (its answer was lost)
}

func (s *sandbox) deliver(t *testing.T, st step, uids map[string]string) (connectors.Result, error) {
	t.Helper()
	name := "appointment-reschedule.json"
	if st.cancel {
		name = "appointment-cancel.json"
	}
	d := delivery(t, name, connectors.Update)
	d.Resource = bytes.Replace(d.Resource, []byte("bk3Xq9TzR2mW7pLs"), []byte(uids[st.uid]), 1)
	if st.start != "" {
		d.Resource = bytes.Replace(d.Resource, []byte(`"2030-03-06T09:15:00-05:00"`), []byte(`"`+st.start+`"`), 1)
		d.Resource = bytes.Replace(d.Resource, []byte(`"2030-03-06T10:00:00-05:00"`), []byte(`"2030-03-08T23:00:00Z"`), 1)
	}
	if st.changedAt != 0 {
		d.ChangedAt = t0.Add(st.changedAt)
	}
	d.Attempt = max(st.attempt, 1)
	d.IdempotencyKey += st.start // another start is another transfer
	if st.lost != "" {
		s.proxy.mu.Lock()
		s.proxy.lose[st.lost]++
		s.proxy.mu.Unlock()
	}
	return s.conn.Deliver(context.Background(), d)
}

// A reschedule or cancel is retried after its answer was lost, and a
// delivery carrying a vendor's change meets a change made at Cal.com: the
// connector reads the booking first, follows rescheduledToUid to the live
// booking, and writes once, or not at all when the later vendor timestamp
// is Cal.com's.
func TestWritesAfterReadingTheLiveBooking(t *testing.T) {
	const patient = "alex@example.org"
	const organizer = "scheduler@clinic.example"
	cases := []struct {
		name      string
		organizer string
		// setup makes the booking "booked" and changes at Cal.com; it may
		// add named uids ("moved": the booking the attendee moved it to).
		setup      func(t *testing.T, s *sandbox, uids map[string]string)
		steps      []step
		writes     []string // the connector's writes: "reschedule <uid name>" or "cancel <uid name>"
		vendorID   string   // uid name; "new" is the booking the connector's last reschedule made
		superseded bool
	}{
		{name: "a reschedule whose answer was lost is found on the retry, not made again",
			setup:  func(t *testing.T, s *sandbox, uids map[string]string) { uids["booked"] = s.book(t, true) },
			steps:  []step{{uid: "booked", lost: "/reschedule", fails: true}, {uid: "booked", attempt: 2}},
			writes: []string{"reschedule booked"}, vendorID: "new"},
		{name: "the same with organizer_email and a vendor's change older than the lost reschedule",
			organizer: organizer,
			setup:     func(t *testing.T, s *sandbox, uids map[string]string) { uids["booked"] = s.book(t, false) },
			steps: []step{{uid: "booked", changedAt: 30 * time.Second, lost: "/reschedule", fails: true},
				{uid: "booked", changedAt: 30 * time.Second, attempt: 2}},
			writes: []string{"reschedule booked"}, vendorID: "new"},
		{name: "a cancel whose answer was lost is found done on the retry",
			setup:  func(t *testing.T, s *sandbox, uids map[string]string) { uids["booked"] = s.book(t, true) },
			steps:  []step{{cancel: true, uid: "booked", lost: "/cancel", fails: true}, {cancel: true, uid: "booked", attempt: 2}},
			writes: []string{"cancel booked"}, vendorID: "booked"},
		{name: "a cancel of a rescheduled booking cancels the booking that replaced it",
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, true)
				s.clock.advance(time.Hour)
				uids["moved"] = s.calcom(t, "/v2/bookings/"+uids["booked"]+"/reschedule",
					`{"start":"2030-03-05T10:00:00Z","rescheduledBy":"`+patient+`"}`)
			},
			steps:  []step{{cancel: true, uid: "booked"}},
			writes: []string{"cancel moved"}, vendorID: "moved"},
		{name: "a vendor's change older than the attendee's reschedule at Cal.com is superseded",
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, true)
				s.clock.advance(time.Hour)
				uids["moved"] = s.calcom(t, "/v2/bookings/"+uids["booked"]+"/reschedule",
					`{"start":"2030-03-05T10:00:00Z","rescheduledBy":"`+patient+`"}`)
			},
			steps:    []step{{uid: "booked", changedAt: 30 * time.Minute}},
			vendorID: "moved", superseded: true},
		{name: "a vendor's change newer than the attendee's reschedule moves the live booking",
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, true)
				s.clock.advance(time.Hour)
				uids["moved"] = s.calcom(t, "/v2/bookings/"+uids["booked"]+"/reschedule",
					`{"start":"2030-03-05T10:00:00Z","rescheduledBy":"`+patient+`"}`)
			},
			steps:  []step{{uid: "booked", changedAt: 90 * time.Minute}},
			writes: []string{"reschedule moved"}, vendorID: "new"},
		{name: "a vendor's cancel older than the attendee's reschedule is superseded too",
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, true)
				s.clock.advance(time.Hour)
				uids["moved"] = s.calcom(t, "/v2/bookings/"+uids["booked"]+"/reschedule",
					`{"start":"2030-03-05T10:00:00Z","rescheduledBy":"`+patient+`"}`)
			},
			steps:    []step{{cancel: true, uid: "booked", changedAt: 30 * time.Minute}},
			vendorID: "moved", superseded: true},
		{name: "a cancel by the host at Cal.com after the vendor's change supersedes it",
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, true)
				s.clock.advance(time.Hour)
				s.calcom(t, "/v2/bookings/"+uids["booked"]+"/cancel", `{"cancellationReason":"host away"}`)
			},
			steps:    []step{{uid: "booked", changedAt: 30 * time.Minute}},
			vendorID: "booked", superseded: true},
		{name: "the hub's own earlier reschedule (rescheduledBy organizer_email) is no conflict",
			organizer: organizer,
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, false) // not the hub's booking: only rescheduledBy tells
				s.clock.advance(time.Hour)
				uids["moved"] = s.calcom(t, "/v2/bookings/"+uids["booked"]+"/reschedule",
					`{"start":"2030-03-05T10:00:00Z","rescheduledBy":"`+organizer+`"}`)
			},
			steps:  []step{{uid: "booked", changedAt: 30 * time.Minute}},
			writes: []string{"reschedule moved"}, vendorID: "new"},
		{name: "without organizer_email, that reschedule of a booking the hub did not make is someone else's",
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, false)
				s.clock.advance(time.Hour)
				uids["moved"] = s.calcom(t, "/v2/bookings/"+uids["booked"]+"/reschedule",
					`{"start":"2030-03-05T10:00:00Z","rescheduledBy":"`+organizer+`"}`)
			},
			steps:    []step{{uid: "booked", changedAt: 30 * time.Minute}},
			vendorID: "moved", superseded: true},
		{name: "the hub's own reschedule through the connector, then an older vendor's change elsewhere",
			organizer: organizer,
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, false)
				s.clock.advance(time.Hour)
			},
			steps: []step{{uid: "booked"}, // a client's write: moved to 14:15Z by the hub
				{uid: "booked", changedAt: 30 * time.Minute, start: "2030-03-08T16:00:00Z"}},
			writes: []string{"reschedule booked", "reschedule new"}, vendorID: "new"},
		{name: "a start already the live booking's changes nothing, even after a change at Cal.com",
			setup: func(t *testing.T, s *sandbox, uids map[string]string) {
				uids["booked"] = s.book(t, true)
				s.clock.advance(time.Hour)
				uids["moved"] = s.calcom(t, "/v2/bookings/"+uids["booked"]+"/reschedule",
					`{"start":"2030-03-06T14:15:00Z","rescheduledBy":"`+patient+`"}`)
			},
			steps:    []step{{uid: "booked", changedAt: 30 * time.Minute}},
			vendorID: "moved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t, tc.organizer)
			uids := map[string]string{}
			tc.setup(t, s, uids)
			before := len(s.sim.Received())
			s.clock.advance(time.Minute)
			var res connectors.Result
			for i, st := range tc.steps {
				r, err := s.deliver(t, st, uids)
				if st.fails {
					var ce *connectors.Error
					if !errors.As(err, &ce) || ce.Class != connectors.Retryable {
						t.Fatalf("step %d: %+v %v, want a retryable failure", i, r, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				res = r
				if r.VendorID != "" && i < len(tc.steps)-1 {
					uids["new"] = r.VendorID
				}
			}
			writes := s.sim.Received()[before:]
			named := map[string]string{}
			for k, v := range uids {
				named[v] = k
			}
			var got []string
			for _, w := range writes {
				if w.Status >= 300 {
					t.Fatalf("Cal.com refused %s: %d", w.Path, w.Status)
				}
				uid, action, _ := strings.Cut(strings.TrimPrefix(w.Path, "/v2/bookings/"), "/")
				got = append(got, action+" "+named[uid])
				if action == "reschedule" {
					uids["new"], named[w.ID] = w.ID, "new"
					if by, _ := w.Body["rescheduledBy"].(string); by != tc.organizer {
						t.Fatalf("rescheduledBy %q, want organizer_email %q", by, tc.organizer)
					}
				}
			}
			if strings.Join(got, ", ") != strings.Join(tc.writes, ", ") {
				t.Fatalf("writes %v, want %v", got, tc.writes)
			}
			if res.VendorID == "" || res.VendorID != uids[tc.vendorID] || res.Superseded != tc.superseded {
				t.Fatalf("result %+v, want vendor id %s (%s) superseded %v", res, tc.vendorID, uids[tc.vendorID], tc.superseded)
			}
			if l := s.sim.Log(); l.DuplicateEffects != 0 {
				t.Fatalf("%d duplicate effects", l.DuplicateEffects)
			}
		})
	}
}

// rescheduledToUid is followed at most 5 times: a longer chain fails
// permanently rather than reading on.
func TestRescheduleChainIsBounded(t *testing.T) {
	for _, tc := range []struct {
		hops  int
		reads int
		fails bool
	}{{5, 6, false}, {6, 6, true}} {
		var rec recorder
		var mu sync.Mutex
		n := 0
		c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(`{"status":"success","data":{"uid":"bkNew"}}`))
				return
			}
			mu.Lock()
			n++
			to := ""
			if n <= tc.hops {
				to = `,"status":"cancelled","rescheduledToUid":"bkHop` + string(rune('0'+n)) + `"`
			}
			mu.Unlock()
			_, _ = w.Write([]byte(`{"status":"success","data":{"uid":"x","start":"2030-03-01T09:00:00.000Z"` + to + `}}`))
		}))
		res, err := c.Deliver(context.Background(), delivery(t, "appointment-reschedule.json", connectors.Update))
		var ce *connectors.Error
		if tc.fails && (!errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != "calcom_reschedule_chain") {
			t.Fatalf("%d hops: %+v %v, want a permanent failure", tc.hops, res, err)
		}
		if !tc.fails && (err != nil || res.VendorID != "bkNew") {
			t.Fatalf("%d hops: %+v %v", tc.hops, res, err)
		}
		got := rec.all()
		if tc.fails && len(got) != tc.reads || !tc.fails && (len(got) != tc.reads+1 || got[len(got)-1].path != "/v2/bookings/bkHop5/reschedule") {
			t.Fatalf("%d hops: calls %+v", tc.hops, got)
		}
	}
}
