package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/server"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// driftRoutes: Appointments go both ways between Cal.com and the EHR, with
// no webhook and no poll: only a drift repair notices what changed.
const driftRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
  scheduling:
    type: calcom
    config: {base_url: "{{CALCOM}}", api_key_env: VENDOR_KEY_FOR_TEST, event_type_id: 1001, time_zone: UTC, slot_minutes: 30,
      organizer_email: "host@clinic.example"}
identity: {record_at: ehr}
routes:
  - {resource: Appointment, to: [ehr, scheduling]}
drift:
  - {resource: Appointment, between: [scheduling, ehr], window: 336h, every: 1h}
`

type driftHub struct {
	t    *testing.T
	h    *harness
	cal  *calsim.Server
	cals string
}

// calPost calls Cal.com as a patient would (no Idempotency-Key).
func (d *driftHub) calPost(path, body string) map[string]any {
	d.t.Helper()
	return calPost(d.t, d.cals, path, body)
}

func (d *driftHub) calGet(uid string) map[string]any {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.cals+"/v2/bookings/"+uid, nil)
	req.Header.Set("Authorization", "Bearer sandbox-credential")
	req.Header.Set("cal-api-version", "2024-08-13")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data map[string]any `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.Data
}

// ehrWrite writes an Appointment at the EHR directly, as a clinician would.
func (d *driftHub) ehrWrite(method, path string, a map[string]any) map[string]any {
	d.t.Helper()
	b, _ := json.Marshal(a)
	req, _ := http.NewRequest(method, d.h.ehr.URL+"/fhir/R4/"+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 || json.Unmarshal(body, &out) != nil {
		d.t.Fatalf("EHR %s %s: %d", method, path, resp.StatusCode)
	}
	return out
}

// hubWrites counts the writes the hub made at Cal.com (with an
// Idempotency-Key; the test's own carry none).
func (d *driftHub) hubWritesAtCal() int {
	n := 0
	for _, r := range d.cal.Received() {
		if r.IdempotencyKey != "" && r.Status < 300 {
			n++
		}
	}
	return n
}

// run inserts a manual drift repair, waits for its transfer log row and for
// the deliveries it routed, and returns the row's counts.
func (d *driftHub) run() map[string]any {
	d.t.Helper()
	before := len(d.rows())
	err := d.h.hub.Store.InTx(d.t.Context(), func(ctx context.Context, tx store.Tx) error {
		_, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: reconcile.DriftArgs{Scheduling: "scheduling", EHR: "ehr", Manual: true}}})
		return err
	})
	if err != nil {
		d.t.Fatal(err)
	}
	if n := waitCount(d.t, func() int { return len(d.rows()) - before }, 1, 15*time.Second); n != 1 {
		d.t.Fatalf("%d drift rows, want 1", n)
	}
	d.settle()
	return d.rows()[before]
}

func (d *driftHub) rows() []map[string]any {
	d.t.Helper()
	d.h.flushLog()
	rows, err := d.h.hub.Store.DB().Query(d.t.Context(), `SELECT outcome, detail FROM switchboard_log WHERE event = $1 ORDER BY seq`, transferlog.EventDrift)
	if err != nil {
		d.t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var outcome, detail string
		if err := rows.Scan(&outcome, &detail); err != nil {
			d.t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(detail), &m); err != nil {
			d.t.Fatal(err)
		}
		m["outcome"] = outcome
		out = append(out, m)
	}
	return out
}

