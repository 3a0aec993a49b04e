package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/store"
)

// twoWayRoutes: Appointments go both ways between Cal.com and the EHR; the
// EHR is polled (its periodic poll runs once at start, then the test polls
// by hand, so that it decides what a "poll cycle" sees).
const twoWayRoutes = `destinations:
  ehr:
    type: fhir
    poll: {interval: 1h, page_size: 50}
    config: {base_url: %[1]q, poll_types: [Appointment]}
  scheduling:
    type: calcom
    config: {base_url: "{{CALCOM}}", api_key_env: VENDOR_KEY_FOR_TEST, event_type_id: 1001, time_zone: UTC, slot_minutes: 30,
      webhook_secrets_env: [WEBHOOK_SECRET_NEW], organizer_email: "host@clinic.example"}
identity: {record_at: ehr}
routes:
  - {resource: Appointment, to: [ehr, scheduling]}
`

// webhookGate forwards Cal.com's webhooks to the hub, or holds them (a
// vendor's delivery running late) until released.
type webhookGate struct {
	mu     sync.Mutex
	target string
	hold   bool
	held   []*http.Request
	bodies [][]byte
}

func (g *webhookGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	if g.hold {
		g.held, g.bodies = append(g.held, r.Clone(context.Background())), append(g.bodies, body)
		g.mu.Unlock()
		w.WriteHeader(http.StatusOK) // Cal.com is told it was delivered; it arrives later
		return
	}
	target := g.target
	g.mu.Unlock()
	w.WriteHeader(g.forward(target, r.Header, body))
}

func (g *webhookGate) forward(target string, h http.Header, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return http.StatusBadGateway
	}
	resp.Body.Close()
	return resp.StatusCode
}

// release forwards the held webhooks, in order.
func (g *webhookGate) release(t *testing.T) {
	g.mu.Lock()
	held, bodies, target := g.held, g.bodies, g.target
	g.held, g.bodies, g.hold = nil, nil, false
	g.mu.Unlock()
	for i, r := range held {
		if c := g.forward(target, r.Header, bodies[i]); c != http.StatusOK {
			t.Fatalf("released webhook: %d", c)
		}
	}
}

type twoWay struct {
	t    *testing.T
	h    *harness
	cal  *calsim.Server
	cals string
	gate *webhookGate
}

func startTwoWay(t *testing.T, dialect string) *twoWay {
	return startTwoWayWith(t, dialect, nil)
}

// startTwoWayWith puts wrap, when given, in front of the Cal.com sandbox.
func startTwoWayWith(t *testing.T, dialect string, wrap func(http.Handler) http.Handler) *twoWay {
	gate := &webhookGate{}
	gateSrv := httptest.NewServer(gate)
	t.Cleanup(gateSrv.Close)
	cal := calsim.New(calsim.Options{WebhookURL: gateSrv.URL, WebhookSecret: "whsec_test_new_secret"})
	var calHandler http.Handler = cal
	if wrap != nil {
		calHandler = wrap(cal)
	}
	calSrv := httptest.NewServer(calHandler)
	t.Cleanup(calSrv.Close)
	h := startWith(t, dialect, strings.ReplaceAll(twoWayRoutes, "{{CALCOM}}", calSrv.URL))
	gate.target = h.url + "/webhooks/scheduling"
	w := &twoWay{t: t, h: h, cal: cal, cals: calSrv.URL, gate: gate}
	// A failed run says what happened: the hub's writes at the EHR and
	// Cal.com, and the transfer log (PHI-free by construction).
	t.Cleanup(func() {
		if t.Failed() {
			w.dump()
		}
	})
	waitCount(t, func() int { return h.pollRows(t) }, 1, 10*time.Second) // the poll at start sets the cursor
	return w
}

