package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestWakeMakesAWaitingDeliveryDueNow: a delivery waiting behind an
// earlier one about the same patient snoozes for less than River's
// scheduler interval, which River records as 'available' but due later.
// When the earlier one finishes, Wake must make it due now; it used to
// wake only 'scheduled' jobs, so every hand-over waited out the whole
// snooze (up to 2 s) instead.
func TestWakeMakesAWaitingDeliveryDueNow(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			st := testenv.Store(t, d)
			tab := &delivery.Table{Store: st}
			jobs := map[string]int64{}
			for i, id := range []string{"tr_a", "tr_b"} {
				at := int64(1000 * (i + 1))
				err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO switchboard_transfer (id, client_id, request_hash, kind, resource_type, interaction, entry_count, created_at)
						VALUES ($1, 'app', '', 'resource', 'Patient', 'update', 1, $2)`, id, at); err != nil {
						return err
					}
					return delivery.Insert(ctx, tx, id, at, []delivery.New{{Destination: "ehr", ResourceType: "Patient", Interaction: "update",
						SubjectHash: "patient-1", Job: river.InsertManyParams{Args: delivery.Args{TransferID: id, Destination: "ehr"},
							InsertOpts: &river.InsertOpts{Queue: delivery.QueueName("ehr")}}}})
				})
				if err != nil {
					t.Fatal(err)
				}
				var job int64
				if err := st.DB().QueryRow(ctx, `SELECT job_id FROM switchboard_delivery WHERE transfer_id = $1`, id).Scan(&job); err != nil {
					t.Fatal(err)
				}
				jobs[id] = job
			}
			blocked, err := tab.Blocked(ctx, "tr_b", 0, "ehr")
			if err != nil || !blocked {
				t.Fatalf("the later delivery is not held back: %v, %v", blocked, err)
			}
			// What River makes of a snooze shorter than its scheduler interval.
			later := `now() + interval '1 hour'`
			if d == store.SQLite {
				later = `strftime('%Y-%m-%d %H:%M:%f', 'now', '+3600 seconds')`
			}
			if _, err := st.DB().Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = `+later+` WHERE id = $1`, jobs["tr_b"]); err != nil {
				t.Fatal(err)
			}
			if _, err := tab.RecordOutcome(ctx, delivery.Outcome{TransferID: "tr_a", Destination: "ehr", State: delivery.StateDelivered,
				CountTry: true, HTTPStatus: 200, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			j, err := st.Job(ctx, jobs["tr_b"])
			if err != nil || j == nil {
				t.Fatalf("job of the waiting delivery: %v, %v", j, err)
			}
			if j.ScheduledAt.After(time.Now().Add(time.Minute)) {
				t.Fatalf("the waiting delivery is still due at %s after the one it waited for finished", j.ScheduledAt)
			}
		})
	}
}
