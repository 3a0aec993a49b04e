package calsim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
)

// A test starts the Cal.com sandbox in-process, books, reschedules, and reads
// the evidence: the log (no bodies, no queries) and what was received.
func Example() {
	sim := calsim.New(calsim.Options{})
	cal := httptest.NewServer(sim)
	defer cal.Close()

	post := func(path, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, cal.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer cal_test")
		req.Header.Set("cal-api-version", calsim.BookingsVersion)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post("/v2/bookings", `{"start":"2040-01-02T09:00:00Z","eventTypeId":1,`+
		`"attendee":{"name":"Sam Sample","email":"sam@example.org","timeZone":"UTC"}}`)
	fmt.Println("create:", resp.StatusCode)
	uid := sim.Received()[0].ID
	resp = post("/v2/bookings/"+uid+"/reschedule", `{"start":"2040-01-03T09:00:00Z"}`)
	fmt.Println("reschedule:", resp.StatusCode)

	l := sim.Log() // or GET /_sandbox/log
	for _, r := range l.Requests {
		fmt.Println(r.Method, strings.Replace(r.Path, uid, "{uid}", 1), r.Status, r.Effect)
	}
	fmt.Println("effects:", l.Effects, "duplicate effects:", l.DuplicateEffects)
	fmt.Println("new booking:", sim.Received()[1].ID != uid)
	// Output:
	// create: 201
	// reschedule: 201
	// POST /v2/bookings 201 created
	// POST /v2/bookings/{uid}/reschedule 201 rescheduled
	// effects: 2 duplicate effects: 0
	// new booking: true
}
