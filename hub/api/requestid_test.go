package api

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// X-Request-Id: a usable one is kept, anything else replaced by a fresh
// id; either way the answer echoes it, the access log line and the
// request's span carry it.
func TestRequestIDEchoedLoggedAndTraced(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()); _ = tp.Shutdown(context.Background()) })
	srv, logs := testAPI(t, nil)

	made := regexp.MustCompile(`^[0-9a-f]{32}$`)
	cases := []struct {
		name, sent string
		kept       bool
	}{
		{"a UUID", "7f1d9a52-3c4e-4b8e-9f6a-2d1c0b9e8a71", true},
		{"a proxy's id", "req_01HZX3K9Q2:edge.7", true},
		{"none", "", false},
		{"too long", strings.Repeat("a", 129), false},
		{"spaces", "Jane Doe", false},
		{"a slash", "a/b", false},
		{"an email", "jane@example.com", false},
		{"a phone number", "555-867-5309", false},
		{"non-ASCII", "r\u00e9sum\u00e9", false},
	}
	for _, c := range cases {
		exp.Reset()
		h := []string{}
		if c.sent != "" {
			h = []string{RequestIDHeader, c.sent}
		}
		resp, _ := call(t, http.MethodGet, srv.URL+"/fhir/R4/metadata", h...)
		got := resp.Header.Get(RequestIDHeader)
		switch {
		case c.kept && got != c.sent:
			t.Errorf("%s: echoed %q, want %q kept", c.name, got, c.sent)
		case !c.kept && !made.MatchString(got):
			t.Errorf("%s: echoed %q, want a fresh id", c.name, got)
		}
		if !strings.Contains(logs.String(), `"request_id":"`+got+`"`) {
			t.Errorf("%s: the access log has no request_id %q", c.name, got)
		}
		var traced []string
		for _, s := range exp.GetSpans() {
			for _, kv := range s.Attributes {
				if kv.Key == requestIDAttr {
					traced = kv.Value.AsStringSlice()
				}
			}
		}
		if len(traced) != 1 || traced[0] != got {
			t.Errorf("%s: span attribute %s = %v, want [%s]", c.name, requestIDAttr, traced, got)
		}
	}
	// A refused id is never logged.
	for _, c := range cases {
		if !c.kept && c.sent != "" && strings.Contains(logs.String(), jsonString(c.sent)) {
			t.Errorf("%s: the refused id reached the log", c.name)
		}
	}
	// Two requests without an id get two ids.
	a, _ := call(t, http.MethodGet, srv.URL+"/healthz")
	b, _ := call(t, http.MethodGet, srv.URL+"/healthz")
	if a.Header.Get(RequestIDHeader) == b.Header.Get(RequestIDHeader) {
		t.Fatal("two requests got the same id")
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
