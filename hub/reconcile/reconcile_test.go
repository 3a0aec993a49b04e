package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var dialects = []store.Dialect{store.SQLite, store.Postgres}

func openStore(t *testing.T, d store.Dialect) store.Store { return testenv.Store(t, d) }

// fakePoller serves changes of each type with `ge since` semantics, oldest
// first, in pages of q.Count; Next is an offset. It fails page failPage
// (1-based within one poll) failTimes times.
type fakePoller struct {
	mu        sync.Mutex
	types     []string
	changes   []connectors.Change // sorted by Updated
	failPage  int
	failTimes int
	err       error
	queries   []connectors.PollQuery
	// maxBytes, when set, is the answer limit: a page whose resources
	// add up to more fails as outbound's client does.
	maxBytes int
}

func (p *fakePoller) PollTypes() []string { return p.types }

func (p *fakePoller) Poll(_ context.Context, q connectors.PollQuery) (connectors.PollPage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queries = append(p.queries, q)
	if q.Count <= 0 {
		return connectors.PollPage{}, errors.New("fake poller: no page size")
	}
	offset := 0
	if q.Page != "" {
		offset, _ = strconv.Atoi(q.Page)
	}
	if page := offset/q.Count + 1; page == p.failPage && p.failTimes > 0 {
		p.failTimes--
		return connectors.PollPage{}, p.err
	}
	var all []connectors.Change
	for _, c := range p.changes {
		if c.ResourceType == q.ResourceType && !c.Updated.Before(q.Since) {
			all = append(all, c)
		}
	}
	end := min(offset+q.Count, len(all))
	out := connectors.PollPage{Changes: all[min(offset, end):end]}
	if p.maxBytes > 0 {
		size := 0
		for _, c := range out.Changes {
			size += len(c.Resource)
		}
		if size > p.maxBytes {
			return connectors.PollPage{}, &connectors.Error{Class: connectors.Permanent, Code: "response_too_large", Status: 200,
				Err: &connectors.ResponseTooLargeError{Limit: int64(p.maxBytes)}}
		}
	}
	if end < len(all) {
		out.Next = strconv.Itoa(end)
	}
	return out, nil
}

func (p *fakePoller) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queries)
}

// fakeAcceptor records submissions and is idempotent by IdempotencyKey, like
// transfer.Service: a key seen before is Replayed.
type fakeAcceptor struct {
	mu       sync.Mutex
	subs     []transfer.Submission
	accepted map[string]int // first acceptances by key
	replayed map[string]int
	noRoute  map[string]bool // resource types without a destination
	// crashAfter fails the first Accept of this key after taking it, as a
	// crash between routing and the ledger's Record would.
	crashAfter string
}

func newAcceptor() *fakeAcceptor {
	return &fakeAcceptor{accepted: map[string]int{}, replayed: map[string]int{}, noRoute: map[string]bool{}}
}

func (a *fakeAcceptor) Accept(_ context.Context, sub transfer.Submission) (transfer.Accepted, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs = append(a.subs, sub)
	if len(sub.Entries) > 0 && a.noRoute[sub.Entries[0].ResourceType] {
		return transfer.Accepted{}, transfer.ErrNoDestination
	}
	k := sub.IdempotencyKey
	if a.accepted[k] > 0 {
		a.replayed[k]++
		return transfer.Accepted{ID: "tr_" + k, Replayed: true, Deliveries: 1}, nil
	}
	a.accepted[k]++
	if k == a.crashAfter {
		a.crashAfter = ""
		return transfer.Accepted{}, errors.New("connection reset")
	}
	return transfer.Accepted{ID: "tr_" + k, Deliveries: 1}, nil
}

func (a *fakeAcceptor) firsts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.accepted {
		n += c
	}
	return n
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type harness struct {
	st     store.Store
	w      *reconcile.Worker
	poller *fakePoller
	acc    *fakeAcceptor
	led    *ledger.Ledger
	log    *transferlog.Log
	clock  *clock
}

