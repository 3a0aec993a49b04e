package transfer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
	"github.com/switchboard-health/switchboard/hub/transfer"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type routes map[string][]string

func (r routes) For(t string, _ connectors.Interaction) []string { return r[t] }

// stores opens a migrated, insert-only store of each dialect.
func stores(t *testing.T) map[store.Dialect]store.Store {
	t.Helper()
	ctx := context.Background()
	out := map[store.Dialect]store.Store{}
	for _, cfg := range []store.Config{
		{SQLitePath: filepath.Join(t.TempDir(), "hub.db")},
		{DatabaseURL: testenv.Postgres(t)},
	} {
		cfg.Logger = logging.Discard()
		cfg.River = &river.Config{}
		st, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		ok, err := st.MigrationsCurrent(ctx)
		if err != nil || !ok {
			t.Fatalf("%s: migrations not current after Migrate: %v", st.Dialect(), err)
		}
		out[st.Dialect()] = st
	}
	return out
}

func service(t *testing.T, st store.Store) *transfer.Service {
	t.Helper()
	k, _ := seal.GenerateKey("k1")
	kr, err := seal.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := seal.NewMAC(make([]byte, 32))
	return &transfer.Service{Store: st, Keys: kr, MAC: mac, Router: routes{"Patient": {"ehr", "payments"}}, Deliveries: &delivery.Table{Store: st}}
}

const canary = "Zzqcanaryfamily"

func patientSub(key string, body string) transfer.Submission {
	return transfer.Submission{
		ClientID: "app", IdempotencyKey: key, Body: []byte(body), Kind: transfer.KindResource,
		Entries: []transfer.Entry{{Interaction: connectors.Create, ResourceType: "Patient", Resource: []byte(body)}},
	}
}

func count(t *testing.T, st store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAcceptStatusAndIdempotency(t *testing.T) {
	for dialect, st := range stores(t) {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := context.Background()
			svc := service(t, st)
			body := `{"resourceType":"Patient","name":[{"family":"` + canary + `"}]}`

			acc, err := svc.Accept(ctx, patientSub("key-1", body))
			if err != nil {
				t.Fatal(err)
			}
			if acc.Replayed || acc.Deliveries != 2 || !transfer.ValidID(acc.ID) {
				t.Fatalf("accepted: %+v", acc)
			}
			stt, err := svc.Status(ctx, acc.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(stt.Deliveries) != 2 || stt.State != "in-progress" || stt.Deliveries[0].State != "queued" {
				t.Fatalf("status: %+v", stt)
			}
			// The same key and body: the same transfer, nothing new queued.
			again, err := svc.Accept(ctx, patientSub("key-1", body))
			if err != nil || !again.Replayed || again.ID != acc.ID || again.Deliveries != 2 {
				t.Fatalf("replay: %+v %v", again, err)
			}
			if n := count(t, st, `SELECT COUNT(*) FROM river_job`); n != 2 {
				t.Fatalf("river jobs after replay: %d, want 2", n)
			}
			// The same key with another body is refused.
			if _, err := svc.Accept(ctx, patientSub("key-1", strings.Replace(body, "Zz", "Yy", 1))); !errors.Is(err, transfer.ErrIdempotencyConflict) {
				t.Fatalf("conflict: %v", err)
			}
			// No key: always a new transfer.
			other, err := svc.Accept(ctx, patientSub("", body))
			if err != nil || other.ID == acc.ID {
				t.Fatalf("keyless: %+v %v", other, err)
			}
			// River's table holds envelopes only.
			q := `SELECT CAST(args AS TEXT) FROM river_job`
			if dialect == store.SQLite {
				q = `SELECT json(args) FROM river_job` // riversqlite stores JSONB
			}
			rows, err := st.DB().Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var args string
				if err := rows.Scan(&args); err != nil {
					t.Fatal(err)
				}
				var a delivery.Args
				if err := json.Unmarshal([]byte(args), &a); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(args, canary) || a.Sealed.KID != "k1" || len(a.Sealed.Data) == 0 {
					t.Fatalf("job args must be a sealed envelope: %s", args)
				}
			}
			if _, err := svc.Status(ctx, "tr_000000000000deadbeefdeadbeef"); !errors.Is(err, transfer.ErrNotFound) {
				t.Fatalf("unknown id: %v", err)
			}
		})
	}
}

