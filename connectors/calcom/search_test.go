package calcom

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

func vendorAnswer(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSearch(t *testing.T) {
	slots := vendorAnswer(t, "vendor-slots-range.json")
	booking := vendorAnswer(t, "vendor-booking.json")
	list := vendorAnswer(t, "vendor-bookings-list.json")
	nextPage := strings.Replace(string(list), `"hasNextPage": false`, `"hasNextPage": true`, 1)
	cases := []struct {
		name      string
		q         connectors.SearchQuery
		answer    string
		status    int
		path      string
		query     url.Values
		version   string
		resources int
		first     string // a fragment of the first resource
		next      bool
	}{
		{"slots for an event type", connectors.SearchQuery{ResourceType: "Slot",
			Params: url.Values{"start": {"ge2030-03-05"}, "end": {"2030-03-07"}, "service-type": {"https://cal.com/event-type|4242"}}},
			string(slots), 200, "/v2/slots",
			url.Values{"start": {"2030-03-05"}, "end": {"2030-03-07"}, "eventTypeId": {"4242"}, "format": {"range"}}, "2024-09-04",
			3, `"start":"2030-03-05T08:00:00Z","status":"free"`, false},
		{"slots: start=lt is the end, the default event type", connectors.SearchQuery{ResourceType: "Slot",
			Params: url.Values{"start": {"ge2030-03-05", "lt2030-03-06"}}},
			string(slots), 200, "/v2/slots",
			url.Values{"start": {"2030-03-05"}, "end": {"2030-03-06"}, "eventTypeId": {"1001"}, "format": {"range"}}, "2024-09-04",
			3, `"display":"Cal.com event type 1001"`, false},
		{"a booking by its uid", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"identifier": {"https://switchboard.health/id/calcom-booking|bk3Xq9TzR2mW7pLs"}}},
			string(booking), 200, "/v2/bookings/bk3Xq9TzR2mW7pLs", url.Values{}, "2024-08-13",
			1, `"value":"bk3Xq9TzR2mW7pLs"`, false},
		{"an unknown uid is no result, not an error", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"identifier": {"bkGone"}}},
			`{"status":"error","error":{"code":"NotFoundException"}}`, 404, "/v2/bookings/bkGone", url.Values{}, "2024-08-13",
			0, "", false},
		{"bookings of an attendee, first page", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"patient.email": {"sam@example.org"}, "_count": {"3"}}},
			nextPage, 200, "/v2/bookings",
			url.Values{"attendeeEmail": {"sam@example.org"}, "take": {"3"}, "skip": {"0"}}, "2024-08-13",
			3, `"status":"proposed"`, true},
		{"the next page from the cursor", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"patient.email": {"sam@example.org"}}, Cursor: encodeCursor(3, 3)},
			string(list), 200, "/v2/bookings",
			url.Values{"attendeeEmail": {"sam@example.org"}, "take": {"3"}, "skip": {"3"}}, "2024-08-13",
			3, `"value":"bkPending1"`, false},
		{"bookings of an attendee in a start window: both filters applied", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"patient.email": {"sam@example.org"}, "date": {"ge2030-04-01", "lt2030-04-15"}}},
			string(list), 200, "/v2/bookings",
			url.Values{"attendeeEmail": {"sam@example.org"}, "afterStart": {"2030-04-01T00:00:00.000Z"}, "beforeEnd": {"2030-04-15T00:00:00.000Z"}, "take": {"20"}, "skip": {"0"}}, "2024-08-13",
			3, `"value":"bkPending1"`, false},
		{"bookings in a start window, every status, with lastUpdated", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"date": {"ge2030-04-01T00:00:00Z", "lt2030-04-15"}, "_count": {"3"}}},
			nextPage, 200, "/v2/bookings",
			url.Values{"afterStart": {"2030-04-01T00:00:00.000Z"}, "beforeEnd": {"2030-04-15T00:00:00.000Z"}, "take": {"3"}, "skip": {"0"}}, "2024-08-13",
			3, `"lastUpdated":"2030-02-01T10:00:00Z"`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.answer))
			}))
			page, err := c.Search(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			got := rec.all()
			if len(got) != 1 || got[0].method != http.MethodGet || got[0].path != tc.path {
				t.Fatalf("calls %+v, want GET %s", got, tc.path)
			}
			if q, _ := url.ParseQuery(got[0].query); q.Encode() != tc.query.Encode() {
				t.Fatalf("query %s, want %s", q.Encode(), tc.query.Encode())
			}
			if h := got[0].header; h.Get("cal-api-version") != tc.version || h.Get("Authorization") != "Bearer cal_test_123" {
				t.Fatalf("headers %v", h)
			}
			if len(page.Resources) != tc.resources {
				t.Fatalf("%d resources, want %d", len(page.Resources), tc.resources)
			}
			if tc.resources > 0 && !strings.Contains(string(page.Resources[0]), tc.first) {
				t.Fatalf("first resource %s, want it to hold %s", page.Resources[0], tc.first)
			}
			for _, r := range page.Resources {
				var v map[string]any
				if json.Unmarshal(r, &v) != nil || v["resourceType"] != tc.q.ResourceType {
					t.Fatalf("not a %s: %s", tc.q.ResourceType, r)
				}
			}
			if (page.Next != "") != tc.next {
				t.Fatalf("next %q, want a next page: %v", page.Next, tc.next)
			}
			if tc.next {
				take, skip, err := decodeCursor(page.Next)
				if err != nil || take != 3 || skip != 3 {
					t.Fatalf("cursor %q: take %d skip %d %v", page.Next, take, skip, err)
				}
			}
		})
	}
}