// poll runs one poll cycle of the EHR and waits for it to finish. A poll
// still queued or running would absorb the new one (polls are unique), so
// it first waits for none to be.
func (w *twoWay) poll() {
	w.t.Helper()
	ctx := w.t.Context()
	pending := func() int {
		var n int
		if err := w.h.hub.Store.DB().QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'switchboard.poll'
			AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n); err != nil {
			w.t.Fatal(err)
		}
		return n
	}
	if waitCount(w.t, pending, 0, 10*time.Second) != 0 {
		w.t.Fatal("a poll is still pending")
	}
	before := w.h.pollRows(w.t)
	err := w.h.hub.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: reconcile.Args{Source: "ehr", Manual: true}}})
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if waitCount(w.t, func() int { return w.h.pollRows(w.t) - before }, 1, 10*time.Second) != 1 {
		w.t.Fatal("the poll did not complete")
	}
	waitCount(w.t, pending, 0, 10*time.Second)
}

// settle waits until the hub has nothing queued or running.
func (w *twoWay) settle() {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := w.h.hub.Store.DB().QueryRow(w.t.Context(), `SELECT count(*) FROM river_job
			WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')
			AND kind <> 'switchboard.poll'`).Scan(&n); err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatal("the hub did not settle")
}

// superseded counts deliveries to dest skipped because a later change won.
func (w *twoWay) superseded(dest string) int {
	w.t.Helper()
	var n int
	if err := w.h.hub.Store.DB().QueryRow(w.t.Context(), `SELECT count(*) FROM switchboard_delivery
		WHERE destination = $1 AND state = 'skipped' AND error_code = 'superseded'`, dest).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// calWrites counts the writes the hub made at Cal.com (the test's own,
// a patient's, carry no Idempotency-Key).
func (w *twoWay) calWrites() int {
	n := 0
	for _, r := range w.cal.Received() {
		if r.IdempotencyKey != "" && r.Status < 300 {
			n++
		}
	}
	return n
}

// ehrWrites counts the writes the hub made at the EHR (with an effect).
func (w *twoWay) ehrWrites() int {
	w.t.Helper()
	resp, err := http.Get(w.h.ehr.URL + "/_sandbox/log")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var l sandboxLog
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, r := range l.Requests {
		if r.IdempotencyKey != "" && (r.Effect == "created" || r.Effect == "updated") {
			n++
		}
	}
	return n
}

// calDo calls Cal.com as a patient would (no Idempotency-Key).
func (w *twoWay) calDo(path string, body string) map[string]any {
	w.t.Helper()
	return calPost(w.t, w.cals, path, body)
}

// calPost calls the Cal.com sandbox at base as a patient would (no
// Idempotency-Key) and returns the answer's data.
func calPost(t *testing.T, base, path, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sandbox-credential")
	req.Header.Set("cal-api-version", "2024-08-13")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data map[string]any `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("Cal.com %s: %d", path, resp.StatusCode)
	}
	return out.Data
}

// patientBooks books at Cal.com as the patient, at start, and waits until
// the booking is an Appointment at the EHR and the hub is idle; it returns
// the booking's uid.
func (w *twoWay) patientBooks(start time.Time) string {
	w.t.Helper()
	b := w.calDo("/v2/bookings", fmt.Sprintf(`{"start":%q,"eventTypeId":1001,
		"attendee":{"name":"Robin Fakename","email":"robin@example.org","timeZone":"UTC"}}`, start.Format(time.RFC3339)))
	uid := b["uid"].(string)
	waitCount(w.t, func() int { return len(w.h.ehrSearch("Appointment")) }, 1, 10*time.Second)
	w.settle()
	return uid
}

// pollsWriteNothing runs cycles poll cycles and fails if the hub wrote
// anything at the EHR or Cal.com beyond the ehr and cal writes seen before.
func (w *twoWay) pollsWriteNothing(cycles, ehr, cal int) {
	w.t.Helper()
	for range cycles {
		w.poll()
		w.settle()
	}
	if e, c := w.ehrWrites(), w.calWrites(); e != ehr || c != cal {
		w.t.Fatalf("%d more poll cycles wrote %d at the EHR and %d at Cal.com; want none", cycles, e-ehr, c-cal)
	}
}

// calBooking reads a booking at Cal.com, following reschedules to the live one.
func (w *twoWay) calLive(uid string) map[string]any {
	w.t.Helper()
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, w.cals+"/v2/bookings/"+uid, nil)
		req.Header.Set("Authorization", "Bearer sandbox-credential")
		req.Header.Set("cal-api-version", "2024-08-13")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.t.Fatal(err)
		}
		var out struct {
			Data map[string]any `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		next, _ := out.Data["rescheduledToUid"].(string)
		if next == "" {
			return out.Data
		}
		uid = next
	}
	w.t.Fatal("reschedule chain too long")
	return nil
}

