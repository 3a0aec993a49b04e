package hubsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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

func upsertBody(email, first string) string {
	return `{"inputs":[{"id":"` + email + `","idProperty":"email","objectWriteTraceId":"tr_1",` +
		`"properties":{"email":"` + email + `","firstname":"` + first + `","lastname":"Example","switchboard_fhir_id":"p1"}}]}`
}

func first(out map[string]any) map[string]any {
	r, _ := out["results"].([]any)
	if len(r) == 0 {
		return nil
	}
	m, _ := r[0].(map[string]any)
	return m
}

func TestUpsert(t *testing.T) {
	sim, base := start(t, Options{Token: "pat-sbx"})
	const path = "/crm/v3/objects/contacts/batch/upsert"
	cases := []struct {
		name, token, body string
		status            int
		category          string
		isNew             bool
		firstname         string
		effect            Effect
	}{
		{"create", "pat-sbx", upsertBody("alex@example.org", "Alex"), 200, "", true, "Alex", EffectCreated},
		{"the same again changes nothing", "pat-sbx", upsertBody("alex@example.org", "Alex"), 200, "", false, "Alex", EffectUnchanged},
		{"same email in another case updates", "pat-sbx", upsertBody("ALEX@example.org", "Lex"), 200, "", false, "Lex", EffectUpdated},
		{"another email creates", "pat-sbx", upsertBody("sam@example.org", "Sam"), 200, "", true, "Sam", EffectCreated},
		{"no token", "", upsertBody("x@example.org", "X"), 401, "INVALID_AUTHENTICATION", false, "", EffectRejected},
		{"wrong token", "other", upsertBody("x@example.org", "X"), 401, "INVALID_AUTHENTICATION", false, "", EffectRejected},
		{"unknown property", "pat-sbx", strings.Replace(upsertBody("x@example.org", "X"), `"lastname"`, `"favourite_colour"`, 1), 400, "VALIDATION_ERROR", false, "", EffectRejected},
		{"not an email", "pat-sbx", `{"inputs":[{"id":"nope","idProperty":"email","properties":{}}]}`, 400, "VALIDATION_ERROR", false, "", EffectRejected},
		{"another idProperty", "pat-sbx", `{"inputs":[{"id":"1","idProperty":"hs_object_id","properties":{}}]}`, 400, "VALIDATION_ERROR", false, "", EffectRejected},
		{"empty batch", "pat-sbx", `{"inputs":[]}`, 400, "VALIDATION_ERROR", false, "", EffectRejected},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := send(t, "POST", base+path, tc.token, tc.body, "Idempotency-Key", "k"+tc.name)
			if status != tc.status || (tc.category != "" && out["category"] != tc.category) {
				t.Fatalf("%d %v, want %d %s", status, out, tc.status, tc.category)
			}
			if got := sim.Log().Requests[i].Effect; got != tc.effect {
				t.Fatalf("effect %s, want %s", got, tc.effect)
			}
			if tc.status != 200 {
				return
			}
			r := first(out)
			props, _ := r["properties"].(map[string]any)
			if out["status"] != "COMPLETE" || r["new"] != tc.isNew || props["firstname"] != tc.firstname || props["hs_object_id"] != r["id"] {
				t.Fatalf("%v", out)
			}
		})
	}
	l := sim.Log()
	if l.Effects != 3 || l.DuplicateEffects != 0 {
		t.Fatalf("effects %d duplicates %d", l.Effects, l.DuplicateEffects)
	}
	if rec := sim.Received(); len(rec) != len(cases) || rec[0].ID != "101" || rec[2].ID != "101" || rec[3].ID != "102" {
		t.Fatalf("received %d writes", len(rec))
	}
	// A portal without the custom property refuses it, as HubSpot does.
	_, bare := start(t, Options{CustomProperties: []string{}})
	if status, out := send(t, "POST", bare+path, "t", upsertBody("a@example.org", "A")); status != 400 || out["category"] != "VALIDATION_ERROR" {
		t.Fatalf("missing custom property: %d %v", status, out)
	}
}

