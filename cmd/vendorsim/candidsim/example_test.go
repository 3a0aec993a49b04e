package candidsim_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/candidsim"
)

// A test starts the Candid sandbox in-process, gets a token, creates the same
// encounter twice and reads the evidence: one encounter, one refusal.
func Example() {
	sim := candidsim.New(candidsim.Options{})
	candid := httptest.NewServer(sim)
	defer candid.Close()

	resp, err := http.Post(candid.URL+"/api/auth/v2/token", "application/json",
		strings.NewReader(`{"client_id":"example","client_secret":"example"}`))
	if err != nil {
		panic(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	bearer := strings.Split(string(tok), `"`)[3] // {"access_token":"…",…}

	const encounter = `{"external_id":"claim-42","patient_authorized_release":true,"benefits_assigned_to_provider":true,
	  "provider_accepts_assignment":true,"billable_status":"BILLABLE","responsible_party":"INSURANCE_PAY",
	  "patient":{"external_id":"p1"},"billing_provider":{},"rendering_provider":{},
	  "diagnoses":[{"code":"J069","code_type":"ABK"}],"place_of_service_code":"11"}`
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, candid.URL+"/api/encounters/v4", strings.NewReader(encounter))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	l := sim.Log() // or GET /_sandbox/log
	for _, r := range l.Requests {
		fmt.Println(r.Method, r.Path, r.Status, r.Effect)
	}
	fmt.Println("effects:", l.Effects, "duplicate effects:", l.DuplicateEffects)
	// Output:
	// 200
	// 409
	// POST /api/auth/v2/token 200 token
	// POST /api/encounters/v4 200 created
	// POST /api/encounters/v4 409 rejected
	// effects: 1 duplicate effects: 0
}