// ehrAppointment is the one Appointment at the EHR.
func (w *twoWay) ehrAppointment() map[string]any {
	w.t.Helper()
	all := w.h.ehrSearch("Appointment")
	if len(all) != 1 {
		w.t.Fatalf("the EHR has %d Appointments, want 1", len(all))
	}
	return all[0]
}

// clinicianMoves edits the EHR's Appointment directly, as a clinician in the
// EHR would: a new start, and no meta (the EHR's own UI does not claim to
// be the hub).
func (w *twoWay) clinicianMoves(start time.Time) {
	w.t.Helper()
	a := w.ehrAppointment()
	delete(a, "meta")
	a["start"] = start.UTC().Format(time.RFC3339)
	a["end"] = start.UTC().Add(30 * time.Minute).Format(time.RFC3339)
	b, _ := json.Marshal(a)
	req, _ := http.NewRequest(http.MethodPut, w.h.ehr.URL+"/fhir/R4/Appointment/"+a["id"].(string), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("clinician edit: %d", resp.StatusCode)
	}
}

func sameInstant(t *testing.T, what string, got any, want time.Time) {
	t.Helper()
	s, _ := got.(string)
	g, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !g.Equal(want) {
		t.Fatalf("%s: start %v, want %s", what, got, want.UTC().Format(time.RFC3339))
	}
}

