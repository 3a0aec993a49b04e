package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/seal"
)

// The worker's steps against fakes of everything it consumes: no database,
// no vendor. Each case checks what River is told (complete, snooze, retry
// or cancel) and what the status API is told (the recorded outcomes).

// fakeKeys opens every envelope to a fresh copy of payload and keeps each
// plaintext it hands out, so a test can see that the worker scrubbed it.
type fakeKeys struct {
	payload []byte
	openErr error
	opened  [][]byte
}

func (k *fakeKeys) Open(seal.Envelope, []byte) ([]byte, error) {
	if k.openErr != nil {
		return nil, k.openErr
	}
	pt := bytes.Clone(k.payload)
	k.opened = append(k.opened, pt)
	return pt, nil
}

func (k *fakeKeys) Seal(pt, _ []byte) (seal.Envelope, error) {
	return seal.Envelope{V: 1, KID: "test", Data: bytes.Clone(pt)}, nil
}

// fakeRecorder keeps every outcome; tries counts the counted ones, as
// Table.RecordOutcome does, starting from earlier tries.
type fakeRecorder struct {
	earlier  int
	outcomes []delivery.Outcome
}

func (r *fakeRecorder) RecordOutcome(_ context.Context, o delivery.Outcome) (int, error) {
	r.outcomes = append(r.outcomes, o)
	n := r.earlier
	for _, o := range r.outcomes {
		if o.CountTry {
			n++
		}
	}
	return n, nil
}

type fakeOrder struct {
	blocked bool
	err     error
}

func (o fakeOrder) Blocked(context.Context, string, int, string) (bool, error) {
	return o.blocked, o.err
}

// fakeStates answers every entry a gate waits for with state.
type fakeStates struct{ state string }

func (s fakeStates) DeliveryState(context.Context, string, int, string) (string, *seal.Envelope, bool, error) {
	return s.state, nil, true, nil
}

// fakeLedger knows of a later change at the vendor when newer is set.
type fakeLedger struct{ newer bool }

func (fakeLedger) Record(context.Context, string, []string, []byte, time.Time) error { return nil }

func (l fakeLedger) Newer(context.Context, string, []string, time.Time) (bool, error) {
	return l.newer, nil
}

type fakeGate struct {
	allowed bool
	reason  string
	err     error
}

func (g fakeGate) Allow(context.Context, *delivery.Subject) (bool, string, error) {
	return g.allowed, g.reason, g.err
}

// fakeConnector answers with deliver and keeps the buffers it was handed
// (Resource and the Related values), as a careless connector might.
type fakeConnector struct {
	deliver func(ctx context.Context) (connectors.Result, error)
	calls   int
	kept    [][]byte
}

func (c *fakeConnector) Type() string { return "fake" }

func (c *fakeConnector) Deliver(ctx context.Context, d connectors.Delivery) (connectors.Result, error) {
	c.calls++
	c.kept = append(c.kept, d.Resource)
	for _, v := range d.Related {
		c.kept = append(c.kept, v)
	}
	return c.deliver(ctx)
}

func answer(res connectors.Result, err error) func(context.Context) (connectors.Result, error) {
	return func(context.Context) (connectors.Result, error) { return res, err }
}

// recorded is the part of an outcome the status API shows.
type recorded struct {
	State   string
	Class   connectors.Class
	Code    string
	Counted bool
	Status  int
}

func recordedOf(os []delivery.Outcome) []recorded {
	var out []recorded
	for _, o := range os {
		out = append(out, recorded{o.State, o.ErrorClass, o.ErrorCode, o.CountTry, o.HTTPStatus})
	}
	return out
}

// verdictOf names what River does with Work's answer.
func verdictOf(err error) (string, time.Duration) {
	var snooze *river.JobSnoozeError
	var cancel *river.JobCancelError
	switch {
	case err == nil:
		return "complete", 0
	case errors.As(err, &snooze):
		return "snooze", snooze.Duration
	case errors.As(err, &cancel):
		return "cancel", 0
	default:
		return "retry", 0
	}
}

const (
	patient = `{"resourceType":"Patient","name":[{"family":"Doe","given":["Jane"]}],"birthDate":"1970-01-01"}`
	related = `{"resourceType":"Coverage","subscriberId":"M-123"}`
)

