package calsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestCredentialsAndVersionAreRequired(t *testing.T) {
	_, base := start(t, Options{APIKey: "cal_test_key"})
	cases := []struct {
		name, method, path, version string
		extra                       []string
		status                      int
		code                        string
	}{
		{"no token", "GET", "/v2/bookings", BookingsVersion, []string{"Authorization", ""}, 401, "UnauthorizedException"},
		{"wrong token", "GET", "/v2/bookings", BookingsVersion, []string{"Authorization", "Bearer other"}, 401, "UnauthorizedException"},
		{"no version", "GET", "/v2/bookings", "", nil, 400, "BadRequestException"},
		{"slots version on bookings", "GET", "/v2/bookings", SlotsVersion, nil, 400, "BadRequestException"},
		{"bookings version on slots", "GET", "/v2/slots?start=2030-03-05&end=2030-03-05&eventTypeId=1", BookingsVersion, nil, 400, "BadRequestException"},
		{"unknown booking", "GET", "/v2/bookings/nope", BookingsVersion, nil, 404, "NotFoundException"},
		{"method", "DELETE", "/v2/bookings/nope", BookingsVersion, nil, 405, "MethodNotAllowedException"},
		{"all good", "GET", "/v2/bookings", BookingsVersion, nil, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := call(t, tc.method, base+tc.path, tc.version, "", tc.extra...)
			if status != tc.status || errCode(out) != tc.code {
				t.Fatalf("%d %v, want %d %s", status, out, tc.status, tc.code)
			}
			if tc.code != "" && out["status"] != "error" {
				t.Fatalf("error envelope %v", out)
			}
		})
	}
}

