package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// A delivery left 'running' by a dead process for longer than the window is
// made available at once; one that used its last attempt is discarded; a
// job inside the window, or of a kind the caller did not name, is left
// alone.
func TestRescueStuck(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			st := testenv.Store(t, d)
			var ids []int64
			err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var params []river.InsertManyParams
				for i := range 4 {
					params = append(params, river.InsertManyParams{Args: delivery.Args{TransferID: fmt.Sprintf("t%d", i), Destination: "ehr"}})
				}
				var err error
				ids, err = tx.InsertJobs(ctx, params)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			// ids[0]: stuck; ids[1]: stuck on its last attempt; ids[2]:
			// running but inside the window; ids[3]: stuck, another kind.
			ago := func(s int) string {
				if d == store.Postgres {
					return fmt.Sprintf("now() - interval '%d seconds'", s)
				}
				return fmt.Sprintf("strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-%d seconds')", s)
			}
			for i, set := range []string{
				"state = 'running', attempt = 1, attempted_at = " + ago(60),
				"state = 'running', attempt = max_attempts, attempted_at = " + ago(60),
				"state = 'running', attempt = 1, attempted_at = " + ago(2),
				"state = 'running', attempt = 1, kind = 'other.kind', attempted_at = " + ago(60),
			} {
				if _, err := st.DB().Exec(ctx, "UPDATE river_job SET "+set+" WHERE id = "+fmt.Sprint(ids[i])); err != nil {
					t.Fatal(err)
				}
			}
			n, err := st.RescueStuck(ctx, 30*time.Second, delivery.Kind)
			if err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Errorf("rescued %d jobs, want 2", n)
			}
			for i, want := range []string{"available", "discarded", "running", "running"} {
				var state string
				if err := st.DB().QueryRow(ctx, "SELECT state FROM river_job WHERE id = "+fmt.Sprint(ids[i])).Scan(&state); err != nil {
					t.Fatal(err)
				}
				if state != want {
					t.Errorf("job %d: state %s, want %s", i, state, want)
				}
			}
			// Nothing left to rescue: a second sweep moves nothing.
			if n, err := st.RescueStuck(ctx, 30*time.Second, delivery.Kind); err != nil || n != 0 {
				t.Errorf("second sweep: %d, %v", n, err)
			}
		})
	}
}
