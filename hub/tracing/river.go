package tracing

import (
	"context"
	"encoding/json"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// metadataKey holds a job's W3C trace context in River's job metadata.
// Trace ids are random and carry no PHI; metadata sits beside the sealed
// args in River's table.
const metadataKey = "traceparent"

// River is River middleware: at insert it opens an "enqueue" span and
// writes the trace context into each job's metadata; at work it opens a
// span ("deliver" for deliveries) whose parent is that context, so a trace
// crosses the queue and the process boundary.
type River struct {
	river.MiddlewareDefaults
	// SpanName names the work span of a job kind ("work <kind>" if nil or
	// it returns "").
	SpanName func(kind string) string
}

var (
	_ rivertype.JobInsertMiddleware = (*River)(nil)
	_ rivertype.WorkerMiddleware    = (*River)(nil)
)

// InsertMany implements rivertype.JobInsertMiddleware.
func (m *River) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams,
	doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	ctx, span := Tracer().Start(ctx, "enqueue", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "river"), attribute.String("messaging.operation.type", "send"),
			attribute.Int("messaging.batch.message_count", len(params))))
	defer span.End()
	if span.SpanContext().IsValid() {
		carrier := propagation.MapCarrier{}
		otel.GetTextMapPropagator().Inject(ctx, carrier)
		if tp := carrier.Get(metadataKey); tp != "" {
			for _, p := range params {
				p.Metadata = withTraceparent(p.Metadata, tp)
			}
		}
	}
	res, err := doInner(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "")
		span.SetAttributes(attribute.String("error.type", "insert_failed"))
	}
	return res, err
}

// Work implements rivertype.WorkerMiddleware.
func (m *River) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if tp := traceparentOf(job.Metadata); tp != "" {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier{metadataKey: tp})
	}
	name := ""
	if m.SpanName != nil {
		name = m.SpanName(job.Kind)
	}
	if name == "" {
		name = "work " + job.Kind
	}
	ctx, span := Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "river"), attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", job.Queue), attribute.String("switchboard.job_kind", job.Kind),
			attribute.Int("switchboard.attempt", job.Attempt)))
	defer span.End()
	err := doInner(ctx)
	if err != nil {
		// River's snooze and cancel travel as errors too; the job's
		// outcome is on the delivery's own attributes.
		span.SetStatus(codes.Error, "")
	}
	return err
}

func withTraceparent(meta []byte, tp string) []byte {
	m := map[string]any{}
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &m); err != nil {
			return meta // not ours to repair
		}
	}
	m[metadataKey] = tp
	b, err := json.Marshal(m)
	if err != nil {
		return meta
	}
	return b
}

func traceparentOf(meta []byte) string {
	var m struct {
		TP string `json:"traceparent"`
	}
	if len(meta) == 0 || json.Unmarshal(meta, &m) != nil {
		return ""
	}
	return m.TP
}