// TestTwoWayAppointmentSync is the acceptance of two-way sync: a booking
// made at Cal.com appears at the EHR once; moved at the EHR, it is
// rescheduled at Cal.com once; then three poll cycles write nothing
// anywhere. Then both orders of a conflict: the later change wins on both
// sides, whichever vendor reports first.
func TestTwoWayAppointmentSync(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			w := startTwoWay(t, dialect)
			day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 7)
			at := func(hour int) time.Time { return day.Add(time.Duration(hour) * time.Hour) }

			// A patient books at Cal.com.
			uid := w.patientBooks(at(9))
			sameInstant(t, "EHR after the booking", w.ehrAppointment()["start"], at(9))
			if e, c := w.ehrWrites(), w.calWrites(); e != 1 || c != 0 {
				t.Fatalf("after the booking: %d EHR writes, %d Cal.com writes; want 1 and 0", e, c)
			}

			// A clinician moves it at the EHR; the next poll takes it to Cal.com.
			w.clinicianMoves(at(11))
			w.poll()
			w.settle()
			sameInstant(t, "Cal.com after the EHR edit", w.calLive(uid)["start"], at(11))
			e1, c1 := w.ehrWrites(), w.calWrites()
			// One reschedule at Cal.com; at the EHR the new booking uid written back.
			if c1 != 1 || e1 != 2 {
				t.Fatalf("after the EHR edit: %d EHR writes, %d Cal.com writes; want 2 and 1", e1, c1)
			}
			w.pollsWriteNothing(3, e1, c1)
			t.Logf("writes by the hub: EHR %d, Cal.com %d; polls: %v", e1, c1, w.h.pollCounts(t))

			// Conflict 1: the clinician moves it (earlier), then the patient
			// reschedules at Cal.com (later), and the poll runs before
			// Cal.com's webhook arrives. The clinician's change reaches
			// Cal.com first and is superseded there (the connector reads the
			// booking); the patient's then reaches the EHR and wins.
			live := w.calLive(uid)["uid"].(string)
			w.gate.mu.Lock()
			w.gate.hold = true
			w.gate.mu.Unlock()
			w.clinicianMoves(at(13))
			time.Sleep(20 * time.Millisecond)
			w.calDo("/v2/bookings/"+live+"/reschedule", fmt.Sprintf(`{"start":%q,"rescheduledBy":"robin@example.org"}`, at(14).Format(time.RFC3339)))
			w.poll()
			w.settle()
			if n := w.superseded("scheduling"); n != 1 {
				t.Fatalf("conflict 1: %d deliveries to Cal.com superseded, want 1", n)
			}
			w.gate.release(t)
			w.settle()
			w.poll()
			w.settle()
			sameInstant(t, "EHR, patient later", w.ehrAppointment()["start"], at(14))
			sameInstant(t, "Cal.com, patient later", w.calLive(uid)["start"], at(14))

			// Conflict 2: the patient reschedules (earlier) but Cal.com's
			// webhook is late; the clinician moves it (later); the poll takes
			// the clinician's change to Cal.com first; then the late webhook
			// arrives and loses.
			live = w.calLive(uid)["uid"].(string)
			w.gate.mu.Lock()
			w.gate.hold = true
			w.gate.mu.Unlock()
			w.calDo("/v2/bookings/"+live+"/reschedule", fmt.Sprintf(`{"start":%q,"rescheduledBy":"robin@example.org"}`, at(15).Format(time.RFC3339)))
			time.Sleep(20 * time.Millisecond)
			w.clinicianMoves(at(16))
			w.poll()
			w.settle()
			w.gate.release(t)
			w.settle()
			w.poll()
			w.settle()
			sameInstant(t, "EHR, clinician later", w.ehrAppointment()["start"], at(16))
			sameInstant(t, "Cal.com, clinician later", w.calLive(uid)["start"], at(16))
			// The late webhook loses: dropped as stale when it comes in
			// (the hub wrote the clinician's later change to the booking
			// it moves), or, had the hub not known that booking yet,
			// superseded at the EHR. Once, either way.
			if n, m := w.superseded("ehr"), w.staleWebhooks(); n+m != 1 {
				t.Fatalf("conflict 2: %d deliveries to the EHR superseded and %d webhook changes dropped as stale, want 1 in all (the late webhook)", n, m)
			}
			if n := len(w.h.ehrSearch("Appointment")); n != 1 {
				t.Fatalf("the EHR has %d Appointments", n)
			}
			h := w.h
			h.stop()
			h.assertNoCanary(dialect, [][]byte{[]byte("Robin Fakename"), []byte("robin@example.org")})
		})
	}
}

