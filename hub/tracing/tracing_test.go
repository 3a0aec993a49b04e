package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, false},
	} {
		env := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		if got := Enabled(env); got != c.want {
			t.Errorf("Enabled(%v) = %v, want %v", c.env, got, c.want)
		}
	}
}

// A span that a library (or a slip) decorated with a URL, a body and an
// error's text leaves the process with none of them.
func TestAllowListCutsAttributes(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(AllowList(exp)))
	_, span := tp.Tracer("t").Start(context.Background(), "vendor call")
	span.SetAttributes(attribute.String("url.full", "https://ehr.example/Patient?name=Zzyzx"),
		attribute.String("http.request.body", `{"name":"Zzyzx"}`), attribute.String("switchboard.destination", "ehr"),
		attribute.Int("http.response.status_code", 503))
	span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.message", "patient Zzyzx not found")))
	span.SetStatus(codes.Error, "patient Zzyzx not found")
	span.End()
	got := exp.GetSpans()
	if len(got) != 1 {
		t.Fatalf("%d spans", len(got))
	}
	s := got[0]
	keys := map[attribute.Key]bool{}
	for _, kv := range s.Attributes {
		keys[kv.Key] = true
	}
	if !keys["switchboard.destination"] || !keys["http.response.status_code"] || keys["url.full"] || keys["http.request.body"] {
		t.Errorf("attributes after the allow-list: %v", s.Attributes)
	}
	if len(s.Events) != 1 || len(s.Events[0].Attributes) != 0 {
		t.Errorf("event attributes must be cut: %+v", s.Events)
	}
	if s.Status.Code != codes.Error || s.Status.Description != "" {
		t.Errorf("status: %+v (code kept, text dropped)", s.Status)
	}
}

func TestTraceparentInJobMetadata(t *testing.T) {
	tp := "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"
	for _, meta := range []string{"", "{}", `{"other":1}`} {
		got := withTraceparent([]byte(meta), tp)
		if traceparentOf(got) != tp {
			t.Errorf("metadata %q: %s", meta, got)
		}
	}
	if got := withTraceparent([]byte(`{"other":1}`), tp); string(got) != `{"other":1,"traceparent":"`+tp+`"}` {
		t.Errorf("other metadata must be kept: %s", got)
	}
}
