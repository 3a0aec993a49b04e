package ehrsim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
)

// A test starts the EHR in-process, sends a write twice with one
// Idempotency-Key, as a retrying hub would, and reads the evidence.
func Example() {
	sim := ehrsim.New(ehrsim.Options{})
	ehr := httptest.NewServer(sim)
	defer ehr.Close()

	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, ehr.URL+"/fhir/R4/Patient",
			strings.NewReader(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"42"}]}`))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Idempotency-Key", "transfer-1/ehr")
		req.Header.Set("If-None-Exist", "identifier=urn:mrn|42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, "replayed:", resp.Header.Get("Idempotent-Replayed") == "true")
	}
	l := sim.Log() // or GET /_sandbox/log
	for _, r := range l.Requests {
		fmt.Println(r.Method, r.Path, r.Effect)
	}
	fmt.Println("effects:", l.Effects, "duplicate effects:", l.DuplicateEffects)
	// Output:
	// 201 replayed: false
	// 201 replayed: true
	// POST /fhir/R4/Patient created
	// POST /fhir/R4/Patient replayed
	// effects: 1 duplicate effects: 0
}

// Faults make the EHR fail the next writes; the same settings are accepted
// as JSON at POST /_sandbox/faults.
func ExampleServer_SetFaults() {
	sim := ehrsim.New(ehrsim.Options{})
	ehr := httptest.NewServer(sim)
	defer ehr.Close()
	if err := sim.SetFaults(ehrsim.Faults{FailNext: 1, FailStatus: 503, RetryAfterS: 2}); err != nil {
		panic(err)
	}
	for range 2 {
		resp, err := http.Post(ehr.URL+"/fhir/R4/Observation", "application/fhir+json",
			strings.NewReader(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q\n", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Output:
	// 503 Retry-After="2"
	// 201 Retry-After=""
}