func TestCreateRefusesWhatCalcomRefuses(t *testing.T) {
	_, base := start(t, Options{})
	cases := []struct{ name, body string }{
		{"not JSON", `{`},
		{"no start", `{"eventTypeId":1,"attendee":{"name":"A","email":"a@x","timeZone":"UTC"}}`},
		{"no event type", `{"start":"2030-03-04T09:00:00Z","attendee":{"name":"A","email":"a@x","timeZone":"UTC"}}`},
		{"no attendee", `{"start":"2030-03-04T09:00:00Z","eventTypeId":1}`},
		{"no email", `{"start":"2030-03-04T09:00:00Z","eventTypeId":1,"attendee":{"name":"A","timeZone":"UTC"}}`},
		{"bad time zone", `{"start":"2030-03-04T09:00:00Z","eventTypeId":1,"attendee":{"name":"A","email":"a@x","timeZone":"Mars/Olympus"}}`},
		{"metadata key too long", `{"start":"2030-03-04T09:00:00Z","eventTypeId":1,"attendee":{"name":"A","email":"a@x","timeZone":"UTC"},"metadata":{"` + strings.Repeat("k", 41) + `":"v"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := call(t, "POST", base+"/v2/bookings", BookingsVersion, tc.body)
			if status != 400 || errCode(out) != "BadRequestException" {
				t.Fatalf("%d %v, want 400 BadRequestException", status, out)
			}
		})
	}
}

// One booking's life as the connector drives it, and the evidence it leaves.
func TestBookingLifecycle(t *testing.T) {
	sim, base := start(t, Options{})
	status, out := call(t, "POST", base+"/v2/bookings", BookingsVersion, bookingBody, "Idempotency-Key", "k-create")
	b := data(out)
	uid, _ := b["uid"].(string)
	if status != 201 || out["status"] != "success" || len(uid) != 22 || b["status"] != "accepted" ||
		b["start"] != "2030-03-04T09:00:00.000Z" || b["end"] != "2030-03-04T09:45:00.000Z" {
		t.Fatalf("create: %d %v", status, out)
	}
	if md, _ := b["metadata"].(map[string]any); md["switchboard_transfer"] != "tr_1" {
		t.Fatalf("metadata %v", b["metadata"])
	}

	steps := []struct {
		name, method, path, body, key string
		status                        int
		check                         func(t *testing.T, out map[string]any)
	}{
		{"read", "GET", "/v2/bookings/" + uid, "", "", 200, func(t *testing.T, out map[string]any) {
			if data(out)["uid"] != uid {
				t.Fatalf("%v", out)
			}
		}},
		{"list by attendee from the start", "GET", "/v2/bookings?attendeeEmail=ALEX%40example.org&afterStart=2030-03-04T08:59:00.000Z&take=100&skip=0", "", "", 200,
			func(t *testing.T, out map[string]any) {
				list, _ := out["data"].([]any)
				page, _ := out["pagination"].(map[string]any)
				if len(list) != 1 || page["totalItems"] != float64(1) || page["hasNextPage"] != false {
					t.Fatalf("%v", out)
				}
			}},
		{"list after the start finds nothing", "GET", "/v2/bookings?attendeeEmail=alex%40example.org&afterStart=2030-03-04T09:01:00Z", "", "", 200,
			func(t *testing.T, out map[string]any) {
				if list, _ := out["data"].([]any); len(list) != 0 {
					t.Fatalf("%v", out)
				}
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, out := call(t, st.method, base+st.path, BookingsVersion, st.body)
			if status != st.status {
				t.Fatalf("%d %v", status, out)
			}
			st.check(t, out)
		})
	}

	status, out = call(t, "POST", base+"/v2/bookings/"+uid+"/reschedule", BookingsVersion,
		`{"start":"2030-03-05T10:00:00Z","reschedulingReason":"moved"}`, "Idempotency-Key", "k-move")
	moved := data(out)
	newUID, _ := moved["uid"].(string)
	if status != 201 || newUID == "" || newUID == uid || moved["rescheduledFromUid"] != uid ||
		moved["start"] != "2030-03-05T10:00:00.000Z" || moved["end"] != "2030-03-05T10:45:00.000Z" || moved["status"] != "accepted" {
		t.Fatalf("reschedule: %d %v", status, out)
	}
	_, out = call(t, "GET", base+"/v2/bookings/"+uid, BookingsVersion, "")
	if old := data(out); old["status"] != "cancelled" || old["rescheduledToUid"] != newUID {
		t.Fatalf("the old booking after reschedule: %v", old)
	}
	again := []struct {
		name, path, body string
		status           int
	}{
		{"the old booking cannot be rescheduled again", "/v2/bookings/" + uid + "/reschedule", `{"start":"2030-03-06T10:00:00Z"}`, 400},
		{"the old booking cannot be cancelled", "/v2/bookings/" + uid + "/cancel", `{"cancellationReason":"x"}`, 400},
		{"the new booking is cancelled", "/v2/bookings/" + newUID + "/cancel", `{"cancellationReason":"x"}`, 200},
		{"and only once", "/v2/bookings/" + newUID + "/cancel", `{"cancellationReason":"x"}`, 400},
		{"an unknown booking", "/v2/bookings/nope/cancel", `{}`, 404},
	}
	for _, a := range again {
		t.Run(a.name, func(t *testing.T) {
			if status, out := call(t, "POST", base+a.path, BookingsVersion, a.body); status != a.status {
				t.Fatalf("%d %v, want %d", status, out, a.status)
			}
		})
	}

	l := sim.Log()
	var effects []string
	for _, e := range l.Requests {
		effects = append(effects, e.Method+" "+string(e.Effect))
	}
	want := "POST created,GET read,GET search,GET search,POST rescheduled,GET read,POST rejected,POST rejected,POST cancelled,POST rejected,POST rejected"
	if got := strings.Join(effects, ","); got != want {
		t.Fatalf("log effects\n%s\nwant\n%s", got, want)
	}
	if l.Effects != 3 || l.DuplicateEffects != 0 {
		t.Fatalf("effects %d duplicates %d", l.Effects, l.DuplicateEffects)
	}
	rec := sim.Received()
	if len(rec) != 7 || rec[0].Effect != EffectCreated || rec[0].ID != uid || rec[0].IdempotencyKey != "k-create" {
		t.Fatalf("received %+v", rec)
	}
	if att, _ := rec[0].Body["attendee"].(map[string]any); att["email"] != "alex@example.org" {
		t.Fatalf("received body %v", rec[0].Body)
	}
	if rec[1].Path != "/v2/bookings/"+uid+"/reschedule" || rec[1].Body["start"] != "2030-03-05T10:00:00Z" || rec[1].ID != newUID {
		t.Fatalf("received reschedule %+v", rec[1])
	}
}

// Cal.com ignores Idempotency-Key: two creates with one key book twice, and
// the log says so.
func TestDuplicateEffectsAreCounted(t *testing.T) {
	sim, base := start(t, Options{})
	for range 2 {
		if status, out := call(t, "POST", base+"/v2/bookings", BookingsVersion, bookingBody, "Idempotency-Key", "same"); status != 201 {
			t.Fatalf("%d %v", status, out)
		}
	}
	call(t, "POST", base+"/v2/bookings", BookingsVersion, bookingBody, "Idempotency-Key", "other")
	if l := sim.Log(); l.Effects != 3 || l.DuplicateEffects != 1 {
		t.Fatalf("effects %d duplicates %d, want 3 and 1", l.Effects, l.DuplicateEffects)
	}
	_, out := call(t, "GET", base+"/v2/bookings?attendeeEmail=alex%40example.org&take=2", BookingsVersion, "")
	if page, _ := out["pagination"].(map[string]any); page["totalItems"] != float64(3) || page["hasNextPage"] != true || page["returnedItems"] != float64(2) {
		t.Fatalf("pagination %v", out["pagination"])
	}
}

func TestSlots(t *testing.T) {
	sim, base := start(t, Options{})
	// Booked 09:00-09:45 on Monday 2030-03-04: the 09:00 and 09:30 slots go.
	call(t, "POST", base+"/v2/bookings", BookingsVersion, bookingBody)
	cases := []struct {
		name, query string
		status      int
		days        map[string]int // slots per date
		first       map[string]any
	}{
		{"a working day minus the booking", "start=2030-03-04&end=2030-03-04&eventTypeId=4242&format=range", 200,
			map[string]int{"2030-03-04": 14}, map[string]any{"start": "2030-03-04T10:00:00.000Z", "end": "2030-03-04T10:30:00.000Z"}},
		{"the weekend has none", "start=2030-03-08&end=2030-03-10&eventTypeId=4242", 200,
			map[string]int{"2030-03-08": 16}, map[string]any{"start": "2030-03-08T09:00:00.000Z"}},
		{"duration and time zone", "start=2030-03-05&end=2030-03-05&eventTypeId=4242&format=range&duration=60&timeZone=Europe/Lisbon", 200,
			map[string]int{"2030-03-05": 8}, map[string]any{"start": "2030-03-05T09:00:00.000Z", "end": "2030-03-05T10:00:00.000Z"}},
		{"instants bound the range", "start=2030-03-05T15:00:00Z&end=2030-03-05T16:00:00Z&eventTypeId=1&format=range", 200,
			map[string]int{"2030-03-05": 2}, map[string]any{"start": "2030-03-05T15:00:00.000Z", "end": "2030-03-05T15:30:00.000Z"}},
		{"the past is not offered", "start=2030-03-01&end=2030-03-01&eventTypeId=1", 200, map[string]int{}, nil},
		{"no event type", "start=2030-03-05&end=2030-03-05", 400, nil, nil},
		{"no end", "start=2030-03-05&eventTypeId=1", 400, nil, nil},
		{"too long", "start=2030-03-05&end=2031-03-05&eventTypeId=1", 400, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := call(t, "GET", base+"/v2/slots?"+tc.query, SlotsVersion, "")
			if status != tc.status {
				t.Fatalf("%d %v", status, out)
			}
			if tc.status != 200 {
				return
			}
			d := data(out)
			if len(d) != len(tc.days) {
				t.Fatalf("days %v, want %v", d, tc.days)
			}
			for day, n := range tc.days {
				slots, _ := d[day].([]any)
				if len(slots) != n {
					t.Fatalf("%s: %d slots, want %d", day, len(slots), n)
				}
				got, _ := json.Marshal(slots[0])
				want, _ := json.Marshal(tc.first)
				if string(got) != string(want) {
					t.Fatalf("%s first slot %s, want %s", day, got, want)
				}
			}
		})
	}
	if l := sim.Log(); l.Requests[len(l.Requests)-1].Effect != EffectRejected {
		t.Fatalf("log %+v", l.Requests[len(l.Requests)-1])
	}
}

// The log is served without bodies and query strings; reset forgets all.
func TestLogAndReset(t *testing.T) {
	sim, base := start(t, Options{})
	call(t, "POST", base+"/v2/bookings", BookingsVersion, bookingBody, "Idempotency-Key", "k1")
	call(t, "GET", base+"/v2/bookings?attendeeEmail=alex%40example.org", BookingsVersion, "")
	resp, err := http.Get(base + "/_sandbox/log")
	if err != nil {
		t.Fatal(err)
	}
	var raw json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	resp.Body.Close()
	for _, phi := range []string{"alex", "Alex", "attendeeEmail", "Lisbon"} {
		if strings.Contains(string(raw), phi) {
			t.Fatalf("the log holds %q: %s", phi, raw)
		}
	}
	var l Log
	if err := json.Unmarshal(raw, &l); err != nil || len(l.Requests) != 2 || l.Effects != 1 ||
		l.Requests[0].Path != "/v2/bookings" || l.Requests[0].Status != 201 || l.Requests[0].ID == "" || l.Requests[0].IdempotencyKey != "k1" {
		t.Fatalf("log %s %v", raw, err)
	}
	if status, _ := call(t, "GET", base+"/_sandbox/reset", "", ""); status != http.StatusMethodNotAllowed {
		t.Fatalf("GET reset: %d", status)
	}
	resp, err = http.Post(base+"/_sandbox/reset", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %v %v", resp, err)
	}
	resp.Body.Close()
	if l := sim.Log(); len(l.Requests) != 0 || l.Effects != 0 || len(sim.Received()) != 0 {
		t.Fatalf("after reset: %+v", l)
	}
	if _, out := call(t, "GET", base+"/v2/bookings", BookingsVersion, ""); len(out["data"].([]any)) != 0 {
		t.Fatalf("bookings after reset: %v", out)
	}
}
