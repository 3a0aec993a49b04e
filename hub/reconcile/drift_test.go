package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// driftBookingSystem names a booking at the test's scheduling tool; the hub
// knows it only through driftPairer.
const driftBookingSystem = "https://scheduling.example/id/booking"

// driftPairer pairs as a scheduling connector would (connectors.Pairer):
// by the booking identifier, "old" naming the bookings a reschedule
// replaced, tag "superseded" marking a replaced booking.
type driftPairer struct{}

func (driftPairer) Pair(_ string, res []byte) connectors.Pairing {
	var v struct {
		Meta       struct{ Tag []struct{ Code string } }
		Identifier []struct{ Use, System, Value string }
	}
	var p connectors.Pairing
	if json.Unmarshal(res, &v) != nil {
		return p
	}
	for _, t := range v.Meta.Tag {
		p.Superseded = p.Superseded || t.Code == "superseded"
	}
	for _, id := range v.Identifier {
		switch {
		case id.System != driftBookingSystem:
		case id.Use == "old":
			p.Replaced = append(p.Replaced, id.Value)
		case p.Key == "":
			p.Key = id.Value
		}
	}
	return p
}

func (driftPairer) PairMatch(_, key string) string { return driftBookingSystem + "|" + key }

var driftT0 = time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)

// driftAppt writes an Appointment: id "" for a booking, uid "" for an EHR
// Appointment no booking made, old uids for the bookings it replaced.
func driftAppt(id, uid, status string, startDay int, updated time.Time, tags ...string) json.RawMessage {
	return driftApptOld(id, uid, nil, status, startDay, updated, tags...)
}

func driftApptOld(id, uid string, old []string, status string, startDay int, updated time.Time, tags ...string) json.RawMessage {
	a := map[string]any{"resourceType": "Appointment", "status": status,
		"start": driftT0.AddDate(0, 0, startDay).Add(9 * time.Hour).Format(time.RFC3339),
		"end":   driftT0.AddDate(0, 0, startDay).Add(9*time.Hour + 30*time.Minute).Format(time.RFC3339)}
	meta := map[string]any{"lastUpdated": updated.Format(time.RFC3339Nano)}
	for _, t := range tags {
		meta["tag"] = []any{map[string]any{"system": "https://switchboard.health/origin", "code": t}}
	}
	a["meta"] = meta
	if id != "" {
		a["id"] = id
	}
	if uid != "" {
		a["identifier"] = []any{map[string]any{"system": driftBookingSystem, "value": uid}}
	}
	for _, o := range old {
		a["identifier"] = append(a["identifier"].([]any), map[string]any{"use": "old", "system": driftBookingSystem, "value": o})
	}
	b, _ := json.Marshal(a)
	return b
}

// driftSearcher pages through its Appointments two at a time. With
// maxCount set, a _count above it is an answer over the size limit.
type driftSearcher struct {
	appts    []json.RawMessage
	queries  []connectors.SearchQuery
	maxCount int
}

func (s *driftSearcher) Search(_ context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	s.queries = append(s.queries, q)
	if n, _ := strconv.Atoi(q.Params.Get("_count")); s.maxCount > 0 && n > s.maxCount {
		return connectors.SearchPage{}, &connectors.Error{Class: connectors.Permanent, Code: "response_too_large",
			Err: &connectors.ResponseTooLargeError{Limit: 4 << 20}}
	}
	var at int
	if q.Cursor != "" {
		fmt.Sscan(q.Cursor, &at)
	}
	end := min(at+2, len(s.appts))
	page := connectors.SearchPage{Resources: s.appts[at:end]}
	if end < len(s.appts) {
		page.Next = fmt.Sprint(end)
	}
	return page, nil
}

type driftAcceptor struct {
	subs   []transfer.Submission
	noDest bool
}

func (a *driftAcceptor) Accept(_ context.Context, sub transfer.Submission) (transfer.Accepted, error) {
	if a.noDest {
		return transfer.Accepted{}, transfer.ErrNoDestination
	}
	a.subs = append(a.subs, sub)
	return transfer.Accepted{ID: "tr_x", Deliveries: 1}, nil
}

type driftRecord struct {
	vendor string
	keys   []string
	at     time.Time
}

type driftLedger struct{ records []driftRecord }

// Judge fails: a drift repair decides itself and must never ask the ledger.
func (l *driftLedger) Judge(context.Context, string, []string, []byte, time.Time) (ledger.Verdict, error) {
	return "", errors.New("a drift repair asked the ledger to judge")
}

func (l *driftLedger) Record(_ context.Context, vendor string, keys []string, _ []byte, at time.Time) error {
	l.records = append(l.records, driftRecord{vendor, keys, at})
	return nil
}

type driftLog struct{ rows []transferlog.Row }

func (l *driftLog) Append(_ context.Context, row transferlog.Row) error {
	l.rows = append(l.rows, row)
	return nil
}

// driftWant is one expected repair: Origin, ResourceID or Match, ChangedAt.
type driftWant struct {
	origin, resourceID, match string
	changedAt                 time.Time
}

