package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
	"github.com/switchboard-health/switchboard/hub/validation"
)

func adminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Administer a hub: failed syncs, replay and health through its API; reconcile and drift through its database"}
	cmd.AddCommand(reconcileCmd(), driftCmd())
	cmd.AddCommand(adminRemoteCmds()...)
	return cmd
}

// reconcileCmd queues a poll of one source now. It talks to the database
// the hub uses (the same environment as serve): the workers of any running
// hub pick the job up, and a poll already queued or running is the same run.
func reconcileCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "reconcile SOURCE",
		Short: "Poll a source for changes now (ignores its back-off), optionally waiting for the counts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			source := args[0]
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			table, err := route.Load(cfg.RoutesPath, validation.IsResourceType, os.LookupEnv)
			if err != nil {
				return err
			}
			if d, ok := table.Destinations[source]; !ok || d.Poll == nil {
				return fmt.Errorf("destination %q has no poll: block in %s", source, cfg.RoutesPath)
			}
			return queueJob(cmd, cfg, reconcile.Args{Source: source, Manual: true}, "poll of "+source, wait,
				logRows{event: transferlog.EventPoll, source: source, label: "resource_type",
					keys: []string{"pages", "seen", "routed", "own_writes", "unchanged", "stale", "replayed"}})
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the poll to finish and print its counts")
	return cmd
}

// driftCmd queues a drift repair of one `drift:` rule now, like
// reconcileCmd queues a poll.
func driftCmd() *cobra.Command {
	var wait time.Duration
	var fromFlag, toFlag string
	cmd := &cobra.Command{
		Use:   "drift [SCHEDULING EHR]",
		Short: "Compare appointments between a scheduling tool and the EHR now and repair drift, optionally waiting for the counts",
		Long: "Queues a run of the routing file's drift: rule between SCHEDULING and EHR (optional when there is one rule).\n" +
			"--from and --to (RFC 3339) bound the appointments' start; by default the rule's window around now.",
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			table, err := route.Load(cfg.RoutesPath, validation.IsResourceType, os.LookupEnv)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				return errors.New("name both destinations of the rule, SCHEDULING and EHR, or neither")
			}
			var rule *route.Drift
			for i, d := range table.Drift {
				if len(args) == 0 || len(args) == 2 && d.Scheduling() == args[0] && d.EHR() == args[1] {
					if rule != nil {
						return fmt.Errorf("%s has several drift: rules; name one (SCHEDULING EHR)", cfg.RoutesPath)
					}
					rule = &table.Drift[i]
				}
			}
			if rule == nil {
				return fmt.Errorf("no matching drift: rule in %s", cfg.RoutesPath)
			}
			a := reconcile.DriftArgs{Scheduling: rule.Scheduling(), EHR: rule.EHR(), Manual: true}
			for _, f := range []struct {
				name, v string
				into    *time.Time
			}{{"--from", fromFlag, &a.From}, {"--to", toFlag, &a.To}} {
				if f.v == "" {
					continue
				}
				if *f.into, err = time.Parse(time.RFC3339, f.v); err != nil {
					return fmt.Errorf("%s must be an RFC 3339 time", f.name)
				}
			}
			if !a.From.IsZero() && !a.To.IsZero() && !a.From.Before(a.To) {
				return errors.New("--from must be before --to")
			}
			return queueJob(cmd, cfg, a, "drift repair of "+a.Scheduling+" and "+a.EHR, wait,
				logRows{event: transferlog.EventDrift, source: a.Scheduling, label: "destination",
					keys: []string{"compared", "in_sync", "differed", "repaired_to_ehr", "repaired_to_scheduling",
						"missing_at_ehr", "missing_at_scheduling", "unsynced_at_ehr", "no_route"}})
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the repair to finish and print its counts")
	cmd.Flags().StringVar(&fromFlag, "from", "", "earliest appointment start compared (RFC 3339; default now minus the rule's window)")
	cmd.Flags().StringVar(&toFlag, "to", "", "appointment starts compared are before this (RFC 3339; default now plus the rule's window)")
	return cmd
}

// waitJob waits for a River job to reach a final state.
func waitJob(ctx context.Context, st store.Store, id int64, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		j, err := st.Job(ctx, id)
		if err != nil {
			return "", fmt.Errorf("read job: %w", err)
		}
		if j == nil {
			return "completed", nil // completed jobs may be cleaned already
		}
		switch j.State {
		case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
			return string(j.State), nil
		}
		if time.Now().After(deadline) {
			return "", errors.New("the job did not finish in time (is a hub with workers running?)")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logRows names the transfer-log rows a job writes: its event and source,
// the column that tells its rows apart, and the counts to print.
type logRows struct {
	event, source, label string
	keys                 []string
}

// queueJob inserts one job into the hub's database (the workers of any
// running hub pick it up; a unique job already queued or running is the
// same run), and with wait > 0 waits for it and prints the transfer-log
// rows it wrote.
func queueJob(cmd *cobra.Command, cfg config.Config, args river.JobArgs, what string, wait time.Duration, rows logRows) error {
	ctx := cmd.Context()
	st, err := store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath, MaxConns: 2,
		Logger: logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)})
	if err != nil {
		return err
	}
	defer st.Close()
	started := time.Now()
	var id int64
	err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		ids, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: args}})
		if err == nil && len(ids) > 0 {
			id = ids[0]
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("queue %s: %w", what, err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s queued (job %d)\n", what, id)
	if wait <= 0 {
		return nil
	}
	state, err := waitJob(ctx, st, id, wait)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "job %d %s\n", id, state)
	return printRows(ctx, st, rows, started, out)
}

// printRows prints rows.event's transfer-log rows for rows.source since t:
// the label column, the outcome, then the counts. A job's rows are staged
// when it completes and chained a moment later, so both the chain and the
// intake are read, in one statement (one snapshot: a row being chained is
// seen once).
func printRows(ctx context.Context, st store.Store, r logRows, since time.Time, w io.Writer) error {
	rs, err := st.DB().Query(ctx, `SELECT label, outcome, detail FROM (
			SELECT 0 AS part, seq AS n, `+r.label+` AS label, outcome, detail FROM switchboard_log
				WHERE event = $1 AND source = $2 AND at >= $3
			UNION ALL
			SELECT 1 AS part, id AS n, `+r.label+` AS label, outcome, detail FROM switchboard_log_queue
				WHERE event = $1 AND source = $2 AND at >= $3
		) AS log_rows ORDER BY part, n`, r.event, r.source, since.UnixMicro())
	if err != nil {
		return fmt.Errorf("read transfer log: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var label, outcome, detail sql.NullString
		if err := rs.Scan(&label, &outcome, &detail); err != nil {
			return err
		}
		var d map[string]any
		_ = json.Unmarshal([]byte(detail.String), &d)
		line := fmt.Sprintf("%-12s %-9s", label.String, outcome.String)
		for _, k := range r.keys {
			line += fmt.Sprintf(" %s=%v", k, d[k])
		}
		fmt.Fprintln(w, line)
	}
	return rs.Err()
}