// failingJobs makes InsertJobs fail after the transfer row was written.
type failingJobs struct{ store.Store }

func (f failingJobs) InTx(ctx context.Context, fn func(context.Context, store.Tx) error) error {
	return f.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return fn(ctx, failTx{tx}) })
}

type failTx struct{ store.Tx }

func (failTx) InsertJobs(context.Context, []river.InsertManyParams) ([]int64, error) {
	return nil, errors.New("injected failure")
}

func TestAcceptIsAtomic(t *testing.T) {
	for dialect, st := range stores(t) {
		t.Run(string(dialect), func(t *testing.T) {
			svc := service(t, failingJobs{st})
			if _, err := svc.Accept(context.Background(), patientSub("k", `{"resourceType":"Patient"}`)); err == nil {
				t.Fatal("want the injected failure")
			}
			if n := count(t, st, `SELECT COUNT(*) FROM switchboard_transfer`); n != 0 {
				t.Fatalf("a transfer row survived a failed enqueue: %d", n)
			}
		})
	}
}

func TestConcurrentSameKeyMakesOneTransfer(t *testing.T) {
	for dialect, st := range stores(t) {
		t.Run(string(dialect), func(t *testing.T) {
			svc := service(t, st)
			const n = 16
			ids := make([]string, n)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					acc, err := svc.Accept(context.Background(), patientSub("same", `{"resourceType":"Patient"}`))
					if err != nil {
						errs <- err
						return
					}
					ids[i] = acc.ID
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, id := range ids {
				if id != ids[0] {
					t.Fatalf("different transfers for one key: %v", ids)
				}
			}
			if c := count(t, st, `SELECT COUNT(*) FROM river_job`); c != 2 {
				t.Fatalf("jobs: %d, want 2", c)
			}
		})
	}
}

// TestConcurrentAcceptsShareCommits drives many accepts at once (on
// PostgreSQL they are grouped into shared transactions): every key gets one
// transfer however often it is sent, replays inside one group included; each
// transfer has its deliveries, each delivery its job, and no job is left
// over from a replay.
func TestConcurrentAcceptsShareCommits(t *testing.T) {
	for dialect, st := range stores(t) {
		t.Run(string(dialect), func(t *testing.T) {
			svc := service(t, st)
			const keys, copies, keyless = 16, 3, 16
			type answer struct {
				key string
				acc transfer.Accepted
				err error
			}
			answers := make(chan answer, keys*copies+keyless)
			var wg sync.WaitGroup
			for i := range keys*copies + keyless {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := ""
					if i < keys*copies {
						key = fmt.Sprintf("key-%d", i%keys)
					}
					body := fmt.Sprintf(`{"resourceType":"Patient","id":"p%d"}`, i%keys)
					acc, err := svc.Accept(context.Background(), patientSub(key, body))
					answers <- answer{key, acc, err}
				}()
			}
			wg.Wait()
			close(answers)
			byKey := map[string][]transfer.Accepted{}
			for a := range answers {
				if a.err != nil {
					t.Fatal(a.err)
				}
				byKey[a.key] = append(byKey[a.key], a.acc)
			}
			for key, accs := range byKey {
				if key == "" {
					continue
				}
				fresh := 0
				for _, a := range accs {
					if a.ID != accs[0].ID || a.Deliveries != 2 {
						t.Fatalf("key %s: %+v", key, accs)
					}
					if !a.Replayed {
						fresh++
					}
				}
				if fresh != 1 {
					t.Fatalf("key %s: %d answers say new, want 1: %+v", key, fresh, accs)
				}
			}
			want := keys + keyless
			if n := count(t, st, `SELECT COUNT(*) FROM switchboard_transfer`); n != want {
				t.Fatalf("transfers: %d, want %d", n, want)
			}
			if n := count(t, st, `SELECT COUNT(*) FROM river_job`); n != 2*want {
				t.Fatalf("jobs: %d, want %d (a replay's jobs must not survive)", n, 2*want)
			}
			if n := count(t, st, `SELECT COUNT(*) FROM switchboard_delivery d JOIN river_job j ON j.id = d.job_id
				JOIN switchboard_transfer t ON t.id = d.transfer_id`); n != 2*want {
				t.Fatalf("deliveries joined to their job and transfer: %d, want %d", n, 2*want)
			}
		})
	}
}