func TestDriftDecisions(t *testing.T) {
	early, late := driftT0.Add(-48*time.Hour), driftT0.Add(-time.Hour)
	cases := []struct {
		name       string
		scheduling []json.RawMessage
		ehr        []json.RawMessage
		want       []driftWant
		counts     map[string]int
	}{
		{"in sync", []json.RawMessage{driftAppt("", "bkA", "booked", 2, early)},
			[]json.RawMessage{driftAppt("e1", "bkA", "booked", 2, late)},
			nil, map[string]int{"compared": 1, "in_sync": 1}},
		{"the EHR changed later: it wins", []json.RawMessage{driftAppt("", "bkA", "booked", 2, early)},
			[]json.RawMessage{driftAppt("e1", "bkA", "booked", 3, late)},
			[]driftWant{{origin: "ehr", resourceID: "e1", changedAt: late}},
			map[string]int{"compared": 1, "differed": 1, "repaired_to_scheduling": 1}},
		{"the scheduling tool changed later: it wins", []json.RawMessage{driftAppt("", "bkA", "cancelled", 2, late)},
			[]json.RawMessage{driftAppt("e1", "bkA", "booked", 2, early)},
			[]driftWant{{origin: "scheduling", match: driftBookingSystem + "|bkA", changedAt: late}},
			map[string]int{"compared": 1, "differed": 1, "repaired_to_ehr": 1}},
		{"a tie: the scheduling side wins", []json.RawMessage{driftAppt("", "bkA", "booked", 4, late)},
			[]json.RawMessage{driftAppt("e1", "bkA", "booked", 2, late)},
			[]driftWant{{origin: "scheduling", match: driftBookingSystem + "|bkA", changedAt: late}},
			map[string]int{"compared": 1, "differed": 1, "repaired_to_ehr": 1}},
		{"missing at the EHR: routed from scheduling; a cancelled one is not",
			[]json.RawMessage{driftAppt("", "bkNew", "booked", 5, late), driftAppt("", "bkGone", "cancelled", 6, late)}, nil,
			[]driftWant{{origin: "scheduling", match: driftBookingSystem + "|bkNew", changedAt: late}},
			map[string]int{"missing_at_ehr": 2, "repaired_to_ehr": 1, "skipped_cancelled": 1}},
		{"missing at the scheduling tool: counted, not routed", nil,
			[]json.RawMessage{driftAppt("e1", "bkElsewhere", "booked", 2, late)},
			nil, map[string]int{"missing_at_scheduling": 1}},
		{"unsynced at the EHR: routed from the EHR; a cancelled one is not", nil,
			[]json.RawMessage{driftAppt("e9", "", "booked", 2, late), driftAppt("e8", "", "cancelled", 3, late)},
			[]driftWant{{origin: "ehr", resourceID: "e9", changedAt: late}},
			map[string]int{"unsynced_at_ehr": 2, "skipped_cancelled": 1, "repaired_to_ehr": 0, "repaired_to_scheduling": 0}},
		{"a booking a reschedule replaced is never routed",
			[]json.RawMessage{driftAppt("", "bkOld", "cancelled", 2, late, "superseded"), driftAppt("", "bkOld2", "cancelled", 3, late, "superseded")},
			[]json.RawMessage{driftAppt("e1", "bkOld", "booked", 2, early)},
			nil, map[string]int{"compared": 1, "rescheduled": 2, "missing_at_ehr": 1}},
		{"an EHR Appointment under a replaced booking's uid too: that booking is not missing at the EHR",
			[]json.RawMessage{driftAppt("", "bkNew", "booked", 2, early), driftAppt("", "bkPrev", "booked", 1, early)},
			[]json.RawMessage{driftApptOld("e1", "bkNew", []string{"bkPrev"}, "booked", 2, late)},
			nil, map[string]int{"compared": 1, "in_sync": 1, "missing_at_ehr": 0}},
		{"outside the window on both sides: ignored",
			[]json.RawMessage{driftAppt("", "bkLater", "booked", 20, late)},
			[]json.RawMessage{driftAppt("e1", "bkBefore", "booked", -3, late)},
			nil, map[string]int{"compared": 0, "missing_at_ehr": 0, "missing_at_scheduling": 0}},
		{"several pages on each side",
			[]json.RawMessage{driftAppt("", "b1", "booked", 1, early), driftAppt("", "b2", "booked", 2, early), driftAppt("", "b3", "booked", 3, late)},
			[]json.RawMessage{driftAppt("e1", "b1", "booked", 1, late), driftAppt("e2", "b2", "booked", 9, late), driftAppt("e3", "b3", "booked", 4, early)},
			[]driftWant{{origin: "ehr", resourceID: "e2", changedAt: late}, {origin: "scheduling", match: driftBookingSystem + "|b3", changedAt: late}},
			map[string]int{"compared": 3, "in_sync": 1, "differed": 2, "repaired_to_ehr": 1, "repaired_to_scheduling": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The EHR's pages of 100 are over the answer limit: the
			// listing starts over at 50, then 25 (issue 14 §1).
			sched, ehr := &driftSearcher{appts: tc.scheduling}, &driftSearcher{appts: tc.ehr, maxCount: 30}
			acc, led, tlog := &driftAcceptor{}, &driftLedger{}, &driftLog{}
			w := &reconcile.DriftWorker{
				Rules: []reconcile.DriftRule{{Scheduling: "scheduling", EHR: "ehr", SchedulingSearch: sched, EHRSearch: ehr, Pair: driftPairer{},
					Window: 14 * 24 * time.Hour, Every: time.Hour}},
				Ledger: led, Transfers: acc, Log: tlog, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			job := &river.Job[reconcile.DriftArgs]{JobRow: &rivertype.JobRow{ID: 42}, Args: reconcile.DriftArgs{
				Scheduling: "scheduling", EHR: "ehr", From: driftT0, To: driftT0.AddDate(0, 0, 14), Manual: true}}
			if err := w.Work(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			if len(acc.subs) != len(tc.want) {
				t.Fatalf("%d repairs routed, want %d", len(acc.subs), len(tc.want))
			}
			for i, want := range tc.want {
				sub := acc.subs[i]
				e := sub.Entries[0]
				if sub.Origin != want.origin || e.ResourceID != want.resourceID || e.Match != want.match ||
					!sub.ChangedAt.Equal(want.changedAt) || e.Interaction != connectors.Update || e.ResourceType != "Appointment" {
					t.Errorf("repair %d: origin %s id %q match %q changed %s %s, want %+v", i, sub.Origin, e.ResourceID, e.Match,
						sub.ChangedAt, e.Interaction, want)
				}
				if !strings.HasPrefix(sub.IdempotencyKey, "drift|42|") {
					t.Errorf("idempotency key %q", sub.IdempotencyKey)
				}
				// The winner is recorded in the ledger at its own time.
				if r := led.records[i]; r.vendor != want.origin || !r.at.Equal(want.changedAt) || len(r.keys) == 0 {
					t.Errorf("ledger record %d: %+v", i, r)
				}
			}
			if len(tlog.rows) != 1 {
				t.Fatalf("%d log rows", len(tlog.rows))
			}
			row := tlog.rows[0]
			if row.Event != transferlog.EventDrift || row.Actor != "reconciler" || row.Outcome != "completed" ||
				row.Source != "scheduling" || row.Destination != "ehr" {
				t.Fatalf("row %+v", row)
			}
			for k, n := range tc.counts {
				if row.Detail[k] != n {
					t.Errorf("%s = %v, want %d (detail %v)", k, row.Detail[k], n, row.Detail)
				}
			}
			// Counts only: nothing of a record is in the row.
			b, _ := json.Marshal(row)
			for _, s := range []string{"bk", "e1", "e9", "b1", "2030-"} {
				if strings.Contains(string(b), `"`+s) {
					t.Errorf("the row holds %q: %s", s, b)
				}
			}
			// Both sides are asked for the window; the scheduling tool up
			// to a day past it, since Cal.com bounds a booking's end.
			if q := ehr.queries[0].Params["date"]; len(q) != 2 || q[0] != "ge2030-03-01T00:00:00Z" || q[1] != "lt2030-03-15T00:00:00Z" {
				t.Errorf("EHR date %v", q)
			}
			if n := ehr.queries[len(ehr.queries)-1].Params.Get("_count"); n != "25" {
				t.Errorf("EHR asked with _count %s at last, want 25 (halved twice from 100)", n)
			}
			if q := sched.queries[0].Params["date"]; len(q) != 2 || q[1] != "lt2030-03-16T00:00:00Z" {
				t.Errorf("scheduling date %v", q)
			}
		})
	}
}

func TestDriftNoRouteAndUnknownRule(t *testing.T) {
	sched := &driftSearcher{appts: []json.RawMessage{driftAppt("", "bkNew", "booked", 2, driftT0)}}
	acc, tlog := &driftAcceptor{noDest: true}, &driftLog{}
	w := &reconcile.DriftWorker{
		Rules:     []reconcile.DriftRule{{Scheduling: "scheduling", EHR: "ehr", SchedulingSearch: sched, EHRSearch: &driftSearcher{}, Pair: driftPairer{}, Window: time.Hour}},
		Transfers: acc, Log: tlog, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return driftT0.AddDate(0, 0, 2) },
	}
	// A zero window is now±window: the booking at day 2, 09:00 is inside.
	job := &river.Job[reconcile.DriftArgs]{JobRow: &rivertype.JobRow{ID: 1}, Args: reconcile.DriftArgs{Scheduling: "scheduling", EHR: "ehr"}}
	w.Rules[0].Window = 12 * time.Hour
	if err := w.Work(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if d := tlog.rows[0].Detail; d["no_route"] != 1 || d["missing_at_ehr"] != 1 || d["repaired_to_ehr"] != 0 {
		t.Fatalf("detail %v", d)
	}
	job.Args.EHR = "other"
	if err := w.Work(context.Background(), job); err == nil {
		t.Fatal("a run of no rule should be cancelled")
	}
}