func TestSearchRefusals(t *testing.T) {
	var rec recorder
	c := mustBuild(t, rec.serve(t, func(w http.ResponseWriter, _ *http.Request) {}))
	cases := []struct {
		name  string
		q     connectors.SearchQuery
		code  string
		param string // the parameter a bad search names
	}{
		{"Patient is not searched here", connectors.SearchQuery{ResourceType: "Patient", Params: url.Values{"name": {"x"}}}, "unsupported_resource", ""},
		{"a parameter not declared for the type", connectors.SearchQuery{ResourceType: "Slot", Params: url.Values{"family": {"x"}}}, "bad_search", "family"},
		{"slots need an end", connectors.SearchQuery{ResourceType: "Slot", Params: url.Values{"start": {"2030-01-01"}}}, "bad_search", "end"},
		{"slots need a start", connectors.SearchQuery{ResourceType: "Slot", Params: url.Values{"end": {"2030-01-01"}}}, "bad_search", "start"},
		{"one lower bound of a slot window", connectors.SearchQuery{ResourceType: "Slot", Params: url.Values{"start": {"ge2030-01-01", "ge2030-01-02"}, "end": {"2030-01-03"}}}, "bad_search", "start"},
		{"a slot bound must be a date", connectors.SearchQuery{ResourceType: "Slot", Params: url.Values{"start": {"soon"}, "end": {"2030-01-03"}}}, "bad_search", "start"},
		{"service-type of another system", connectors.SearchQuery{ResourceType: "Slot",
			Params: url.Values{"start": {"2030-01-01"}, "end": {"2030-01-02"}, "service-type": {"http://snomed.info/sct|394814009"}}}, "bad_search", "service-type"},
		{"appointments need a uid, an email or a window", connectors.SearchQuery{ResourceType: "Appointment", Params: url.Values{"_count": {"5"}}}, "bad_search", ""},
		{"a window needs prefixes", connectors.SearchQuery{ResourceType: "Appointment", Params: url.Values{"date": {"2030-01-01"}}}, "bad_search", "date"},
		{"a window needs both bounds", connectors.SearchQuery{ResourceType: "Appointment", Params: url.Values{"date": {"ge2030-01-01"}}}, "bad_search", "date"},
		{"a window has one bound of each", connectors.SearchQuery{ResourceType: "Appointment", Params: url.Values{"date": {"ge2030-01-01", "gt2030-01-02", "lt2030-02-01"}}}, "bad_search", "date"},
		{"a window's bound must be a date", connectors.SearchQuery{ResourceType: "Appointment", Params: url.Values{"date": {"ge2030-01-01", "ltsoon"}}}, "bad_search", "date"},
		{"identifier is searched alone", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"identifier": {"bk1"}, "patient.email": {"a@x.example"}}}, "bad_search", "patient.email"},
		{"one email", connectors.SearchQuery{ResourceType: "Appointment", Params: url.Values{"patient.email": {"a@x.example", "b@x.example"}}}, "bad_search", "patient.email"},
		{"patient.email or attendee-email", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"patient.email": {"a@x.example"}, "attendee-email": {"a@x.example"}}}, "bad_search", "attendee-email"},
		{"a cursor not ours", connectors.SearchQuery{ResourceType: "Appointment",
			Params: url.Values{"patient.email": {"a@x.example"}}, Cursor: "Zm9v"}, "cursor", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Search(context.Background(), tc.q)
			var ce *connectors.Error
			if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != tc.code {
				t.Fatalf("%v, want %s", err, tc.code)
			}
			var bad *connectors.SearchParamError
			if errors.As(err, &bad) != (tc.code == "bad_search") || (bad != nil && bad.Param != tc.param) {
				t.Fatalf("%v: want a bad search naming %q", err, tc.param)
			}
			if strings.Contains(err.Error(), "a@x.example") || strings.Contains(err.Error(), "soon") {
				t.Fatalf("the error holds the search: %v", err)
			}
		})
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d calls to Cal.com, want none", n)
	}
	// A search failure at Cal.com is classified like a delivery's.
	c = mustBuild(t, rec.serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	_, err := c.Search(context.Background(), connectors.SearchQuery{ResourceType: "Slot",
		Params: url.Values{"start": {"2030-01-01"}, "end": {"2030-01-02"}}})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Retryable || ce.Code != "calcom_429" || ce.RetryAfter.Seconds() != 60 {
		t.Fatalf("%v", err)
	}
}
