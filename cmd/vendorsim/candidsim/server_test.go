package candidsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const encounterBody = `{"external_id":"claim-1","patient_authorized_release":true,"benefits_assigned_to_provider":true,` +
	`"provider_accepts_assignment":true,"billable_status":"BILLABLE","responsible_party":"INSURANCE_PAY",` +
	`"patient":{"external_id":"pat","first_name":"Alex","last_name":"Testperson"},` +
	`"subscriber_primary":{"insurance_card":{"member_id":"M1","payer_name":"Example Health Plan","payer_id":"60054"}},` +
	`"billing_provider":{"npi":"1234567893"},"rendering_provider":{"npi":"1234567893"},` +
	`"diagnoses":[{"code":"J069","code_type":"ABK"}],"place_of_service_code":"11","service_lines":[]}`

func start(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	sim := New(o)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func send(t *testing.T, method, url, token, body string, extra ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func token(t *testing.T, base string) string {
	t.Helper()
	status, out := send(t, "POST", base+"/api/auth/v2/token", "", `{"client_id":"cid","client_secret":"csecret"}`)
	tok, _ := out["access_token"].(string)
	if status != 200 || tok == "" || out["expires_in"] != float64(3600) || out["token_type"] != "Bearer" {
		t.Fatalf("token: %d %v", status, out)
	}
	return tok
}

func TestToken(t *testing.T) {
	_, base := start(t, Options{ClientID: "cid", ClientSecret: "csecret"})
	cases := []struct {
		name, body, contentType string
		status                  int
		errorName               string
	}{
		{"good", `{"client_id":"cid","client_secret":"csecret"}`, "application/json", 200, ""},
		{"wrong secret", `{"client_id":"cid","client_secret":"nope"}`, "application/json", 401, "UnauthorizedError"},
		{"missing secret", `{"client_id":"cid"}`, "application/json", 422, "HttpRequestValidationsError"},
		{"form encoded", `client_id=cid`, "application/x-www-form-urlencoded", 415, "InvalidContentTypeError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := send(t, "POST", base+"/api/auth/v2/token", "", tc.body, "Content-Type", tc.contentType)
			if status != tc.status || (tc.errorName != "" && out["errorName"] != tc.errorName) {
				t.Fatalf("%d %v, want %d %s", status, out, tc.status, tc.errorName)
			}
		})
	}
}

func TestEncounters(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	sim, base := start(t, Options{Now: func() time.Time { return now }})
	tok := token(t, base)

	status, out := send(t, "POST", base+"/api/encounters/v4", tok, encounterBody, "Idempotency-Key", "k1")
	id, _ := out["encounter_id"].(string)
	claims, _ := out["claims"].([]any)
	if status != 200 || len(id) != 36 || out["external_id"] != "claim-1" || out["created_at"] != "2026-11-02T10:00:00Z" || len(claims) != 1 {
		t.Fatalf("create: %d %v", status, out)
	}
	if c, _ := claims[0].(map[string]any); c["status"] != "biller_received" {
		t.Fatalf("claim %v", claims[0])
	}
	cases := []struct {
		name, method, path, token, body string
		status                          int
		errorName                       string
	}{
		{"a known external_id is refused", "POST", "/api/encounters/v4", tok, encounterBody, 409, "EncounterExternalIdUniquenessError"},
		{"a missing field", "POST", "/api/encounters/v4", tok, strings.Replace(encounterBody, `"billable_status":"BILLABLE",`, "", 1), 422, "HttpRequestValidationsError"},
		{"no diagnosis", "POST", "/api/encounters/v4", tok, strings.Replace(encounterBody, `[{"code":"J069","code_type":"ABK"}]`, "[]", 1), 422, "HttpRequestValidationsError"},
		{"no token", "POST", "/api/encounters/v4", "", encounterBody, 401, "UnauthorizedError"},
		{"a token it never issued", "GET", "/api/encounters/v4/" + id, "forged", "", 401, "UnauthorizedError"},
		{"read", "GET", "/api/encounters/v4/" + id, tok, "", 200, ""},
		{"read unknown", "GET", "/api/encounters/v4/nope", tok, "", 404, "EntityNotFoundError"},
		{"method", "DELETE", "/api/encounters/v4/" + id, tok, "", 405, "MethodNotAllowedError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := send(t, tc.method, base+tc.path, tc.token, tc.body, "Idempotency-Key", "k1")
			if status != tc.status || (tc.errorName != "" && out["errorName"] != tc.errorName) {
				t.Fatalf("%d %v, want %d %s", status, out, tc.status, tc.errorName)
			}
		})
	}
	if err := sim.SetClaimStatus(id, "paid"); err != nil {
		t.Fatal(err)
	}
	_, out = send(t, "GET", base+"/api/encounters/v4/"+id, tok, "")
	if c := out["claims"].([]any)[0].(map[string]any); c["status"] != "paid" {
		t.Fatalf("after SetClaimStatus: %v", c)
	}
	sim.ExpireTokens()
	if status, _ := send(t, "GET", base+"/api/encounters/v4/"+id, tok, ""); status != 401 {
		t.Fatalf("expired token: %d", status)
	}

	l := sim.Log()
	if l.Effects != 1 || l.DuplicateEffects != 0 || len(l.Requests) != 12 {
		t.Fatalf("log: effects %d duplicates %d rows %d", l.Effects, l.DuplicateEffects, len(l.Requests))
	}
	if dup := l.Requests[2]; dup.Status != 409 || dup.Effect != EffectRejected || dup.ID != id {
		t.Fatalf("the duplicate's row %+v names the existing encounter", dup)
	}
	rec := sim.Received()
	// The create, the duplicate, two invalid bodies and the one without a token.
	if len(rec) != 5 || rec[0].ID != id || rec[0].Body["external_id"] != "claim-1" || rec[1].Status != 409 || rec[4].Status != 401 {
		t.Fatalf("received %d writes", len(rec))
	}
}

func TestLogHoldsNoPHIAndResetForgets(t *testing.T) {
	sim, base := start(t, Options{})
	tok := token(t, base)
	send(t, "POST", base+"/api/encounters/v4", tok, encounterBody)
	resp, err := http.Get(base + "/_sandbox/log")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, phi := range []string{"Testperson", "J069", "csecret", "cid", tok} {
		if strings.Contains(string(raw), phi) {
			t.Fatalf("the log holds %q: %s", phi, raw)
		}
	}
	resp, err = http.Post(base+"/_sandbox/reset", "", nil)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("reset %v %v", resp, err)
	}
	resp.Body.Close()
	if l := sim.Log(); len(l.Requests) != 0 || len(sim.Received()) != 0 {
		t.Fatalf("after reset %+v", l)
	}
	if status, _ := send(t, "POST", base+"/api/encounters/v4", tok, encounterBody); status != 401 {
		t.Fatalf("a token from before the reset: %d", status)
	}
	if status, _ := send(t, "POST", base+"/api/encounters/v4", token(t, base), encounterBody); status != 200 {
		t.Fatalf("the external_id is free again after reset: %d", status)
	}
}