func newHarness(t *testing.T, d store.Dialect, src reconcile.Source, p *fakePoller) *harness {
	t.Helper()
	st := openStore(t, d)
	mac, err := seal.NewMAC([]byte(strings.Repeat("r", 32)))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	led := &ledger.Ledger{DB: st.DB(), MAC: mac, Now: clk.Now}
	tlog := &transferlog.Log{Store: st, MAC: mac}
	acc := newAcceptor()
	if len(p.types) == 0 {
		p.types = []string{"Patient"}
	}
	src.Poller = p
	w := &reconcile.Worker{Store: st, Sources: map[string]reconcile.Source{"ehr": src}, Ledger: led, Transfers: acc,
		Log: tlog, Logger: logging.Discard(), Now: clk.Now}
	return &harness{st: st, w: w, poller: p, acc: acc, led: led, log: tlog, clock: clk}
}

var jobID int64

func job(source string, manual bool) *river.Job[reconcile.Args] {
	jobID++
	return &river.Job[reconcile.Args]{
		JobRow: &rivertype.JobRow{ID: jobID, Attempt: 1, MaxAttempts: 3, Kind: reconcile.Kind, Queue: reconcile.Queue,
			State: rivertype.JobStateRunning},
		Args: reconcile.Args{Source: source, Manual: manual},
	}
}

func (h *harness) run(t *testing.T, manual bool) error {
	t.Helper()
	return h.w.Work(context.Background(), job("ehr", manual))
}

type cursorRow struct {
	since, polledAt, nextAt int64 // micros; 0 for NULL
	failures                int
	lastError               string
	found                   bool
}

func (h *harness) cursor(t *testing.T, typ string) cursorRow {
	t.Helper()
	var c cursorRow
	var polled, next *int64
	var lastErr *string
	err := h.st.DB().QueryRow(context.Background(), `SELECT since, polled_at, failures, next_at, last_error FROM switchboard_cursor
		WHERE source = 'ehr' AND resource_type = $1`, typ).Scan(&c.since, &polled, &c.failures, &next, &lastErr)
	if store.IsNoRows(err) {
		return c
	}
	if err != nil {
		t.Fatal(err)
	}
	c.found = true
	if polled != nil {
		c.polledAt = *polled
	}
	if next != nil {
		c.nextAt = *next
	}
	if lastErr != nil {
		c.lastError = *lastErr
	}
	return c
}

type pollRow struct {
	outcome, errorClass, resourceType string
	detail                            map[string]any
}

