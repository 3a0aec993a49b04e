package reconcile

// Drift repair: for each `drift:` rule of the routing file, a River periodic
// job (enqueued by the elected leader only) lists the Appointments starting
// in a window at the scheduling tool and at the EHR through their
// connectors.Searcher, pairs them as the scheduling connector says
// (connectors.Pairer: a key both sides carry, e.g. the booking's id, which
// the EHR's copy keeps as an identifier), compares what the hub syncs
// (fhirjson.SyncedFields: status, start, end) and routes a repair like any
// vendor change, through transfer.Accept: normal routing, normal delivery,
// the origin never written back to.
//
// The decision, per Appointment:
//
//	pair in sync                           in_sync; nothing routed
//	pair differs, EHR meta.lastUpdated     differed, repaired_to_scheduling: the EHR's
//	  later                                  Appointment routed from the EHR (update, ResourceID)
//	pair differs, scheduling later, or     differed, repaired_to_ehr: the booking routed from
//	  the same time (a tie: the              the scheduling tool (update, Match: Pairer.PairMatch)
//	  scheduling side wins)
//	booking missing at the EHR             missing_at_ehr; routed from the scheduling tool
//	                                         (Match), unless cancelled (skipped_cancelled)
//	EHR Appointment whose booking the      missing_at_scheduling; NOT routed: the booking may be
//	  scheduling tool did not list           outside the list for reasons the hub cannot see
//	                                         (another calendar, an API key's scope, deleted)
//	EHR Appointment without a pairing      unsynced_at_ehr; routed from the EHR (the routing
//	  key                                    decides whether the scheduling tool receives it),
//	                                         unless cancelled (skipped_cancelled)
//	booking a reschedule replaced          rescheduled; never routed: its successor, a new
//	  (Pairing.Superseded)                   booking, carries the appointment
//
// A tie goes to the scheduling side because a booking's time is what the
// patient was told; the EHR's copy came from it. A repair carries the
// winner's time as ChangedAt, so a destination changed after it is left
// alone (connectors.Delivery.ChangedAt), and is recorded in the ledger for
// the winner, as a polled change is, so that its echo is dropped.
//
// A scheduling tool may filter a window by start and by end, not by start
// alone: the scheduling side is asked up to driftSlack past the window's end
// and both sides are then cut to the starts in [From, To), so a booking
// ending after the window is still paired.
//
// The transfer log gets one EventDrift row per run, counts only: uids and
// ids go into the repairs' idempotency keys, which the hub stores only as a
// keyed HMAC (package transfer), never in clear.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/inbound"
	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/transferlog"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// DriftKind is the River job kind of a drift repair.
const DriftKind = "switchboard.drift"

// driftSlack is how far past the window's end the scheduling tool is asked,
// for bookings that start inside it and end after it (an appointment lasts
// less than a day).
const driftSlack = 24 * time.Hour

// driftPageSize is the _count of each search page.
const driftPageSize = 100

// driftMaxPages stops a search whose vendor never ends its pages.
const driftMaxPages = 10000

// DriftArgs names the rule (its two destinations) and the window. Only the
// destinations make a run unique: a manual run while a periodic one is
// queued or running is the same run.
type DriftArgs struct {
	Scheduling string `json:"scheduling" river:"unique"`
	EHR        string `json:"ehr" river:"unique"`
	// From and To bound the Appointments' start, [From, To); zero: from
	// now-window to now+window.
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	Manual bool      `json:"manual,omitempty"`
}

// Kind implements river.JobArgs.
func (DriftArgs) Kind() string { return DriftKind }

// InsertOpts keeps one drift repair per rule queued or running at a time.
func (DriftArgs) InsertOpts() river.InsertOpts { return oneAtATime() }

// DriftRule is one configured comparison (route.Drift with its connectors).
type DriftRule struct {
	Scheduling, EHR             string
	SchedulingSearch, EHRSearch connectors.Searcher
	// Pair is the scheduling connector's: how its bookings pair with the
	// EHR's Appointments.
	Pair          connectors.Pairer
	Window, Every time.Duration
}