// payloadJSON is the plaintext of a delivery of a Patient with one
// related entry, changed by each of change.
func payloadJSON(t *testing.T, change ...func(*delivery.Payload)) []byte {
	t.Helper()
	p := delivery.Payload{
		Interaction:  connectors.Create,
		ResourceType: "Patient",
		Resource:     json.RawMessage(patient),
		Subject:      &delivery.Subject{ID: "p1"},
		Related:      map[string]json.RawMessage{"urn:uuid:c": json.RawMessage(related)},
	}
	for _, c := range change {
		c(&p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testJob() *river.Job[delivery.Args] {
	return &river.Job[delivery.Args]{
		JobRow: &rivertype.JobRow{ID: 7, Attempt: 1},
		Args:   delivery.Args{TransferID: "tr_1", Entry: 0, Destination: "crm"},
	}
}

func TestWorkTellsRiverWhatEachConnectorAnswerMeans(t *testing.T) {
	http503 := &connectors.Error{Class: connectors.Retryable, Status: 503, Code: "http_503", Err: errors.New("vendor unavailable")}
	cases := []struct {
		name        string
		deliver     func(context.Context) (connectors.Result, error)
		maxAttempts int
		earlier     int           // counted tries before this one
		tryTimeout  time.Duration // bounds the try's context when set
		verdict     string
		snooze      time.Duration // exact snooze, when the verdict is snooze
		snoozeUpTo  time.Duration // with snooze, a range [snooze, snoozeUpTo] (jitter)
		want        []recorded
		alerted     bool
	}{
		{
			name:    "success",
			deliver: answer(connectors.Result{Status: 201, VendorID: "cus_1"}, nil),
			verdict: "complete",
			want:    []recorded{{State: delivery.StateDelivered, Counted: true, Status: 201}},
		},
		{
			name:    "superseded at the vendor",
			deliver: answer(connectors.Result{Status: 200, Superseded: true}, nil),
			verdict: "complete",
			want:    []recorded{{State: delivery.StateSkipped, Code: delivery.CodeSuperseded}},
		},
		{
			name: "permanent",
			deliver: answer(connectors.Result{}, &connectors.Error{Class: connectors.Permanent, Status: 422, Code: "http_422",
				Err: errors.New("rejected")}),
			verdict: "cancel",
			want:    []recorded{{State: delivery.StateFailed, Class: connectors.Permanent, Code: "http_422", Counted: true, Status: 422}},
			alerted: true,
		},
		{
			name:    "retryable",
			deliver: answer(connectors.Result{}, http503),
			verdict: "retry",
			want:    []recorded{{State: delivery.StateRetrying, Class: connectors.Retryable, Code: "http_503", Counted: true, Status: 503}},
		},
		{
			name: "retryable with Retry-After",
			deliver: answer(connectors.Result{}, &connectors.Error{Class: connectors.Retryable, Status: 429, Code: "http_429",
				RetryAfter: 30 * time.Second}),
			verdict: "snooze", snooze: 30 * time.Second,
			want: []recorded{{State: delivery.StateRetrying, Class: connectors.Retryable, Code: "http_429", Counted: true, Status: 429}},
		},
		{
			name:        "retryable on the last attempt",
			deliver:     answer(connectors.Result{}, http503),
			maxAttempts: 3, earlier: 2,
			verdict: "cancel",
			want: []recorded{
				{State: delivery.StateRetrying, Class: connectors.Retryable, Code: "http_503", Counted: true, Status: 503},
				{State: delivery.StateFailed, Class: connectors.Retryable, Code: "retries_exhausted:http_503", Status: 503},
			},
			alerted: true,
		},
		{
			name:    "unclassified error",
			deliver: answer(connectors.Result{}, errors.New("connection reset")),
			verdict: "retry",
			want:    []recorded{{State: delivery.StateRetrying, Class: connectors.Retryable, Code: "error", Counted: true}},
		},
		{
			name: "timeout",
			deliver: func(ctx context.Context) (connectors.Result, error) {
				<-ctx.Done()
				return connectors.Result{}, ctx.Err()
			},
			tryTimeout: 10 * time.Millisecond,
			verdict:    "retry",
			want:       []recorded{{State: delivery.StateRetrying, Class: connectors.Retryable, Code: "timeout", Counted: true}},
		},
		{
			name: "breaker open",
			deliver: answer(connectors.Result{}, &connectors.Error{Class: connectors.BreakerOpen, Code: "breaker_open",
				RetryAfter: 5 * time.Second}),
			verdict: "snooze", snooze: 5 * time.Second,
			want: []recorded{{State: delivery.StateRetrying, Class: connectors.BreakerOpen, Code: "breaker_open"}},
		},
		{
			name:    "breaker open without a wait",
			deliver: answer(connectors.Result{}, &connectors.Error{Class: connectors.BreakerOpen, Code: "breaker_open"}),
			verdict: "snooze", snooze: time.Second,
			want: []recorded{{State: delivery.StateRetrying, Class: connectors.BreakerOpen, Code: "breaker_open"}},
		},
		{
			// Held back by the rate limit: the vendor never saw it, so
			// nothing is recorded and no try is counted.
			name:    "throttled",
			deliver: answer(connectors.Result{}, connectors.ThrottledError("crm", 0)),
			verdict: "snooze", snooze: 20 * time.Millisecond, snoozeUpTo: 30 * time.Millisecond,
		},
		{
			name:    "throttled with the limit's wait",
			deliver: answer(connectors.Result{}, connectors.ThrottledError("crm", 200*time.Millisecond)),
			verdict: "snooze", snooze: 200 * time.Millisecond, snoozeUpTo: 300 * time.Millisecond,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := &fakeKeys{payload: payloadJSON(t)}
			rec := &fakeRecorder{earlier: c.earlier}
			conn := &fakeConnector{deliver: c.deliver}
			alerts := 0
			w := &delivery.Worker{
				Keys:         keys,
				Destinations: map[string]delivery.Destination{"crm": {Connector: conn, MaxAttempts: c.maxAttempts}},
				Recorder:     rec,
				Order:        fakeOrder{},
				Logger:       slog.New(slog.DiscardHandler),
				Failed:       func(context.Context, string) { alerts++ },
			}
			ctx := context.Background()
			if c.tryTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.tryTimeout)
				defer cancel()
			}
			err := w.Work(ctx, testJob())

			verdict, snooze := verdictOf(err)
			if verdict != c.verdict {
				t.Fatalf("River is told %s (%v), want %s", verdict, err, c.verdict)
			}
			if verdict == "snooze" {
				upTo := max(c.snoozeUpTo, c.snooze)
				if snooze < c.snooze || snooze > upTo {
					t.Errorf("snooze %s, want %s to %s", snooze, c.snooze, upTo)
				}
			}
			if got := recordedOf(rec.outcomes); !slices.Equal(got, c.want) {
				t.Errorf("recorded %+v\nwant     %+v", got, c.want)
			}
			if conn.calls != 1 {
				t.Errorf("connector called %d times, want once", conn.calls)
			}
			if c.alerted != (alerts > 0) {
				t.Errorf("alerted %d times, want alerted %v", alerts, c.alerted)
			}
		})
	}
}

