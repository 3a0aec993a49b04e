package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

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
		})
	}
}