// DriftWorker runs drift repairs.
type DriftWorker struct {
	river.WorkerDefaults[DriftArgs]
	Rules []DriftRule
	// Ledger remembers each repair for its winner, as a polled change is
	// remembered; a repair is never judged by it (the run compared both
	// sides itself).
	Ledger    inbound.Ledger
	Transfers inbound.Acceptor
	// Validate checks a resource before it is routed (nil skips it).
	Validate func(resourceType string, body []byte) error
	Log      Appender
	Logger   *slog.Logger
	Now      func() time.Time
}

// DriftCounts is what one drift repair did; PHI-free.
type DriftCounts struct {
	Compared             int `json:"compared"`
	InSync               int `json:"in_sync"`
	Differed             int `json:"differed"`
	RepairedToEHR        int `json:"repaired_to_ehr"`
	RepairedToScheduling int `json:"repaired_to_scheduling"`
	MissingAtEHR         int `json:"missing_at_ehr"`
	MissingAtScheduling  int `json:"missing_at_scheduling"`
	UnsyncedAtEHR        int `json:"unsynced_at_ehr"`
	Rescheduled          int `json:"rescheduled"`
	SkippedCancelled     int `json:"skipped_cancelled"`
	NoRoute              int `json:"no_route"`
	Replayed             int `json:"replayed"`
	Invalid              int `json:"invalid"`
}

func (w *DriftWorker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *DriftWorker) rule(a DriftArgs) (DriftRule, bool) {
	for _, r := range w.Rules {
		if r.Scheduling == a.Scheduling && r.EHR == a.EHR {
			return r, true
		}
	}
	return DriftRule{}, false
}

// Work implements river.Worker.
func (w *DriftWorker) Work(ctx context.Context, job *river.Job[DriftArgs]) error {
	a := job.Args
	r, ok := w.rule(a)
	if !ok {
		return river.JobCancel(fmt.Errorf("no drift rule between %q and %q", a.Scheduling, a.EHR))
	}
	started := w.now()
	from, to := a.From, a.To
	if from.IsZero() {
		from = started.Add(-r.Window)
	}
	if to.IsZero() {
		to = started.Add(r.Window)
	}
	log := w.Logger.With("scheduling", a.Scheduling, "ehr", a.EHR, "job_id", job.ID, "manual", a.Manual)
	c, err := w.run(ctx, job.ID, r, from, to)
	row := transferlog.Row{At: w.now(), Event: transferlog.EventDrift, Source: a.Scheduling, Destination: a.EHR,
		ResourceType: "Appointment", Actor: "reconciler", LatencyMS: w.now().Sub(started).Milliseconds(), Detail: detail(c, a.Manual)}
	if err != nil {
		row.Outcome, row.ErrorClass = "failed", string(connectors.ClassOf(err))
		row.Detail["error_code"] = errorCode(err)
		log.Warn("drift repair failed", "error", err)
	} else {
		row.Outcome = "completed"
		log.Info("drift repair completed", "compared", c.Compared, "differed", c.Differed,
			"repaired_to_ehr", c.RepairedToEHR, "repaired_to_scheduling", c.RepairedToScheduling)
	}
	if w.Log != nil {
		if lerr := w.Log.Append(ctx, row); lerr != nil {
			log.Error("transfer log", "error", lerr)
		}
	}
	switch {
	case err == nil:
		return nil
	case a.Manual:
		return river.JobCancel(fmt.Errorf("drift %s %s: %w", a.Scheduling, a.EHR, err))
	case errors.Is(err, errListing):
		// The next period lists again; nothing was routed.
		return nil
	}
	// A routing failure is retried: the repairs already routed replay
	// under the same idempotency keys (the job id is in them).
	return err
}

// errListing marks a failure to list one side.
var errListing = errors.New("drift: list appointments")

// appt is what a repair reads of an Appointment.
type appt struct {
	res         []byte
	id          string    // the vendor's id ("" for a booking listed without one)
	uid         string    // the pairing key (Pairing.Key)
	oldUIDs     []string  // keys of bookings it replaced (Pairing.Replaced)
	updated     time.Time // meta.lastUpdated
	cancelled   bool
	rescheduled bool // a booking a reschedule replaced (Pairing.Superseded)
}