// TestWorkStepsBeforeTheVendor: the steps that can end a try before the
// connector is called (order, open, gate) tell River the same as before
// the split into steps.
func TestWorkStepsBeforeTheVendor(t *testing.T) {
	cases := []struct {
		name    string
		order   fakeOrder
		openErr error
		payload string // overrides the valid payload when set
		change  func(*delivery.Payload)
		gate    delivery.Gate
		states  delivery.States
		ledger  delivery.Ledger
		dest    string
		verdict string
		snooze  time.Duration
		want    []recorded
		opened  bool
	}{
		{
			name:  "blocked behind an earlier delivery",
			order: fakeOrder{blocked: true}, verdict: "snooze", snooze: 100 * time.Millisecond,
		},
		{
			name:  "order cannot be checked",
			order: fakeOrder{err: errors.New("database down")}, verdict: "retry",
		},
		{
			name: "destination no longer configured", dest: "gone", verdict: "retry",
		},
		{
			name: "payload cannot be opened", openErr: seal.ErrUnknownKey, verdict: "cancel",
			want: []recorded{{State: delivery.StateFailed, Class: connectors.Permanent, Code: "payload_unreadable", Counted: true}},
		},
		{
			name: "payload corrupt", payload: `{"resource":`, verdict: "cancel", opened: true,
			want: []recorded{{State: delivery.StateFailed, Class: connectors.Permanent, Code: "payload_corrupt", Counted: true}},
		},
		{
			name: "gate says no", gate: fakeGate{reason: "no_marketing_consent"}, verdict: "complete", opened: true,
			want: []recorded{{State: delivery.StateSkipped, Code: "no_marketing_consent"}},
		},
		{
			name: "gate's source unavailable", verdict: "retry", opened: true,
			gate: fakeGate{err: &connectors.Error{Class: connectors.Retryable, Status: 502, Code: "http_502"}},
			want: []recorded{{State: delivery.StateRetrying, Class: connectors.Retryable, Code: "http_502", Counted: true, Status: 502}},
		},
		{
			name: "gate waits for an entry on its way to the gate's source", verdict: "snooze", snooze: 100 * time.Millisecond, opened: true,
			gate: fakeGate{allowed: true}, states: fakeStates{state: delivery.StateQueued}, change: waitsForEHR,
		},
		{
			name: "gate waited for an entry that failed at the gate's source", verdict: "cancel", opened: true,
			gate: fakeGate{allowed: true}, states: fakeStates{state: delivery.StateFailed}, change: waitsForEHR,
			want: []recorded{{State: delivery.StateFailed, Class: connectors.Permanent, Code: delivery.CodeGateSourceFailed}},
		},
		{
			// The supersede step: the hub already knows of a later change
			// at the vendor, so the vendor is not called at all.
			name: "superseded by a change the hub knows of", verdict: "complete", opened: true,
			ledger: fakeLedger{newer: true},
			change: func(p *delivery.Payload) { p.ChangedAt = time.Now(); p.Match = "email=j@example.org" },
			want:   []recorded{{State: delivery.StateSkipped, Code: delivery.CodeSuperseded}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var change []func(*delivery.Payload)
			if c.change != nil {
				change = append(change, c.change)
			}
			keys := &fakeKeys{payload: payloadJSON(t, change...), openErr: c.openErr}
			if c.payload != "" {
				keys.payload = []byte(c.payload)
			}
			rec := &fakeRecorder{}
			conn := &fakeConnector{deliver: answer(connectors.Result{Status: 201}, nil)}
			dest := c.dest
			if dest == "" {
				dest = "crm"
			}
			w := &delivery.Worker{
				Keys:         keys,
				Destinations: map[string]delivery.Destination{dest: {Connector: conn, Gate: c.gate}},
				Recorder:     rec,
				Order:        c.order,
				States:       c.states,
				Ledger:       c.ledger,
				Synced:       map[string]map[string]bool{"crm": nil},
				Logger:       slog.New(slog.DiscardHandler),
			}
			err := w.Work(context.Background(), testJob())

			verdict, snooze := verdictOf(err)
			if verdict != c.verdict {
				t.Fatalf("River is told %s (%v), want %s", verdict, err, c.verdict)
			}
			if verdict == "snooze" && snooze != c.snooze {
				t.Errorf("snooze %s, want %s", snooze, c.snooze)
			}
			if got := recordedOf(rec.outcomes); !slices.Equal(got, c.want) {
				t.Errorf("recorded %+v\nwant     %+v", got, c.want)
			}
			if conn.calls != 0 {
				t.Errorf("connector called %d times, want never", conn.calls)
			}
			if c.opened != (len(keys.opened) > 0) {
				t.Errorf("payload opened %d times, want opened %v", len(keys.opened), c.opened)
			}
			for _, pt := range keys.opened {
				if !zero(pt) {
					t.Errorf("plaintext left in memory after Work: %q", pt)
				}
			}
		})
	}
}

