package calsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// testNow is the sandbox clock in tests: a Monday morning, before the
// bookings the tests make.
var testNow = time.Date(2030, 3, 4, 6, 0, 0, 0, time.UTC)

func start(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	sim := New(o)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// call sends a request with the connector's headers for version (none when
// "") and returns the status and the decoded JSON answer.
func call(t *testing.T, method, url, version, body string, extra ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer cal_test_key")
	if version != "" {
		req.Header.Set("cal-api-version", version)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			req.Header.Del(extra[i])
		} else {
			req.Header.Set(extra[i], extra[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, url, raw)
		}
	}
	return resp.StatusCode, out
}

// errCode is error.code of a Cal.com error answer.
func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func data(out map[string]any) map[string]any {
	d, _ := out["data"].(map[string]any)
	return d
}

const bookingBody = `{"start":"2030-03-04T09:00:00Z","lengthInMinutes":45,"eventTypeId":4242,` +
	`"attendee":{"name":"Alex Example","email":"alex@example.org","timeZone":"Europe/Lisbon","language":"pt"},` +
	`"metadata":{"switchboard_transfer":"tr_1"}}`