func readAppt(pair connectors.Pairer, res []byte) (appt, time.Time, bool) {
	var v struct {
		ID   string `json:"id"`
		Meta struct {
			LastUpdated string `json:"lastUpdated"`
		} `json:"meta"`
		Status string `json:"status"`
		Start  string `json:"start"`
	}
	if json.Unmarshal(res, &v) != nil {
		return appt{}, time.Time{}, false
	}
	a := appt{res: res, id: v.ID, cancelled: v.Status == "cancelled" || v.Status == "entered-in-error"}
	a.updated, _ = time.Parse(time.RFC3339Nano, v.Meta.LastUpdated)
	p := pair.Pair("Appointment", res)
	a.uid, a.oldUIDs, a.rescheduled = p.Key, p.Replaced, p.Superseded
	start, err := time.Parse(time.RFC3339Nano, v.Start)
	return a, start, err == nil
}

// list pages through one side's Appointments starting in [from, to),
// asking up to until. A page over the answer limit starts the listing over
// at half the _count, down to 1, as a poll does (poll.go).
func list(ctx context.Context, s connectors.Searcher, pair connectors.Pairer, from, to, until time.Time) ([]appt, error) {
	for count := driftPageSize; ; count = max(1, count/2) {
		out, err := listPages(ctx, s, pair, from, to, until, count)
		if !errors.Is(err, connectors.ErrResponseTooLarge) || count == 1 {
			return out, err
		}
	}
}

// listPages is list at one page size; the page budget grows as the pages
// shrink.
func listPages(ctx context.Context, s connectors.Searcher, pair connectors.Pairer, from, to, until time.Time, count int) ([]appt, error) {
	q := connectors.SearchQuery{ResourceType: "Appointment", Params: url.Values{
		"date":   {"ge" + from.UTC().Format(time.RFC3339), "lt" + until.UTC().Format(time.RFC3339)},
		"_count": {strconv.Itoa(count)}}}
	var out []appt
	maxPages := driftMaxPages * (driftPageSize / count)
	for range maxPages {
		page, err := s.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errListing, err)
		}
		for _, res := range page.Resources {
			a, start, ok := readAppt(pair, res)
			if !ok || start.Before(from) || !start.Before(to) {
				continue
			}
			out = append(out, a)
		}
		if page.Next == "" || page.Next == q.Cursor {
			return out, nil
		}
		q.Cursor = page.Next
	}
	return nil, fmt.Errorf("%w: more than %d pages", errListing, maxPages)
}

// run lists both sides and routes the repairs.
func (w *DriftWorker) run(ctx context.Context, jobID int64, r DriftRule, from, to time.Time) (DriftCounts, error) {
	var c DriftCounts
	sched, err := list(ctx, r.SchedulingSearch, r.Pair, from, to, to.Add(driftSlack))
	if err != nil {
		return c, err
	}
	ehr, err := list(ctx, r.EHRSearch, r.Pair, from, to, to)
	if err != nil {
		return c, err
	}
	bookings := map[string]appt{}
	for _, b := range sched {
		if b.uid != "" {
			bookings[b.uid] = b
		}
	}
	atEHR := map[string]bool{}
	for _, e := range ehr {
		if e.uid != "" {
			atEHR[e.uid] = true
		}
		for _, u := range e.oldUIDs {
			atEHR[u] = true
		}
	}
	rp := repairer{w: w, r: r, jobID: jobID, c: &c}
	for _, e := range ehr {
		if e.uid == "" {
			c.UnsyncedAtEHR++
			if e.cancelled {
				c.SkippedCancelled++
				continue
			}
			var routed int // counted as unsynced, not as a repair
			if err := rp.fromEHR(ctx, e, &routed); err != nil {
				return c, err
			}
			continue
		}
		b, ok := bookings[e.uid]
		if !ok {
			c.MissingAtScheduling++
			continue
		}
		c.Compared++
		if b.rescheduled {
			// The EHR still names the booking a reschedule replaced: the
			// reschedule's own change (webhook, write-back) moves it.
			c.Rescheduled++
			continue
		}
		same, err := synced(b.res, e.res)
		if err != nil {
			c.Invalid++
			continue
		}
		if same {
			c.InSync++
			continue
		}
		c.Differed++
		if e.updated.After(b.updated) {
			err = rp.fromEHR(ctx, e, &c.RepairedToScheduling)
		} else {
			err = rp.fromScheduling(ctx, b, &c.RepairedToEHR)
		}
		if err != nil {
			return c, err
		}
	}
	for _, b := range sched {
		if b.uid == "" || atEHR[b.uid] {
			continue
		}
		c.MissingAtEHR++
		switch {
		case b.rescheduled:
			c.Rescheduled++
		case b.cancelled:
			// Never reached the EHR and is cancelled: nothing to mirror.
			c.SkippedCancelled++
		default:
			var routed int
			if err := rp.fromScheduling(ctx, b, &routed); err != nil {
				return c, err
			}
			c.RepairedToEHR += routed
		}
	}
	return c, nil
}