// settle waits until the hub has nothing queued or running.
func (d *driftHub) settle() {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := d.h.hub.Store.DB().QueryRow(d.t.Context(), `SELECT count(*) FROM river_job
			WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')`).Scan(&n); err != nil {
			d.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatal("the hub did not settle")
}

func driftCounts(t *testing.T, what string, row map[string]any, want map[string]int) {
	t.Helper()
	if row["outcome"] != "completed" {
		t.Fatalf("%s: outcome %v (%v)", what, row["outcome"], row)
	}
	for k, n := range want {
		if row[k] != float64(n) {
			t.Errorf("%s: %s = %v, want %d (%v)", what, k, row[k], n, row)
		}
	}
}

// TestDriftRepair: a booking made at Cal.com only (its webhook lost) and an
// appointment moved at the EHR directly (no poll) are both repaired by one
// manual drift run, each exactly once, and the next run finds nothing to do.
func TestDriftRepair(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			cal := calsim.New(calsim.Options{})
			calSrv := httptest.NewServer(cal)
			t.Cleanup(calSrv.Close)
			h := startWith(t, dialect, strings.ReplaceAll(driftRoutes, "{{CALCOM}}", calSrv.URL))
			d := &driftHub{t: t, h: h, cal: cal, cals: calSrv.URL}
			day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 3)
			at := func(hour int) time.Time { return day.Add(time.Duration(hour) * time.Hour) }
			book := func(hour int, email string) string {
				b := d.calPost("/v2/bookings", fmt.Sprintf(`{"start":%q,"eventTypeId":1001,
					"attendee":{"name":"Robin Fakename","email":%q,"timeZone":"UTC"}}`, at(hour).Format(time.RFC3339), email))
				return b["uid"].(string)
			}

			// A booking at Cal.com that the EHR never heard of.
			onlyAtCal := book(9, "robin@example.org")
			// A booking the EHR holds, then moved there by a clinician.
			moved := book(13, "sam@example.org")
			appt := map[string]any{"resourceType": "Appointment", "status": "booked",
				"identifier": []any{map[string]any{"system": "https://switchboard.health/id/calcom-booking", "value": moved}},
				"start":      at(13).Format(time.RFC3339), "end": at(13).Add(30 * time.Minute).Format(time.RFC3339),
				"participant": []any{map[string]any{"status": "accepted", "actor": map[string]any{"display": "Sam Fakename"}}}}
			created := d.ehrWrite(http.MethodPost, "Appointment", appt)
			time.Sleep(20 * time.Millisecond) // the EHR's change is later than the booking's
			appt["id"] = created["id"]
			appt["start"], appt["end"] = at(15).Format(time.RFC3339), at(15).Add(30*time.Minute).Format(time.RFC3339)
			d.ehrWrite(http.MethodPut, "Appointment/"+created["id"].(string), appt)
			// An EHR appointment for a booking Cal.com does not list (another
			// calendar): counted, never routed.
			d.ehrWrite(http.MethodPost, "Appointment", map[string]any{"resourceType": "Appointment", "status": "booked",
				"identifier": []any{map[string]any{"system": "https://switchboard.health/id/calcom-booking", "value": "bkElsewhere"}},
				"start":      at(16).Format(time.RFC3339), "end": at(16).Add(30 * time.Minute).Format(time.RFC3339),
				"participant": []any{map[string]any{"status": "accepted", "actor": map[string]any{"display": "Kim Fakename"}}}})

			driftCounts(t, "first run", d.run(), map[string]int{"compared": 1, "in_sync": 0, "differed": 1,
				"repaired_to_ehr": 1, "repaired_to_scheduling": 1, "missing_at_ehr": 1, "missing_at_scheduling": 1,
				"unsynced_at_ehr": 0, "no_route": 0})

			// The booking reached the EHR, once.
			got := h.ehrSearch("Appointment?identifier=https://switchboard.health/id/calcom-booking|" + onlyAtCal)
			if len(got) != 1 {
				t.Fatalf("the booking made at Cal.com is %d times at the EHR, want 1", len(got))
			}
			sameInstant(t, "EHR copy of the Cal.com booking", got[0]["start"], at(9))
			// The move reached Cal.com, once (a reschedule: a new booking).
			old := d.calGet(moved)
			next, _ := old["rescheduledToUid"].(string)
			if next == "" {
				t.Fatalf("the moved booking was not rescheduled at Cal.com: %v", old["status"])
			}
			sameInstant(t, "Cal.com after the EHR move", d.calGet(next)["start"], at(15))
			if n := d.hubWritesAtCal(); n != 1 {
				t.Fatalf("%d hub writes at Cal.com, want 1", n)
			}
			if n := len(h.ehrSearch("Appointment")); n != 3 {
				t.Fatalf("the EHR has %d Appointments, want 3", n)
			}

			// Nothing left to repair: the rescheduled booking's cancelled
			// half is not copied anywhere.
			driftCounts(t, "second run", d.run(), map[string]int{"compared": 2, "in_sync": 2, "differed": 0,
				"repaired_to_ehr": 0, "repaired_to_scheduling": 0, "missing_at_scheduling": 1, "rescheduled": 1})
			if n := d.hubWritesAtCal(); n != 1 {
				t.Fatalf("%d hub writes at Cal.com after the second run, want 1", n)
			}
			if n := len(h.ehrSearch("Appointment")); n != 3 {
				t.Fatalf("the EHR has %d Appointments after the second run, want 3", n)
			}
			// Counts only in the log: no uid.
			for _, r := range d.rows() {
				b, _ := json.Marshal(r)
				if strings.Contains(string(b), moved) || strings.Contains(string(b), onlyAtCal) {
					t.Fatalf("a drift row holds a booking uid: %s", b)
				}
			}
		})
	}
}

// TestDriftNeedsSearchers: a drift rule between destinations that cannot
// answer searches, or whose scheduling side cannot say how its records pair
// with the EHR's (connectors.Pairer), is a configuration error at start-up.
func TestDriftNeedsSearchers(t *testing.T) {
	cases := []struct{ name, routes, want string }{
		{"no searches", `destinations:
  ehr: {type: fhir, config: {base_url: "http://127.0.0.1:1/fhir/R4"}}
  payments: {type: stripe, config: {base_url: "http://127.0.0.1:1", api_key_env: STRIPE_KEY_FOR_TEST}}
routes:
  - {resource: Patient, to: [ehr, payments]}
drift:
  - {resource: Appointment, between: [payments, ehr]}
`, `drift[0]: destinations "payments" and "ehr" must both answer searches`},
		{"no pairing", `destinations:
  ehr: {type: fhir, config: {base_url: "http://127.0.0.1:1/fhir/R4"}}
  other: {type: fhir, config: {base_url: "http://127.0.0.1:2/fhir/R4"}}
routes:
  - {resource: Patient, to: [ehr, other]}
drift:
  - {resource: Appointment, between: [other, ehr]}
`, `drift[0]: destination "other" (type fhir) cannot pair its records with the EHR's`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			routes := filepath.Join(dir, "routes.yaml")
			if err := os.WriteFile(routes, []byte(tc.routes), 0o600); err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{"SWITCHBOARD_ROUTES": routes, "SWITCHBOARD_DEV_KEYS": filepath.Join(dir, "dev-keys.env"),
				"SWITCHBOARD_SQLITE_PATH": filepath.Join(dir, "switchboard.db"), "STRIPE_KEY_FOR_TEST": "sk_test_switchboard"}
			env := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
			cfg, err := config.FromEnv(env)
			if err != nil {
				t.Fatal(err)
			}
			_, err = server.New(t.Context(), server.Options{Config: cfg, Logger: logging.New(io.Discard, "error", "json"), Env: env})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v", err)
			}
		})
	}
}
