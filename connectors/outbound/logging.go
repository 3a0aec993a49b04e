package outbound

import (
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-health/switchboard/hub/tracing"
)

// tryInfo is what the log lines of one Do share. It travels in the request
// context to tryLogger; http.Client calls RoundTrip on the caller's
// goroutine, so tries needs no lock.
type tryInfo struct {
	destination, method, host, pathTemplate string
	tries                                   int
	once                                    bool // Request.Once
}

type tryKey struct{}

func (t *tryInfo) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("destination", t.destination),
		slog.String("method", t.method),
		slog.String("host", t.host),
		slog.String("path_template", t.pathTemplate),
	}
}

// tryLogger logs one Debug line per HTTP try: the status or the kind of
// transport failure, and how long the try took to its answer's headers.
// Never the URL, a header or a body.
type tryLogger struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (l *tryLogger) RoundTrip(req *http.Request) (*http.Response, error) {
	try, _ := req.Context().Value(tryKey{}).(*tryInfo)
	start := time.Now()
	if try == nil {
		return l.next.RoundTrip(req)
	}
	// One span per HTTP try, with the same facts as the log line: never
	// the URL, a header or a body.
	ctx, span := tracing.Tracer().Start(req.Context(), "vendor call", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("switchboard.destination", try.destination),
			attribute.String("http.request.method", try.method), attribute.String("server.address", try.host),
			attribute.String("http.route", try.pathTemplate), attribute.Int("switchboard.http_tries", try.tries+1)))
	resp, err := l.next.RoundTrip(req.WithContext(ctx))
	switch {
	case err != nil:
		span.SetAttributes(attribute.String("error.type", transportCode(err)))
		span.SetStatus(codes.Error, "")
	default:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
	try.tries++
	if !l.log.Enabled(req.Context(), slog.LevelDebug) {
		return resp, err
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	attrs := append(try.attrs(),
		slog.Int("status", status),
		slog.Int("attempt_try", try.tries),
		slog.Int64("duration_ms", time.Since(start).Milliseconds()))
	if err != nil {
		attrs = append(attrs, slog.String("error_code", transportCode(err)))
	}
	l.log.LogAttrs(req.Context(), slog.LevelDebug, "vendor try", attrs...)
	return resp, err
}

func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

var (
	// staticSegment is a word of an API's path: letters, '_', '-', and a
	// leading '$' or '_' for FHIR operations (_history, $everything).
	staticSegment = regexp.MustCompile(`^[$_]?[A-Za-z][A-Za-z_-]*$`)
	// versionSegment is an API or FHIR version (v1, R4, STU3).
	versionSegment = regexp.MustCompile(`^(v[0-9]+|R[0-9]+B?|D?STU[0-9]+)$`)
	// typeSegment is a FHIR resource type: the segment after it is an id.
	typeSegment = regexp.MustCompile(`^[A-Z][A-Za-z]+$`)
)

// PathTemplate guesses a loggable template of a URL's path: no query, and
// every segment that may be an id replaced by {id} (anything but plain words
// and versions, and any segment after a FHIR resource type), since ids and
// queries can carry PHI. Connectors that know their route pass
// Request.PathTemplate instead of relying on this guess.
func PathTemplate(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	segs := strings.Split(u.EscapedPath(), "/")
	afterType := false
	for i, s := range segs {
		switch {
		case s == "":
			afterType = false
		case versionSegment.MatchString(s):
			afterType = false
		case afterType && !strings.HasPrefix(s, "_") && !strings.HasPrefix(s, "$"):
			segs[i], afterType = "{id}", false
		case staticSegment.MatchString(s):
			afterType = typeSegment.MatchString(s)
		default:
			segs[i], afterType = "{id}", false
		}
	}
	return strings.Join(segs, "/")
}