// polls lists the poll rows of the transfer log, checking the chain holds.
func (h *harness) polls(t *testing.T) []pollRow {
	t.Helper()
	ctx := context.Background()
	if err := h.log.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := h.log.Verify(ctx, nil); err != nil || rep.Break != nil {
		t.Fatalf("transfer log chain: %+v %v", rep.Break, err)
	}
	rows, err := h.st.DB().Query(ctx, `SELECT outcome, error_class, resource_type, detail FROM switchboard_log
		WHERE event = 'poll' AND source = 'ehr' AND actor = 'reconciler' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []pollRow
	for rows.Next() {
		var outcome, typ string
		var class, detail *string
		if err := rows.Scan(&outcome, &class, &typ, &detail); err != nil {
			t.Fatal(err)
		}
		r := pollRow{outcome: outcome, resourceType: typ}
		if class != nil {
			r.errorClass = *class
		}
		if detail != nil {
			if err := json.Unmarshal([]byte(*detail), &r.detail); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// counts reads the counts of a poll row's detail.
func counts(r pollRow) map[string]int {
	out := map[string]int{}
	for k, v := range r.detail {
		if f, ok := v.(float64); ok {
			out[k] = int(f)
		}
	}
	return out
}

func wantCounts(t *testing.T, r pollRow, want map[string]int) {
	t.Helper()
	got := counts(r)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("detail %s = %d, want %d (detail %v)", k, got[k], v, r.detail)
		}
	}
}

func patient(i int, updated time.Time) connectors.Change {
	id := fmt.Sprintf("p%d", i)
	return connectors.Change{ResourceType: "Patient", ID: id, Version: "1", Updated: updated,
		Resource: []byte(`{"resourceType":"Patient","id":"` + id + `","active":true,"name":[{"family":"F` + strconv.Itoa(i) + `"}]}`)}
}

// series makes n patients updated a minute apart from start.
func series(n int, start time.Time) []connectors.Change {
	var out []connectors.Change
	for i := range n {
		out = append(out, patient(i+1, start.Add(time.Duration(i)*time.Minute)))
	}
	return out
}

func keyOf(c connectors.Change) string { return c.ResourceType + "/" + c.ID + "/_history/" + c.Version }

// (a) The first run starts at Source.Since, or now when it is zero.
func TestFirstRunStartsAtSince(t *testing.T) {
	cases := []struct {
		name      string
		since     time.Time
		overlap   time.Duration
		changes   []connectors.Change
		wantIDs   []string
		wantSince time.Time
	}{
		{"zero since starts now", time.Time{}, 10 * time.Minute,
			[]connectors.Change{patient(1, t0.Add(-48*time.Hour)), patient(2, t0.Add(-time.Hour)), patient(3, t0.Add(-time.Second))},
			nil, t0},
		{"since in the past", t0.Add(-time.Hour), 10 * time.Minute,
			[]connectors.Change{patient(1, t0.Add(-2*time.Hour)), patient(2, t0.Add(-time.Hour-time.Second)), patient(3, t0.Add(-time.Hour)),
				patient(4, t0.Add(-time.Minute))},
			[]string{"p3", "p4"}, t0.Add(-time.Minute)},
		{"since in the past without overlap", t0.Add(-time.Hour), 0,
			[]connectors.Change{patient(1, t0.Add(-time.Hour-time.Second)), patient(2, t0.Add(-time.Hour+time.Second))},
			[]string{"p2"}, t0.Add(-time.Hour + time.Second)},
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					h := newHarness(t, d, reconcile.Source{Interval: time.Minute, PageSize: 2, Overlap: tc.overlap, Since: tc.since},
						&fakePoller{changes: tc.changes})
					if err := h.run(t, false); err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, s := range h.acc.subs {
						got = append(got, s.Entries[0].ResourceID)
					}
					if fmt.Sprint(got) != fmt.Sprint(tc.wantIDs) {
						t.Fatalf("routed %v, want %v", got, tc.wantIDs)
					}
					c := h.cursor(t, "Patient")
					if !c.found || c.since != tc.wantSince.UnixMicro() || c.polledAt != t0.UnixMicro() || c.failures != 0 || c.nextAt != 0 {
						t.Fatalf("cursor %+v, want since %v", c, tc.wantSince)
					}
					ps := h.polls(t)
					if len(ps) != 1 || ps[0].outcome != "completed" {
						t.Fatalf("poll rows %+v", ps)
					}
					wantCounts(t, ps[0], map[string]int{"routed": len(tc.wantIDs), "seen": len(tc.wantIDs)})
				})
			}
		})
	}
}

// (b) Paging routes every change once; the cursor ends at the newest.
func TestPagingRoutesEachChangeOnce(t *testing.T) {
	start := t0.Add(-time.Hour)
	changes := series(9, start)
	changes[4].Version = "" // keyed by its time instead
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			h := newHarness(t, d, reconcile.Source{Interval: time.Minute, PageSize: 3, Overlap: 2 * time.Minute, Since: start},
				&fakePoller{changes: changes})
			if err := h.run(t, false); err != nil {
				t.Fatal(err)
			}
			if len(h.acc.subs) != 9 || h.acc.firsts() != 9 {
				t.Fatalf("%d submissions, %d first acceptances, want 9", len(h.acc.subs), h.acc.firsts())
			}
			for i, s := range h.acc.subs {
				ch := changes[i]
				key := keyOf(ch)
				if ch.Version == "" {
					key = "Patient/" + ch.ID + "/_history/t" + strconv.FormatInt(ch.Updated.UnixMicro(), 10)
				}
				if s.IdempotencyKey != key || s.ClientID != "poll:ehr" || s.Origin != "ehr" || !s.ChangedAt.Equal(ch.Updated) ||
					s.Kind != transfer.KindResource || string(s.Body) != string(ch.Resource) || len(s.Entries) != 1 ||
					s.Entries[0].Interaction != connectors.Update || s.Entries[0].ResourceID != ch.ID || s.Entries[0].ResourceType != "Patient" {
					t.Errorf("submission %d: %+v", i, s)
				}
			}
			if c := h.cursor(t, "Patient"); c.since != changes[8].Updated.UnixMicro() || c.failures != 0 {
				t.Fatalf("cursor %+v, want since %v", c, changes[8].Updated)
			}
			// The poll asked from the configured start, page after page.
			if q := h.poller.queries; len(q) != 3 || !q[0].Since.Equal(start) || q[0].Count != 3 || q[0].Page != "" || q[2].Page != "6" {
				t.Fatalf("queries %+v", q)
			}
			ps := h.polls(t)
			if len(ps) != 1 || ps[0].outcome != "completed" || ps[0].resourceType != "Patient" {
				t.Fatalf("poll rows %+v", ps)
			}
			wantCounts(t, ps[0], map[string]int{"pages": 3, "seen": 9, "routed": 9, "replayed": 0, "unchanged": 0})
			if _, ok := ps[0].detail["manual"]; ok {
				t.Error("a periodic run is logged as manual")
			}

			// The next run re-sees the overlap and routes nothing again.
			h.clock.Advance(time.Minute)
			if err := h.run(t, false); err != nil {
				t.Fatal(err)
			}
			if len(h.acc.subs) != 9 {
				t.Fatalf("re-polled overlap was routed again: %d submissions", len(h.acc.subs))
			}
			ps = h.polls(t)
			wantCounts(t, ps[1], map[string]int{"pages": 1, "seen": 3, "routed": 0, "unchanged": 3})
			if c := h.cursor(t, "Patient"); c.since != changes[8].Updated.UnixMicro() {
				t.Fatalf("cursor moved back: %+v", c)
			}
		})
	}
}

// (c) A poll cut short resumes from the last page it finished.
func TestCrashAndResume(t *testing.T) {
	const interval = 5 * time.Minute
	start := t0.Add(-time.Hour)
	cases := []struct {
		name         string
		crashAfter   int // index of a change whose routing fails after Accept took it, -1 for none
		pollFails    bool
		wantFirst    map[string]int
		wantResume   map[string]int
		wantRecorded int // first acceptances after the failed run
	}{
		{"vendor fails on page 3 of 5", -1, true,
			map[string]int{"pages": 2, "seen": 6, "routed": 6},
			// From the end of page 2 less the overlap: changes 4-6 again.
			map[string]int{"pages": 4, "seen": 12, "routed": 9, "unchanged": 3, "replayed": 0}, 6},
		{"crash between routing and the ledger on page 3", 7, false,
			// Page 3 was fetched (pages counts fetches) but not finished.
			map[string]int{"pages": 3, "seen": 8, "routed": 7},
			map[string]int{"pages": 4, "seen": 12, "routed": 7, "unchanged": 4, "replayed": 1}, 8},
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					changes := series(15, start)
					p := &fakePoller{changes: changes}
					if tc.pollFails {
						p.failPage, p.failTimes = 3, 1
						p.err = &connectors.Error{Class: connectors.Retryable, Status: 503, Code: "http_503", Err: errors.New("unavailable")}
					}
					h := newHarness(t, d, reconcile.Source{Interval: interval, PageSize: 3, Overlap: 2 * time.Minute, Since: start}, p)
					if tc.crashAfter >= 0 {
						h.acc.crashAfter = keyOf(changes[tc.crashAfter])
					}
					// A periodic run that fails returns nil: the back-off,
					// not River's retry, paces the next poll.
					if err := h.run(t, false); err != nil {
						t.Fatalf("failed periodic run returned %v", err)
					}
					c := h.cursor(t, "Patient")
					wantCode := "http_503"
					if !tc.pollFails {
						wantCode = "error"
					}
					if c.since != changes[5].Updated.UnixMicro() || c.failures != 1 || c.lastError != wantCode ||
						c.nextAt != t0.Add(2*interval).UnixMicro() || c.polledAt != t0.UnixMicro() {
						t.Fatalf("cursor after failure %+v; want since %d (end of page 2), failures 1, next_at %d",
							c, changes[5].Updated.UnixMicro(), t0.Add(2*interval).UnixMicro())
					}
					ps := h.polls(t)
					if len(ps) != 1 || ps[0].outcome != "failed" || ps[0].errorClass != "retryable" || ps[0].detail["error_code"] != wantCode {
						t.Fatalf("poll rows %+v", ps)
					}
					wantCounts(t, ps[0], tc.wantFirst)
					if h.acc.firsts() != tc.wantRecorded {
						t.Fatalf("%d accepted before the failure, want %d", h.acc.firsts(), tc.wantRecorded)
					}

					// A periodic run before next_at does nothing.
					h.clock.Advance(time.Minute)
					calls, subs := h.poller.calls(), len(h.acc.subs)
					if err := h.run(t, false); err != nil {
						t.Fatal(err)
					}
					if h.poller.calls() != calls || len(h.acc.subs) != subs || len(h.polls(t)) != 1 {
						t.Fatal("a periodic run polled a source that is backing off")
					}
					if c2 := h.cursor(t, "Patient"); c2 != c {
						t.Fatalf("cursor changed while backing off: %+v -> %+v", c, c2)
					}

					// A manual run ignores the back-off and finishes.
					if err := h.run(t, true); err != nil {
						t.Fatal(err)
					}
					c = h.cursor(t, "Patient")
					if c.since != changes[14].Updated.UnixMicro() || c.failures != 0 || c.nextAt != 0 || c.lastError != "" ||
						c.polledAt != h.clock.Now().UnixMicro() {
						t.Fatalf("cursor after resume %+v", c)
					}
					if q := h.poller.queries[calls]; !q.Since.Equal(changes[5].Updated.Add(-2*time.Minute)) || q.Page != "" {
						t.Fatalf("resume asked %+v, want from the end of page 2 less the overlap", q)
					}
					ps = h.polls(t)
					if len(ps) != 2 || ps[1].outcome != "completed" || ps[1].errorClass != "" || ps[1].detail["manual"] != true {
						t.Fatalf("poll rows %+v", ps)
					}
					wantCounts(t, ps[1], tc.wantResume)

					// Every change was accepted exactly once across both runs.
					for _, ch := range changes {
						if n := h.acc.accepted[keyOf(ch)]; n != 1 {
							t.Errorf("%s accepted %d times", keyOf(ch), n)
						}
					}
					if h.acc.firsts() != len(changes) {
						t.Fatalf("%d first acceptances, want %d", h.acc.firsts(), len(changes))
					}
					// And the ledger knows every one.
					for _, ch := range changes {
						v, err := h.led.Judge(context.Background(), "ehr", ledger.Keys(ch.ResourceType, ch.ID, ch.Resource), ch.Resource, ch.Updated)
						if err != nil || v != ledger.Unchanged {
							t.Errorf("ledger on %s: %q %v", ch.ID, v, err)
						}
					}
				})
			}
		})
	}
}

// A manual run that fails is cancelled rather than retried by River.
func TestManualFailureCancels(t *testing.T) {
	p := &fakePoller{changes: series(3, t0.Add(-time.Hour)), failPage: 1, failTimes: 1,
		err: &connectors.Error{Class: connectors.Permanent, Status: 401, Code: "http_401"}}
	h := newHarness(t, store.SQLite, reconcile.Source{Interval: time.Minute, PageSize: 3, Since: t0.Add(-time.Hour)}, p)
	err := h.run(t, true)
	var cancel *river.JobCancelError
	if !errors.As(err, &cancel) {
		t.Fatalf("manual failure: %v, want a JobCancel", err)
	}
	c := h.cursor(t, "Patient")
	if c.failures != 1 || c.lastError != "http_401" || c.since != t0.Add(-time.Hour).UnixMicro() {
		t.Fatalf("cursor %+v", c)
	}
	if ps := h.polls(t); len(ps) != 1 || ps[0].errorClass != "permanent" || ps[0].detail["manual"] != true {
		t.Fatalf("poll rows %+v", ps)
	}
	// Once next_at has passed, a periodic run polls again.
	h.clock.Advance(2*time.Minute + time.Second)
	if err := h.run(t, false); err != nil {
		t.Fatal(err)
	}
	if c := h.cursor(t, "Patient"); c.failures != 0 || c.nextAt != 0 || h.acc.firsts() != 3 {
		t.Fatalf("after the back-off: cursor %+v, %d accepted", c, h.acc.firsts())
	}
}

func TestUnknownSourceCancels(t *testing.T) {
	h := newHarness(t, store.SQLite, reconcile.Source{Interval: time.Minute, PageSize: 3}, &fakePoller{})
	var cancel *river.JobCancelError
	if err := h.w.Work(context.Background(), job("nope", false)); !errors.As(err, &cancel) {
		t.Fatalf("unknown source: %v", err)
	}
}

// (d), (e) What a run makes of each change.
func TestChangeVerdicts(t *testing.T) {
	start := t0.Add(-time.Hour)
	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	withBody := func(c connectors.Change, body string) connectors.Change {
		c.Resource = []byte(body)
		return c
	}
	type known struct {
		change connectors.Change
		at     time.Time
	}
	cases := []struct {
		name       string
		changes    []connectors.Change
		known      []known // recorded in the ledger before the run
		noRoute    bool
		invalid    string // a resource id Validate refuses
		wantRouted []string
		want       map[string]int
	}{
		{"own writes are counted, not routed",
			[]connectors.Change{patient(1, at(1)), func() connectors.Change { c := patient(2, at(2)); c.Ours = true; return c }(),
				patient(3, at(3)), func() connectors.Change { c := patient(4, at(4)); c.Ours = true; return c }()},
			nil, false, "", []string{"p1", "p3"}, map[string]int{"seen": 4, "own_writes": 2, "routed": 2}},
		{"a fingerprint the ledger has is unchanged",
			[]connectors.Change{patient(1, at(5)), patient(2, at(6))},
			// p1 as the hub last wrote it, with another id and meta: same synced fields.
			[]known{{withBody(patient(1, at(1)), `{"resourceType":"Patient","id":"other","meta":{"versionId":"9"},"active":true,"name":[{"family":"F1"}]}`), at(1)}},
			false, "", []string{"p2"}, map[string]int{"seen": 2, "unchanged": 1, "routed": 1}},
		{"older than the ledger's state is stale",
			[]connectors.Change{patient(1, at(5)), patient(2, at(6))},
			[]known{{withBody(patient(1, at(9)), `{"resourceType":"Patient","active":false,"name":[{"family":"Later"}]}`), at(9)}},
			false, "", []string{"p2"}, map[string]int{"seen": 2, "stale": 1, "routed": 1}},
		{"newer than the ledger's state is routed",
			[]connectors.Change{patient(1, at(5))},
			[]known{{withBody(patient(1, at(2)), `{"resourceType":"Patient","active":false,"name":[{"family":"Earlier"}]}`), at(2)}},
			false, "", []string{"p1"}, map[string]int{"seen": 1, "routed": 1}},
		{"no destination is counted",
			[]connectors.Change{patient(1, at(1)), patient(2, at(2))},
			nil, true, "", nil, map[string]int{"seen": 2, "no_route": 2, "routed": 0}},
		{"invalid resources are counted, not routed",
			[]connectors.Change{patient(1, at(1)), patient(2, at(2))},
			nil, false, "p2", []string{"p1"}, map[string]int{"seen": 2, "invalid": 1, "routed": 1}},
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					h := newHarness(t, d, reconcile.Source{Interval: time.Minute, PageSize: 10, Since: start},
						&fakePoller{changes: tc.changes})
					for _, k := range tc.known {
						c := k.change
						if err := h.led.Record(ctx, "ehr", ledger.Keys(c.ResourceType, c.ID, c.Resource), c.Resource, k.at); err != nil {
							t.Fatal(err)
						}
					}
					h.acc.noRoute["Patient"] = tc.noRoute
					if tc.invalid != "" {
						h.w.Validate = func(_ string, body []byte) error {
							if strings.Contains(string(body), `"id":"`+tc.invalid+`"`) {
								return errors.New("invalid")
							}
							return nil
						}
					}
					if err := h.run(t, false); err != nil {
						t.Fatal(err)
					}
					var routed []string
					for _, s := range h.acc.subs {
						if h.acc.accepted[s.IdempotencyKey] > 0 {
							routed = append(routed, s.Entries[0].ResourceID)
						}
					}
					if fmt.Sprint(routed) != fmt.Sprint(tc.wantRouted) {
						t.Fatalf("routed %v, want %v", routed, tc.wantRouted)
					}
					for _, s := range h.acc.subs {
						for _, c := range tc.changes {
							if c.Ours && s.Entries[0].ResourceID == c.ID {
								t.Fatalf("own write %s submitted", c.ID)
							}
						}
					}
					ps := h.polls(t)
					if len(ps) != 1 || ps[0].outcome != "completed" {
						t.Fatalf("poll rows %+v", ps)
					}
					wantCounts(t, ps[0], tc.want)
				})
			}
		})
	}
}

// Each polled type keeps its own cursor.
func TestCursorPerType(t *testing.T) {
	start := t0.Add(-time.Hour)
	appt := connectors.Change{ResourceType: "Appointment", ID: "a1", Version: "3", Updated: start.Add(30 * time.Minute),
		Resource: []byte(`{"resourceType":"Appointment","id":"a1","status":"booked","start":"2026-06-02T09:00:00Z","end":"2026-06-02T09:30:00Z"}`)}
	p := &fakePoller{types: []string{"Patient", "Appointment"}, changes: append(series(2, start), appt)}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			p := &fakePoller{types: p.types, changes: p.changes}
			h := newHarness(t, d, reconcile.Source{Interval: time.Minute, PageSize: 5, Since: start}, p)
			if err := h.run(t, false); err != nil {
				t.Fatal(err)
			}
			if c := h.cursor(t, "Patient"); c.since != start.Add(time.Minute).UnixMicro() {
				t.Fatalf("Patient cursor %+v", c)
			}
			if c := h.cursor(t, "Appointment"); c.since != appt.Updated.UnixMicro() {
				t.Fatalf("Appointment cursor %+v", c)
			}
			ps := h.polls(t)
			if len(ps) != 2 || ps[0].resourceType != "Patient" || ps[1].resourceType != "Appointment" {
				t.Fatalf("poll rows %+v", ps)
			}
			if h.acc.firsts() != 3 {
				t.Fatalf("%d accepted", h.acc.firsts())
			}
		})
	}
}

func TestArgs(t *testing.T) {
	a := reconcile.Args{Source: "ehr"}
	if a.Kind() != reconcile.Kind {
		t.Fatal(a.Kind())
	}
	o := a.InsertOpts()
	if o.Queue != reconcile.Queue || !o.UniqueOpts.ByArgs || o.MaxAttempts != 3 {
		t.Fatalf("%+v", o)
	}
	jobs := reconcile.PeriodicJobs(map[string]reconcile.Source{"ehr": {Interval: time.Minute}, "crm": {Interval: time.Hour}})
	if len(jobs) != 2 {
		t.Fatalf("%d periodic jobs", len(jobs))
	}
}
