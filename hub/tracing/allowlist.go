package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Allowed are the only span attribute keys that leave the process. Each
// is a method, a route template, a status, a vendor's host, a destination
// or queue name from configuration, a resource type, a hub-minted id, the
// request's checked X-Request-Id or a count: never a URL (paths and queries
// carry ids and search terms), any other header, a body or an error's text.
var Allowed = map[attribute.Key]bool{
	"http.request.method":       true,
	"http.route":                true,
	"http.response.status_code": true,
	// X-Request-Id, as the API accepted or made it: a bounded token of
	// letters, digits and -_.: (hub/api's requestID refuses the rest).
	"http.request.header.x-request-id": true,
	"server.address":                   true,
	"server.port":                      true,
	"error.type":                       true,
	"messaging.system":                 true,
	"messaging.operation.type":         true,
	"messaging.destination.name":       true,
	"messaging.batch.message_count":    true,
	"switchboard.destination":          true,
	"switchboard.resource_type":        true,
	"switchboard.interaction":          true,
	"switchboard.transfer_id":          true,
	"switchboard.entry":                true,
	"switchboard.job_kind":             true,
	"switchboard.attempt":              true,
	"switchboard.outcome":              true,
	"switchboard.error_class":          true,
	"switchboard.deliveries":           true,
	"switchboard.http_tries":           true,
	"switchboard.idempotent_replay":    true,
}

// AllowList wraps an exporter so that only Allowed attributes are exported,
// on spans, their events and links; a status description (error text) is
// dropped, the status code kept.
func AllowList(next sdktrace.SpanExporter) sdktrace.SpanExporter { return allowList{next} }

type allowList struct{ next sdktrace.SpanExporter }

func (a allowList) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		stub := tracetest.SpanStubFromReadOnlySpan(s)
		stub.Attributes = keep(stub.Attributes)
		for j := range stub.Events {
			stub.Events[j].Attributes = keep(stub.Events[j].Attributes)
		}
		for j := range stub.Links {
			stub.Links[j].Attributes = keep(stub.Links[j].Attributes)
		}
		if stub.Status.Code == codes.Error {
			stub.Status.Description = ""
		}
		out[i] = stub.Snapshot()
	}
	return a.next.ExportSpans(ctx, out)
}

func (a allowList) Shutdown(ctx context.Context) error { return a.next.Shutdown(ctx) }

func keep(attrs []attribute.KeyValue) []attribute.KeyValue {
	out := attrs[:0:0]
	for _, kv := range attrs {
		if Allowed[kv.Key] {
			out = append(out, kv)
		}
	}
	return out
}