func TestRecordOutcomeCountsTries(t *testing.T) {
	for dialect, st := range stores(t) {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := context.Background()
			svc := service(t, st)
			acc, err := svc.Accept(ctx, patientSub("", `{"resourceType":"Patient"}`))
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				o    delivery.Outcome
				want int
			}{
				{delivery.Outcome{State: delivery.StateRetrying, CountTry: true, HTTPStatus: 503, ErrorClass: connectors.Retryable, ErrorCode: "http_503"}, 1},
				{delivery.Outcome{State: delivery.StateRetrying, CountTry: false, ErrorClass: connectors.BreakerOpen, ErrorCode: "breaker_open"}, 1},
				{delivery.Outcome{State: delivery.StateDelivered, CountTry: true, HTTPStatus: 201}, 2},
			}
			for i, s := range steps {
				s.o.TransferID, s.o.Entry, s.o.Destination = acc.ID, 0, "ehr"
				got, err := svc.Deliveries.RecordOutcome(ctx, s.o)
				if err != nil || got != s.want {
					t.Fatalf("step %d: tries %d (%v), want %d", i, got, err, s.want)
				}
			}
			stt, _ := svc.Status(ctx, acc.ID)
			d := stt.Deliveries[0]
			if d.Destination != "ehr" || d.State != "delivered" || d.Attempts != 2 || d.LastHTTPStatus == nil || *d.LastHTTPStatus != 201 || d.DeliveredAt == nil || d.ErrorClass != "" {
				t.Fatalf("delivery status: %s", fmt.Sprintf("%+v", d))
			}
		})
	}
}

