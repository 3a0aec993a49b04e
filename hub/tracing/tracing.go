// Package tracing sets up OpenTelemetry traces for the hub: off by default,
// configured by the standard OTEL_* variables, with every span's attributes
// cut to an allow-list before export so that no PHI reaches a collector
// whatever a library or a future change adds. Trace context rides in a
// River job's metadata (traceparent), so one trace follows a message from
// the API through the queue to the vendor call.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of the hub's own spans.
const Name = "github.com/switchboard-health/switchboard"

// Tracer returns the hub's tracer from the installed provider (a no-op one
// unless Setup turned tracing on).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Enabled reports whether the environment asks for traces: OTEL_SDK_DISABLED
// is not true, and OTEL_TRACES_EXPORTER names an exporter other than none,
// or is unset while an OTLP endpoint is set.
func Enabled(env func(string) (string, bool)) bool {
	get := func(k string) string { v, _ := env(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch exp := get("OTEL_TRACES_EXPORTER"); exp {
	case "none":
		return false
	case "":
		return get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return true
	}
}

// Setup installs a tracer provider and the W3C trace-context propagator
// when the environment asks for traces, and returns the function that
// flushes and stops it (a no-op when tracing is off). Sampling follows
// OTEL_TRACES_SAMPLER, read by the SDK.
func Setup(ctx context.Context, env func(string) (string, bool), version, role string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if !Enabled(env) {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter from OTEL_TRACES_EXPORTER: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("switchboard"), semconv.ServiceVersion(version),
			attribute.String("switchboard.role", role)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override
		resource.WithHost(), resource.WithProcessPID())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(AllowList(exp)), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
