package main

import (
	"strings"
	"testing"
)

// The comparison the README walkthrough test makes: what a documented
// answer accepts and what it refuses.
func TestReadmeAnswerMatching(t *testing.T) {
	transfer := `{"id":"tr_01ab","kind":"resource","state":"delivered","created_at":"2026-12-07T06:44:57Z",` +
		`"deliveries":[{"entry":0,"destination":"ehr","state":"delivered","attempts":1},` +
		`{"entry":0,"destination":"marketing","state":"skipped","error_code":"no_consent","attempts":0}],"counts":{"delivered":1,"skipped":1}}`
	curl := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Location: /transfers/tr_01ab\r\nContent-Type: application/fhir+json\r\n" +
		"Idempotent-Replayed: true\r\n\r\n{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"diagnostics\":\"accepted as transfer tr_01ab\"}]}"
	cases := []struct {
		name, lang, answer, output string
		want                       string // "" when it matches; else part of the error
	}{
		{"json with wildcards", "json", `{"id":"tr_…","kind":"resource",…,"deliveries":[
			{"entry":0,"destination":"ehr",…},{"destination":"marketing","error_code":"no_consent",…}],"counts":{"delivered":1,"skipped":1}}`, transfer, ""},
		{"a changed value", "json", `{"deliveries":[…,{"destination":"marketing","error_code":"no_consents",…}],…}`, transfer, "documented element 1"},
		{"a changed value, no wildcard in the array", "json", `{"deliveries":[{…},{"error_code":"patient_not_found",…}],…}`, transfer,
			`$.deliveries[1].error_code: answered "no_consent", documented "patient_not_found"`},
		{"a member the README does not show", "json", `{"id":"tr_…","kind":"resource","state":"delivered","deliveries":[…],"counts":{…}}`, transfer, `"created_at"`},
		{"a missing member", "json", `{"id":"tr_…","total":2,…}`, transfer, `no "total"`},
		{"a string pattern", "json", `{"id":"cl_…",…}`, transfer, `"tr_01ab" is not like the documented "cl_…"`},
		{"a number", "json", `{"counts":{"delivered":2,…},…}`, transfer, `$.counts.delivered: answered 1, documented 2`},
		{"a value of any kind", "json", `{"deliveries":…,"counts":…,…}`, transfer, ""},
		{"an array with elements the README does not show", "json", `{"deliveries":[{"destination":"ehr",…}],…}`, transfer, "2 elements answered, 1 documented"},
		{"a stream", "json", "{\"seq\":…,\"resource_type\":\"Patient\",…}\n{\"seq\":…,…}", "{\"seq\":3,\"resource_type\":\"Patient\"}\n{\"seq\":9,\"resource_type\":\"Bundle\"}\n", ""},
		{"a stream one value longer", "json", `{"seq":…,…}`, "{\"seq\":3}\n{\"seq\":9}\n", "2 elements answered, 1 documented"},
		{"not JSON", "json", `{"a":1}`, "curl: (7) Failed to connect", "not JSON"},
		{"http", "http", "HTTP/1.1 202 Accepted\nContent-Location: /transfers/tr_…\nidempotent-replayed: true\n\n{\"resourceType\":\"OperationOutcome\",…}", curl, ""},
		{"http status", "http", "HTTP/1.1 201 Created\n", curl, `status line "HTTP/1.1 202 Accepted"`},
		{"http/2 status, same code", "http", "HTTP/1.1 202 Accepted", "HTTP/2 202 \r\ncontent-location: /transfers/tr_01ab\r\n\r\n", ""},
		{"http/2 status, other code", "http", "HTTP/1.1 201 Created\n", "HTTP/2 202 \r\n\r\n", `status line "HTTP/2 202 "`},
		{"http header missing", "http", "HTTP/1.1 202 Accepted\nLocation: /transfers/tr_…\n", curl, `no header "Location: /transfers/tr_…"`},
		{"http body", "http", "HTTP/1.1 202 Accepted\n\n{\"resourceType\":\"Bundle\",…}", curl, `body: $.resourceType`},
		{"text", "text", "DESTINATION TYPE BREAKER …\nehr fhir closed no 100.0% … 0 -\n…\ncounts over the last 15m",
			"DESTINATION  TYPE  BREAKER  PAUSED\nehr          fhir  closed   no      100.0%   7   0   -\nstripe  stripe  open\n\ncounts over the last 15m\n", ""},
		{"text line changed", "text", "ehr fhir closed …", "ehr fhir open no\n", `no line like "ehr fhir closed …"`},
		{"text with a line the README does not show", "text", "ok: … rows verified", "ok: 3 rows verified\nwarning: late\n", "lines that the README does not show"},
		{"no answer, no output", "", "", "\n", ""},
		{"no answer, output", "", "", "HTTP/1.1 500\n", "shows no answer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := matchAnswer(c.lang, c.answer, c.output)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("no match: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("matched; want an error saying %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// The walkthrough's blocks as the test reads them.
func TestReadmeWalkthroughSteps(t *testing.T) {
	readme := "# X\n\n## Walkthrough\n\n```sh\nmake run\n```\n\ntext\n\n<!-- repeat: 5s -->\n```sh\ncurl a\n```\n\nprose\n\n```json\n{\"a\":1}\n```\n\n" +
		"```sh\nsource x\n```\n\n## Next\n\n```sh\nnot run\n```\n"
	steps, err := walkthroughSteps(readme)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 || !steps[0].startHub || steps[1].script != "curl a\n" || steps[1].repeat.Seconds() != 5 ||
		steps[1].lang != "json" || steps[1].answer != "{\"a\":1}\n" || steps[2].lang != "" || steps[1].line != 13 {
		t.Fatalf("steps: %+v", steps)
	}
	for _, bad := range []string{
		"## Walkthrough\n\n```sh\ncurl a\n```\n",                                     // no make run first
		"## Walkthrough\n\n```sh\nmake run\n```\n```yaml\na: 1\n```\n",               // an unknown block
		"## Walkthrough\n\n```sh\nmake run\n```\n```json\n1\n```\n```json\n2\n```\n", // two answers
	} {
		if _, err := walkthroughSteps("\n" + bad); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}