func TestBatchedOutcomesAndSweep(t *testing.T) {
	for dialect, st := range stores(t) {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := context.Background()
			svc := service(t, st)
			a, _ := svc.Accept(ctx, patientSub("", `{"resourceType":"Patient"}`))
			b := svc.Deliveries.StartBatcher(logging.Discard())
			for _, dest := range []string{"ehr", "payments"} {
				if _, err := svc.Deliveries.RecordOutcome(ctx, delivery.Outcome{TransferID: a.ID, Destination: dest, State: delivery.StateDelivered, CountTry: true, HTTPStatus: 201, At: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			b.Close() // flushes
			if s, _ := svc.Status(ctx, a.ID); s.State != "delivered" || s.Deliveries[0].Attempts != 1 {
				t.Fatalf("batched outcome not written: %+v", s)
			}
			// A lost batch: the job completed in River, the row still says queued.
			lost, _ := svc.Accept(ctx, patientSub("", `{"resourceType":"Patient"}`))
			if _, err := st.DB().Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = CURRENT_TIMESTAMP
				WHERE id IN (SELECT job_id FROM switchboard_delivery WHERE transfer_id = $1)`, lost.ID); err != nil {
				t.Fatal(err)
			}
			n, err := svc.Deliveries.Sweep(ctx)
			if err != nil || n != 2 {
				t.Fatalf("sweep repaired %d (%v), want 2", n, err)
			}
			if _, err := st.DB().Exec(ctx, `DELETE FROM river_job`); err != nil { // River's cleaner, later
				t.Fatal(err)
			}
			if s, _ := svc.Status(ctx, lost.ID); s.State != "delivered" {
				t.Fatalf("after the job rows are gone: %+v", s)
			}
		})
	}
}

// TestAcceptSealsProjectedRelatedEntries: each destination's sealed payload
// carries the Bundle entries its resource refers to, through its own
// projection: the full destination gets the Patient whole, the contact
// destination gets the Patient's contact fields, and nothing about an
// entry its projection does not carry.
func TestAcceptSealsProjectedRelatedEntries(t *testing.T) {
	st := stores(t)[store.Postgres]
	tab, err := route.Parse([]byte(`
destinations:
  ehr: {type: fhir}
  marketing: {type: hubspot, projection: contact}
routes:
  - {resource: Patient, to: [ehr, marketing]}
  - {resource: Appointment, to: [ehr]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := service(t, st)
	svc.Router = tab
	pat := `{"resourceType":"Patient","identifier":[{"system":"https://c.example/mrn","value":"M7"}],"birthDate":"1990-01-01","name":[{"family":"` + canary + `"}]}`
	appt := `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"urn:uuid:p"},"status":"accepted"}]}`
	acc, err := svc.Accept(context.Background(), transfer.Submission{ClientID: "app", Kind: transfer.KindTransaction, Body: []byte(pat + appt),
		Entries: []transfer.Entry{
			{Interaction: connectors.Create, ResourceType: "Patient", FullURL: "urn:uuid:p", Resource: []byte(pat)},
			{Interaction: connectors.Create, ResourceType: "Appointment", Resource: []byte(appt)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.DB().Query(context.Background(), `SELECT CAST(args AS TEXT) FROM river_job`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]delivery.Payload{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var a delivery.Args
		_ = json.Unmarshal([]byte(raw), &a)
		pt, err := svc.Keys.Open(a.Sealed, delivery.AAD(a.TransferID, a.Entry, a.Destination))
		if err != nil {
			t.Fatal(err)
		}
		var p delivery.Payload
		_ = json.Unmarshal(pt, &p)
		seen[fmt.Sprintf("%d/%s", a.Entry, a.Destination)] = p
	}
	if len(seen) != 3 || acc.Deliveries != 3 {
		t.Fatalf("deliveries: %v", seen)
	}
	if got := string(seen["1/ehr"].Related["urn:uuid:p"]); got != pat {
		t.Fatalf("the EHR's Appointment must carry the Patient whole: %s", got)
	}
	if m := seen["0/marketing"]; strings.Contains(string(m.Resource), "birthDate") || strings.Contains(string(m.Resource), "M7") ||
		!strings.Contains(string(m.Resource), canary) || m.Related != nil {
		t.Fatalf("marketing payload: %s %v", m.Resource, m.Related)
	}
	// The consent gate still finds the patient by identifier, which the
	// projection removed from what marketing receives.
	if s := seen["0/marketing"].Subject; s == nil || len(s.Identifiers) != 1 || s.Identifiers[0].Value != "M7" {
		t.Fatalf("the marketing payload's subject: %+v", s)
	}
}

// TestIdempotencyKeyStoredInTheLegacyForm: a transfer accepted before the
// canonical comparison remembers its key by the MAC of the body's bytes.
// Such a key still replays the same bytes; the same resource laid out
// otherwise cannot be matched to it (its canonical form was never kept)
// and stays a conflict, as it was when the key was first used.
func TestIdempotencyKeyStoredInTheLegacyForm(t *testing.T) {
	for dialect, st := range stores(t) {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := context.Background()
			svc := service(t, st)
			body := `{"resourceType":"Patient","name":[{"family":"` + canary + `"}]}`
			acc, err := svc.Accept(ctx, patientSub("old-key", body))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.DB().Exec(ctx, `UPDATE switchboard_transfer SET request_hash = $1 WHERE id = $2`,
				svc.MAC.Sum([]byte("request"), []byte(body)), acc.ID); err != nil {
				t.Fatal(err)
			}
			again, err := svc.Accept(ctx, patientSub("old-key", body))
			if err != nil || !again.Replayed || again.ID != acc.ID {
				t.Fatalf("the same bytes under a legacy key: %+v %v", again, err)
			}
			reformatted := `{"name": [{"family": "` + canary + `"}], "resourceType": "Patient"}`
			if _, err := svc.Accept(ctx, patientSub("old-key", reformatted)); !errors.Is(err, transfer.ErrIdempotencyConflict) {
				t.Fatalf("another layout under a legacy key: %v, want a conflict", err)
			}
			if n := count(t, st, `SELECT COUNT(*) FROM river_job`); n != 2 {
				t.Fatalf("river jobs: %d, want 2", n)
			}
		})
	}
}
