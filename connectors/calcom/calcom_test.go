package calcom

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/calcom"
)

func TestConfigErrors(t *testing.T) {
	key := map[string]string{"CALCOM_API_KEY": "cal_test_1"}
	cases := []struct {
		name, cfg string
		env       map[string]string
		want      string
	}{
		{"missing key names the variable", `{}`, nil,
			`calcom destination "scheduling": environment variable CALCOM_API_KEY is empty`},
		{"an empty variable is missing too", `{}`, map[string]string{"CALCOM_API_KEY": ""}, `environment variable CALCOM_API_KEY is empty`},
		{"another variable", `{api_key_env: CAL_KEY}`, key, `environment variable CAL_KEY is empty`},
		{"base_url must be http(s)", `{base_url: "ftp://x"}`, key, "base_url"},
		{"time_zone must be IANA", `{time_zone: "Mars/Olympus"}`, key, "time_zone"},
		{"event_type_id must be positive", `{event_type_id: -4}`, key, "event_type_id"},
		{"unknown field", `{event_type: 4}`, key, "event_type"},
		{"organizer_email must be a bare email", `{organizer_email: "Scheduler <s@clinic.example>"}`, key, "organizer_email"},
		{"organizer_email must be an email", `{organizer_email: "scheduler"}`, key, "organizer_email"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := build(t, c.cfg, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	c, err := build(t, `{}`, key)
	if err != nil || c.base != "https://api.cal.com" || c.cfg.SlotMinutes != 30 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}

// What Cal.com receives for each golden input: method, path, headers, and
// a body equal to the golden file.
func TestWhatIsSent(t *testing.T) {
	cases := []struct {
		input    string
		calls    []string // method and path of each call, in order
		vendorID string
	}{
		{"appointment-contained-patient.json", []string{"POST /v2/bookings"}, "bkNew"},
		{"bundle-related-patient.json", []string{"POST /v2/bookings"}, "bkNew"},
		{"appointment-reschedule.json", []string{"GET /v2/bookings/bk3Xq9TzR2mW7pLs", "POST /v2/bookings/bk3Xq9TzR2mW7pLs/reschedule"}, "bkNew"},
		{"appointment-cancel.json", []string{"GET /v2/bookings/bk3Xq9TzR2mW7pLs", "POST /v2/bookings/bk3Xq9TzR2mW7pLs/cancel"}, "bk3Xq9TzR2mW7pLs"},
	}
	for _, tc := range cases {
		for _, ia := range []connectors.Interaction{connectors.Create, connectors.Update} {
			t.Run(string(ia)+" "+tc.input, func(t *testing.T) {
				var rec recorder
				c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet {
						_, _ = w.Write([]byte(`{"status":"success","data":{"uid":"bk3Xq9TzR2mW7pLs","start":"2030-03-01T09:00:00.000Z"}}`))
						return
					}
					w.WriteHeader(http.StatusCreated)
					_, _ = w.Write([]byte(`{"status":"success","data":{"id":5,"uid":"bkNew"}}`))
				}))
				res, err := c.Deliver(context.Background(), delivery(t, tc.input, ia))
				if err != nil || res.VendorID != tc.vendorID {
					t.Fatalf("%+v %v, want vendor id %s", res, err, tc.vendorID)
				}
				got := rec.all()
				if len(got) != len(tc.calls) {
					t.Fatalf("%d calls, want %v", len(got), tc.calls)
				}
				for i, call := range tc.calls {
					if got[i].method+" "+got[i].path != call {
						t.Fatalf("call %d: %s %s, want %s", i, got[i].method, got[i].path, call)
					}
					h := got[i].header
					if h.Get("Authorization") != "Bearer cal_test_123" || h.Get("cal-api-version") != "2024-08-13" {
						t.Fatalf("headers %v", h)
					}
				}
				last := got[len(got)-1]
				if want := string(goldenBody(t, tc.input)); last.body != want {
					t.Fatalf("body\n%s\nwant the golden\n%s", last.body, want)
				}
				if last.header.Get("Idempotency-Key") != "idem-"+tc.input || last.header.Get("Content-Type") != "application/json" {
					t.Fatalf("headers %v", last.header)
				}
			})
		}
	}
}