// synced reports whether two Appointments agree on what the hub syncs.
func synced(a, b []byte) (bool, error) {
	fa, err := fhirjson.SyncedFields(a, connectors.IdentifierSystemPrefix)
	if err != nil {
		return false, err
	}
	fb, err := fhirjson.SyncedFields(b, connectors.IdentifierSystemPrefix)
	if err != nil {
		return false, err
	}
	return bytes.Equal(fa, fb), nil
}

// repairer routes the repairs of one run.
type repairer struct {
	w     *DriftWorker
	r     DriftRule
	jobID int64
	c     *DriftCounts
}

// fromEHR routes the EHR's Appointment as a change from the EHR; routed
// counts it when something was enqueued.
func (p repairer) fromEHR(ctx context.Context, e appt, routed *int) error {
	keys := ledger.Keys("Appointment", e.id, e.res)
	return p.route(ctx, p.r.EHR, "ehr|Appointment/"+e.id, e, keys,
		transfer.Entry{Interaction: connectors.Update, ResourceType: "Appointment", ResourceID: e.id, Resource: e.res}, routed)
}

// fromScheduling routes a booking as a change from the scheduling tool,
// addressed by its pairing key.
func (p repairer) fromScheduling(ctx context.Context, b appt, routed *int) error {
	match := p.r.Pair.PairMatch("Appointment", b.uid)
	keys := ledger.Dedup(append([]string{"Appointment/" + b.uid}, ledger.Keys("Appointment", "", b.res)...))
	return p.route(ctx, p.r.Scheduling, "scheduling|"+b.uid, b, keys,
		transfer.Entry{Interaction: connectors.Update, ResourceType: "Appointment", Match: match, Resource: b.res}, routed)
}

func (p repairer) route(ctx context.Context, origin, pair string, a appt, keys []string, e transfer.Entry, routed *int) error {
	w := p.w
	res, err := inbound.Router{Ledger: w.Ledger, Validate: w.Validate, Transfers: w.Transfers}.Route(ctx, inbound.Change{
		Source: origin, ClientID: "drift:" + p.r.Scheduling + ":" + p.r.EHR,
		// Stored only as a keyed HMAC: the uid or id in it never is in clear.
		IdempotencyKey: "drift|" + strconv.FormatInt(p.jobID, 10) + "|" + pair,
		Entry:          e, ChangedAt: a.updated, Keys: keys, Decided: true,
	})
	switch {
	case errors.Is(err, transfer.ErrIdempotencyConflict):
		// A retry of this run found the record changed since its first
		// try routed it: that routing stands.
		p.c.Replayed++
		return nil
	case err != nil:
		return fmt.Errorf("drift repair: %w", err)
	}
	switch res.Outcome {
	case inbound.Routed:
		*routed++
	case inbound.Replayed:
		p.c.Replayed++
	case inbound.NoRoute:
		p.c.NoRoute++
	case inbound.Invalid:
		p.c.Invalid++
	}
	return nil
}

// DriftPeriodicJobs schedules each rule at its Every. River's leader alone
// enqueues periodic jobs, so a cluster compares once. They do not run on
// start: a restart is no reason to list two vendors' calendars again.
func DriftPeriodicJobs(rules []DriftRule) []*river.PeriodicJob {
	var jobs []*river.PeriodicJob
	for _, r := range rules {
		jobs = append(jobs, river.NewPeriodicJob(river.PeriodicInterval(r.Every),
			func() (river.JobArgs, *river.InsertOpts) { return DriftArgs{Scheduling: r.Scheduling, EHR: r.EHR}, nil },
			&river.PeriodicJobOpts{ID: "drift-" + r.Scheduling + "-" + r.EHR}))
	}
	return jobs
}
