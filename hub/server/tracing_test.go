package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchboard-health/switchboard/hub/tracing"
)

// TestOneTraceFromAPIToVendor: with tracing on, a Patient's trace holds the
// accept, route, enqueue, deliver and vendor call spans under one trace id,
// the deliver span (worked from River's table) a descendant of accept; the
// caller's traceparent is honoured; and no exported attribute holds the
// canary or a URL.
func TestOneTraceFromAPIToVendor(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracing.AllowList(exp)))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()); _ = tp.Shutdown(context.Background()) })

	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			exp.Reset()
			h := start(t, d)
			family := fmt.Sprintf("Zqxtrace%08d", rand.IntN(1e8))
			body := strings.NewReplacer("Chalmers", family).Replace(patient)
			// The front end's own trace: the hub's spans join it.
			parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
				SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled})
			traceparent := fmt.Sprintf("00-%s-%s-01", parent.TraceID(), parent.SpanID())
			r := h.post("/fhir/R4/Patient", body, "traceparent", traceparent)
			if r.status != http.StatusAccepted {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if st := h.waitFor(r.header.Get("Content-Location"), 15*time.Second); st.State != "delivered" {
				t.Fatalf("not delivered: %+v", st)
			}
			time.Sleep(200 * time.Millisecond) // the worker ends its span after recording

			spans := exp.GetSpans()
			byID := map[trace.SpanID]tracetest.SpanStub{}
			names := map[string]int{}
			for _, s := range spans {
				if s.SpanContext.TraceID() != parent.TraceID() {
					continue
				}
				byID[s.SpanContext.SpanID()] = s
				names[s.Name]++
				for _, kv := range s.Attributes {
					v := kv.Value.Emit()
					if strings.Contains(v, family) || strings.Contains(v, "://") {
						t.Errorf("span %s exports %s=%q", s.Name, kv.Key, v)
					}
					if !tracing.Allowed[kv.Key] {
						t.Errorf("span %s exports %s, which is not on the allow-list", s.Name, kv.Key)
					}
				}
			}
			for _, want := range []string{"accept", "route", "enqueue", "deliver", "vendor call"} {
				if names[want] == 0 {
					t.Errorf("trace %s has no %q span (has %v)", parent.TraceID(), want, names)
				}
			}
			// deliver descends from accept, which descends from the caller.
			for _, s := range byID {
				if s.Name != "deliver" {
					continue
				}
				chain := []string{}
				for cur, ok := s, true; ok; cur, ok = byID[cur.Parent.SpanID()] {
					chain = append(chain, cur.Name)
					if !cur.Parent.IsValid() || cur.Parent.SpanID() == parent.SpanID() {
						break
					}
				}
				if got := strings.Join(chain, " < "); !strings.Contains(got, "deliver < enqueue < route < accept") {
					t.Errorf("deliver's ancestry: %s", got)
				}
			}
			t.Logf("trace %s: %v", parent.TraceID(), names)
		})
	}
}