func waitsForEHR(p *delivery.Payload) {
	p.GateWaits = &delivery.GateWaits{Source: "ehr", Entries: []int{1}}
}

// TestWorkScrubsTheOpenedPayload: however a try ends, the PHI the worker
// opened is zeroed when Work returns: the plaintext, and the resource and
// related resources decoded from it (separate buffers, which clearing the
// plaintext alone used to leave in memory, and which the connector shares).
func TestWorkScrubsTheOpenedPayload(t *testing.T) {
	cases := map[string]func(context.Context) (connectors.Result, error){
		"delivered":  answer(connectors.Result{Status: 201}, nil),
		"superseded": answer(connectors.Result{Superseded: true}, nil),
		"permanent":  answer(connectors.Result{}, connectors.PermanentError("mapping", errors.New("unmappable"))),
		"retryable":  answer(connectors.Result{}, errors.New("connection reset")),
		"throttled":  answer(connectors.Result{}, connectors.ThrottledError("crm", 0)),
	}
	for name, deliver := range cases {
		t.Run(name, func(t *testing.T) {
			keys := &fakeKeys{payload: payloadJSON(t)}
			conn := &fakeConnector{deliver: deliver}
			w := &delivery.Worker{
				Keys:         keys,
				Destinations: map[string]delivery.Destination{"crm": {Connector: conn}},
				Recorder:     &fakeRecorder{},
				Logger:       slog.New(slog.DiscardHandler),
			}
			_ = w.Work(context.Background(), testJob())

			if len(keys.opened) != 1 || len(conn.kept) != 2 {
				t.Fatalf("opened %d plaintexts and handed the connector %d buffers, want 1 and 2", len(keys.opened), len(conn.kept))
			}
			// Before Work returned these held the resource and its
			// related entry (the connector saw them); now nothing of them.
			for _, b := range append(keys.opened, conn.kept...) {
				if len(b) == 0 {
					t.Fatal("an empty buffer proves nothing")
				}
				if !zero(b) {
					t.Errorf("PHI left in memory after Work: %q", b)
				}
			}
		})
	}
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
