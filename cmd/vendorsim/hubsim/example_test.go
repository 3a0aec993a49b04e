package hubsim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/hubsim"
)

// A test starts the HubSpot sandbox in-process and upserts one contact three
// times: created, then unchanged (a retry), then updated.
func Example() {
	sim := hubsim.New(hubsim.Options{})
	hub := httptest.NewServer(sim)
	defer hub.Close()

	for _, first := range []string{"Sam", "Sam", "Samuel"} {
		body := `{"inputs":[{"id":"sam@example.org","idProperty":"email","properties":{"firstname":"` + first + `"}}]}`
		req, _ := http.NewRequest(http.MethodPost, hub.URL+"/crm/v3/objects/contacts/batch/upsert", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer pat-example")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	l := sim.Log() // or GET /_sandbox/log
	for _, r := range l.Requests {
		fmt.Println(r.Method, r.Path, r.Status, r.Effect, r.ID)
	}
	fmt.Println("effects:", l.Effects, "duplicate effects:", l.DuplicateEffects)
	// Output:
	// POST /crm/v3/objects/contacts/batch/upsert 200 created 101
	// POST /crm/v3/objects/contacts/batch/upsert 200 unchanged 101
	// POST /crm/v3/objects/contacts/batch/upsert 200 updated 101
	// effects: 2 duplicate effects: 0
}