// webhookTransfers counts the transfers Cal.com's webhooks made.
func (w *twoWay) webhookTransfers() int {
	var n int
	if err := w.h.hub.Store.DB().QueryRow(context.Background(), `SELECT count(*) FROM switchboard_log WHERE event = 'accepted'
		AND actor = 'webhook:scheduling'`).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// staleWebhooks counts Cal.com's changes dropped as older than what the
// hub knows.
func (w *twoWay) staleWebhooks() int {
	var n int
	if err := w.h.hub.Store.DB().QueryRow(context.Background(), `SELECT count(*) FROM switchboard_log WHERE event = 'change_dropped'
		AND actor = 'webhook:scheduling' AND outcome = 'stale'`).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// webhooksWorked counts the webhook jobs the hub has finished.
func (w *twoWay) webhooksWorked() int {
	var n int
	if err := w.h.hub.Store.DB().QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'switchboard.webhook'
		AND state = 'completed'`).Scan(&n); err != nil {
		w.t.Error(err)
	}
	return n
}

// Cal.com sends its webhooks on their own schedule: the one for the hub's
// own reschedule can be taken in before the delivery that made it has
// returned and been recorded (seen once under load as a third EHR write).
// The echo must still be known for the hub's own write: a reschedule held
// at Cal.com until its webhook has been worked makes exactly the writes
// of the plain case, and polls after it write nothing.
func TestTwoWayEchoTakenBeforeTheWriteReturns(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			var w *twoWay
			var holding atomic.Bool
			var held atomic.Int32
			w = startTwoWayWith(t, dialect, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					if !holding.Load() || r.Header.Get("Idempotency-Key") == "" || !strings.HasSuffix(r.URL.Path, "/reschedule") {
						next.ServeHTTP(rw, r)
						return
					}
					before := w.webhooksWorked()
					rec := httptest.NewRecorder()
					next.ServeHTTP(rec, r)
					if waitCount(t, func() int { return w.webhooksWorked() - before }, 1, 10*time.Second) < 1 {
						t.Error("the reschedule's webhook was not worked while its answer was held")
					}
					held.Add(1)
					for k, v := range rec.Header() {
						rw.Header()[k] = v
					}
					rw.WriteHeader(rec.Code)
					_, _ = rw.Write(rec.Body.Bytes())
				})
			})
			day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 7)
			at := func(hour int) time.Time { return day.Add(time.Duration(hour) * time.Hour) }
			uid := w.patientBooks(at(9))

			holding.Store(true)
			w.clinicianMoves(at(11))
			w.poll()
			w.settle()
			if testing.Verbose() {
				w.dump()
			}
			if held.Load() != 1 {
				t.Fatalf("%d reschedules held, want 1", held.Load())
			}
			// The echo is dropped as the hub's own write, not routed back
			// to the EHR: Cal.com's webhooks made one transfer, the
			// patient's booking.
			if n := w.webhookTransfers(); n != 1 {
				t.Fatalf("Cal.com's webhooks made %d transfers, want 1 (the booking): the reschedule's echo was routed", n)
			}
			sameInstant(t, "Cal.com after the EHR edit", w.calLive(uid)["start"], at(11))
			e1, c1 := w.ehrWrites(), w.calWrites()
			if c1 != 1 || e1 != 2 {
				t.Fatalf("after the EHR edit, its echo taken first: %d EHR writes, %d Cal.com writes; want 2 and 1", e1, c1)
			}
			w.pollsWriteNothing(3, e1, c1)
		})
	}
}

// dump logs the EHR sandbox's request log, Cal.com's hub writes and the
// transfer log: the evidence a failed two-way run leaves.
func (w *twoWay) dump() {
	for _, r := range w.h.ehrLog().Requests {
		w.t.Logf("EHR    %s %s key=%q %d %s", r.Method, r.Path, r.IdempotencyKey, r.Status, r.Effect)
	}
	for _, r := range w.cal.Received() {
		w.t.Logf("Cal.com %+v", r)
	}
	rows, err := w.h.hub.Store.DB().Query(context.Background(), `SELECT seq, event, COALESCE(direction, ''), COALESCE(source, ''),
		COALESCE(destination, ''), COALESCE(resource_type, ''), COALESCE(outcome, ''), COALESCE(actor, ''), COALESCE(transfer_id, '')
		FROM switchboard_log ORDER BY seq`)
	if err != nil {
		w.t.Logf("transfer log: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var ev, dir, src, dst, typ, out, actor, tr string
		if err := rows.Scan(&seq, &ev, &dir, &src, &dst, &typ, &out, &actor, &tr); err != nil {
			w.t.Logf("transfer log: %v", err)
			return
		}
		w.t.Logf("log %3d %-18s %-8s %-10s -> %-10s %-12s %-14s %s %s", seq, ev, dir, src, dst, typ, out, actor, tr)
	}
}