// An update that leaves the start where the booking already is sends no
// reschedule: the meeting does not move, nobody gets a new invitation.
func TestRescheduleToTheSameStartChangesNothing(t *testing.T) {
	var rec recorder
	c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"success","data":{"uid":"bk3Xq9TzR2mW7pLs","start":"2030-03-06T14:15:00.000Z"}}`))
	}))
	res, err := c.Deliver(context.Background(), delivery(t, "appointment-reschedule.json", connectors.Update))
	if err != nil || res.VendorID != "bk3Xq9TzR2mW7pLs" || res.Status != 200 {
		t.Fatalf("%+v %v", res, err)
	}
	if got := rec.all(); len(got) != 1 || got[0].method != http.MethodGet {
		t.Fatalf("calls %+v, want only the read", got)
	}
}

func TestCalcomAnswersAreClassified(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		class      connectors.Class
		code       string
		retryAfter time.Duration
		calls      int
	}{
		{"400 keeps Cal.com's code word, not its message", 400, nil,
			`{"status":"error","error":{"code":"BadRequestException","message":"Zzsecret alex@example.org"}}`,
			connectors.Permanent, "calcom_BadRequestException", 0, 1},
		{"401 bad key is permanent", 401, nil, `{"status":"error"}`, connectors.Permanent, "calcom_401", 0, 1},
		{"an odd code is not copied", 422, nil, `{"status":"error","error":{"code":"Zzsecret alex@example.org"}}`,
			connectors.Permanent, "calcom_422", 0, 1},
		// A create is sent once per attempt (Cal.com ignores idempotency
		// keys); the queue retries it, and madeBy looks for an earlier effect.
		{"5xx on a create is not repeated inline, and is retryable", 503, nil, `<html>down</html>`, connectors.Retryable, "calcom_503", 0, 1},
		{"409 is retryable by the queue", 409, nil, `{}`, connectors.Retryable, "calcom_409", 0, 1},
		{"429 with a long Retry-After goes to the queue", 429, http.Header{"Retry-After": {"120"}}, `{}`,
			connectors.Retryable, "calcom_429", 120 * time.Second, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			_, err := c.Deliver(context.Background(), delivery(t, "appointment-contained-patient.json", connectors.Create))
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != tc.class || ce.Code != tc.code || ce.Status != tc.status || ce.RetryAfter != tc.retryAfter {
				t.Fatalf("%+v", ce)
			}
			if strings.Contains(err.Error(), "Zzsecret") || strings.Contains(err.Error(), "@") {
				t.Fatalf("the error copies Cal.com's answer: %v", err)
			}
			if n := len(rec.all()); n != tc.calls {
				t.Fatalf("%d calls, want %d", n, tc.calls)
			}
		})
	}
}

func TestUnsupportedDeliveries(t *testing.T) {
	var rec recorder
	c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter, _ *http.Request) {}))
	appt := delivery(t, "appointment-contained-patient.json", connectors.Create)
	noEmail := appt
	noEmail.Resource = []byte(strings.Replace(string(appt.Resource), `"system": "email"`, `"system": "fax"`, 1))
	cases := []struct {
		name string
		d    connectors.Delivery
		code string
	}{
		{"not an Appointment", connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient", Resource: []byte(`{"resourceType":"Patient"}`)}, "unsupported_resource"},
		{"not create or update", connectors.Delivery{Interaction: "delete", ResourceType: "Appointment", Resource: appt.Resource}, "unsupported_interaction"},
		{"a Patient without email", noEmail, "mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Deliver(context.Background(), tc.d)
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != tc.code {
				t.Fatalf("%v", err)
			}
			if tc.code == "mapping" && !errors.Is(err, mapping.ErrNoEmail) {
				t.Fatalf("%v, want the missing email named", err)
			}
			if strings.Contains(err.Error(), "alex") {
				t.Fatalf("the error holds PHI: %v", err)
			}
		})
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d calls to Cal.com, want none", n)
	}
}

// Cal.com ignores Idempotency-Key: a create attempted again first looks for
// the booking an earlier attempt of the same transfer made.
func TestRetriedCreateDoesNotBookTwice(t *testing.T) {
	cases := []struct {
		name, list string
		attempt    int
		calls      []string
		vendorID   string
	}{
		{"first attempt creates without looking", ``, 1, []string{"POST /v2/bookings"}, "bkNew"},
		{"a later attempt finds the booking of its transfer", `[{"uid":"bkOther","status":"accepted","metadata":{"switchboard_transfer":"tr_other"}},` +
			`{"uid":"bkMine","status":"accepted","metadata":{"switchboard_transfer":"tr_golden"}}]`, 2, []string{"GET /v2/bookings"}, "bkMine"},
		{"a later attempt with no booking of its transfer creates", `[{"uid":"bkOther","status":"accepted","metadata":{"switchboard_transfer":"tr_other"}},` +
			`{"uid":"bkOld","status":"cancelled","metadata":{"switchboard_transfer":"tr_golden"}}]`, 3, []string{"GET /v2/bookings", "POST /v2/bookings"}, "bkNew"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					_, _ = w.Write([]byte(`{"status":"success","data":` + tc.list + `,"pagination":{"hasNextPage":false}}`))
					return
				}
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(`{"status":"success","data":{"uid":"bkNew"}}`))
			}))
			d := delivery(t, "appointment-contained-patient.json", connectors.Create)
			d.Attempt = tc.attempt
			res, err := c.Deliver(context.Background(), d)
			if err != nil || res.VendorID != tc.vendorID {
				t.Fatalf("%+v %v, want %s", res, err, tc.vendorID)
			}
			got := rec.all()
			if len(got) != len(tc.calls) {
				t.Fatalf("calls %+v, want %v", got, tc.calls)
			}
			for i, call := range tc.calls {
				if got[i].method+" "+got[i].path != call {
					t.Fatalf("call %d: %s %s, want %s", i, got[i].method, got[i].path, call)
				}
			}
			if tc.attempt > 1 {
				q, _ := url.ParseQuery(got[0].query)
				if q.Get("attendeeEmail") != "alex@example.org" || q.Get("afterStart") != "2030-03-04T08:59:00.000Z" {
					t.Fatalf("lookup query %s", got[0].query)
				}
			}
		})
	}
}