func TestSearchAndRead(t *testing.T) {
	sim, base := start(t, Options{})
	for _, e := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		send(t, "POST", base+"/crm/v3/objects/contacts/batch/upsert", "t", upsertBody(e, "N"))
	}
	search := func(body string) (int, map[string]any) {
		return send(t, "POST", base+"/crm/v3/objects/contacts/search", "t", body)
	}
	cases := []struct {
		name, body string
		status     int
		ids        []string
		next       string
	}{
		{"by email, any case", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"B@EXAMPLE.ORG"}]}],"limit":10,"after":"","properties":["email"],"sorts":[]}`, 200, []string{"102"}, ""},
		{"groups are ORed, paged", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"a@example.org"}]},{"filters":[{"propertyName":"lastname","operator":"EQ","value":"Example"}]}],"limit":2}`, 200, []string{"101", "102"}, "2"},
		{"the next page", `{"filterGroups":[{"filters":[{"propertyName":"lastname","operator":"EQ","value":"Example"}]}],"limit":2,"after":"2"}`, 200, []string{"103"}, ""},
		{"no match", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"z@example.org"}]}]}`, 200, nil, ""},
		{"other operators", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"CONTAINS_TOKEN","value":"a"}]}]}`, 400, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := search(tc.body)
			if status != tc.status {
				t.Fatalf("%d %v", status, out)
			}
			if status != 200 {
				return
			}
			var ids []string
			for _, r := range out["results"].([]any) {
				ids = append(ids, r.(map[string]any)["id"].(string))
			}
			paging, _ := out["paging"].(map[string]any)
			next, _ := paging["next"].(map[string]any)
			after, _ := next["after"].(string)
			if strings.Join(ids, ",") != strings.Join(tc.ids, ",") || after != tc.next {
				t.Fatalf("ids %v next %q, want %v %q", ids, after, tc.ids, tc.next)
			}
		})
	}
	reads := []struct {
		name, path string
		status     int
		id         string
	}{
		{"by id", "/crm/v3/objects/contacts/102?properties=email,firstname,phone", 200, "102"},
		{"by email", "/crm/v3/objects/contacts/C@example.org?idProperty=email&properties=email", 200, "103"},
		{"unknown id", "/crm/v3/objects/contacts/999", 404, ""},
		{"unknown email", "/crm/v3/objects/contacts/z@example.org?idProperty=email", 404, ""},
	}
	for _, rd := range reads {
		t.Run(rd.name, func(t *testing.T) {
			status, out := send(t, "GET", base+rd.path, "t", "")
			if status != rd.status || (rd.id != "" && out["id"] != rd.id) {
				t.Fatalf("%d %v", status, out)
			}
			if status == 404 && out["category"] != "OBJECT_NOT_FOUND" {
				t.Fatalf("%v", out)
			}
		})
	}
	_, out := send(t, "GET", base+"/crm/v3/objects/contacts/102?properties=email,phone", "t", "")
	if props := out["properties"].(map[string]any); props["phone"] != nil || props["email"] != "b@example.org" {
		t.Fatalf("requested properties %v", props)
	}
	// The log never holds an email, not even from a read by email.
	resp, err := http.Get(base + "/_sandbox/log")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(strings.ToLower(string(raw)), "example.org") || strings.Contains(string(raw), "idProperty=") {
		t.Fatalf("the log holds PHI: %s", raw)
	}
	if !strings.Contains(string(raw), `"path":"/crm/v3/objects/contacts/{idProperty value}"`) {
		t.Fatalf("the read by email is not logged under its placeholder: %s", raw)
	}
	resp, err = http.Post(base+"/_sandbox/reset", "", nil)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("reset %v %v", resp, err)
	}
	resp.Body.Close()
	if status, _ := send(t, "GET", base+"/crm/v3/objects/contacts/101", "t", ""); status != 404 || len(sim.Log().Requests) != 1 {
		t.Fatalf("after reset: %d", status)
	}
}
