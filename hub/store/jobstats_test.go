package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// Jobs read through River come back with their args as JSON on both
// dialects (SQLite keeps them as binary JSONB), DeleteJobs reports what it
// deleted and never a running job, and QueueCounts counts what is left by
// queue and state.
func TestJobsThroughRiver(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			st := testenv.Store(t, d)
			var ids []int64
			err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var params []river.InsertManyParams
				for i := range 3 {
					params = append(params, river.InsertManyParams{Args: delivery.Args{TransferID: fmt.Sprintf("t%d", i), Entry: i, Destination: "ehr"},
						InsertOpts: &river.InsertOpts{Queue: delivery.QueueName("ehr")}})
				}
				var err error
				ids, err = tx.InsertJobs(ctx, params)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.DB().Exec(ctx, "UPDATE river_job SET state = 'running' WHERE id = $1", ids[2]); err != nil {
				t.Fatal(err)
			}
			j, err := st.Job(ctx, ids[1])
			if err != nil || j == nil {
				t.Fatalf("job %d: %v, %v", ids[1], j, err)
			}
			var a delivery.Args
			if err := json.Unmarshal(j.EncodedArgs, &a); err != nil || a.TransferID != "t1" || a.Entry != 1 {
				t.Fatalf("args of job %d: %+v (%v)", ids[1], a, err)
			}
			counts, err := store.QueueCounts(ctx, st.DB(), rivertype.JobStateAvailable, rivertype.JobStateRunning)
			if err != nil {
				t.Fatal(err)
			}
			got := map[rivertype.JobState]int{}
			for _, c := range counts {
				if c.Queue == delivery.QueueName("ehr") {
					got[c.State] = c.Jobs
				}
			}
			if got[rivertype.JobStateAvailable] != 2 || got[rivertype.JobStateRunning] != 1 {
				t.Fatalf("counts %v, want 2 available and 1 running", got)
			}
			var deleted map[int64]bool
			err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var err error
				deleted, err = tx.DeleteJobs(ctx, ids)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !deleted[ids[0]] || !deleted[ids[1]] || deleted[ids[2]] {
				t.Fatalf("deleted %v of %v, want the first two (the third is running)", deleted, ids)
			}
			if j, err := st.Job(ctx, ids[0]); err != nil || j != nil {
				t.Fatalf("a deleted job reads as %v (%v), want none", j, err)
			}

			// A job the hub scheduled itself (a snooze, a retry) carries
			// the time as River's driver wrote it; its age is read all the
			// same (on SQLite it was NULL, and health answered 500).
			var late []int64
			err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var err error
				late, err = tx.InsertJobs(ctx, []river.InsertManyParams{{Args: delivery.Args{TransferID: "old", Destination: "late"},
					InsertOpts: &river.InsertOpts{Queue: delivery.QueueName("late"), ScheduledAt: time.Now().Add(-90 * time.Second)}}})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			// River's scheduler makes it available, keeping its time.
			if _, err := st.DB().Exec(ctx, "UPDATE river_job SET state = 'available' WHERE id = $1", late[0]); err != nil {
				t.Fatal(err)
			}
			counts, err = store.QueueCounts(ctx, st.DB(), rivertype.JobStateAvailable)
			if err != nil {
				t.Fatal(err)
			}
			age := oldest(counts, delivery.QueueName("late"))
			if age < 80*time.Second || age > 10*time.Minute {
				t.Fatalf("the oldest available job of the late queue has waited %v, want about 90s", age)
			}
			if d == store.SQLite {
				// A time written by Go's database/sql driver as text
				// (time.Time.String, its default for a time argument).
				at := time.Now().UTC().Add(-2 * time.Minute).String()
				if _, err := st.DB().Exec(ctx, "UPDATE river_job SET scheduled_at = $1 WHERE id = $2", at, late[0]); err != nil {
					t.Fatal(err)
				}
				if counts, err = store.QueueCounts(ctx, st.DB(), rivertype.JobStateAvailable); err != nil {
					t.Fatal(err)
				}
				if age := oldest(counts, delivery.QueueName("late")); age < 110*time.Second || age > 10*time.Minute {
					t.Fatalf("a time stored as %q: the oldest job has waited %v, want about 2m", at, age)
				}
			}
		})
	}
}

// oldest is how long the oldest available job of queue has waited.
func oldest(counts []store.QueueCount, queue string) time.Duration {
	for _, c := range counts {
		if c.Queue == queue && c.State == rivertype.JobStateAvailable {
			return c.OldestAvailable
		}
	}
	return 0
}
