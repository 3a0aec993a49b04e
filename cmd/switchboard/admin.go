package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/riverqueue/river"
	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
	"github.com/switchboard-health/switchboard/hub/validation"
)

func adminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Administer a hub through its database"}
	cmd.AddCommand(reconcileCmd(), driftCmd())
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
				ids, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: reconcile.Args{Source: source, Manual: true}}})
				if err == nil && len(ids) > 0 {
					id = ids[0]
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("queue poll: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "poll of %s queued (job %d)\n", source, id)
			if wait <= 0 {
				return nil
			}
			state, err := waitJob(ctx, st, id, wait)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "job %d %s\n", id, state)
			return printPolls(ctx, st, source, started, out)
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
				ids, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: a}})
				if err == nil && len(ids) > 0 {
					id = ids[0]
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("queue drift repair: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "drift repair of %s and %s queued (job %d)\n", a.Scheduling, a.EHR, id)
			if wait <= 0 {
				return nil
			}
			state, err := waitJob(ctx, st, id, wait)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "job %d %s\n", id, state)
			return printDrift(ctx, st, a.Scheduling, started, out)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the repair to finish and print its counts")
	cmd.Flags().StringVar(&fromFlag, "from", "", "earliest appointment start compared (RFC 3339; default now minus the rule's window)")
	cmd.Flags().StringVar(&toFlag, "to", "", "appointment starts compared are before this (RFC 3339; default now plus the rule's window)")
	return cmd
}

// printDrift prints the transfer log's drift rows for a scheduling tool
// since t.
func printDrift(ctx context.Context, st store.Store, scheduling string, since time.Time, w interface{ Write([]byte) (int, error) }) error {
	rows, err := st.DB().Query(ctx, `SELECT destination, outcome, detail FROM switchboard_log
		WHERE event = $1 AND source = $2 AND at >= $3 ORDER BY seq`, transferlog.EventDrift, scheduling, since.UnixMicro())
	if err != nil {
		return fmt.Errorf("read transfer log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var dest, outcome, detail sql.NullString
		if err := rows.Scan(&dest, &outcome, &detail); err != nil {
			return err
		}
		var d map[string]any
		_ = json.Unmarshal([]byte(detail.String), &d)
		fmt.Fprintf(w, "%-12s %-9s compared=%v in_sync=%v differed=%v repaired_to_ehr=%v repaired_to_scheduling=%v "+
			"missing_at_ehr=%v missing_at_scheduling=%v unsynced_at_ehr=%v no_route=%v\n",
			dest.String, outcome.String, d["compared"], d["in_sync"], d["differed"], d["repaired_to_ehr"], d["repaired_to_scheduling"],
			d["missing_at_ehr"], d["missing_at_scheduling"], d["unsynced_at_ehr"], d["no_route"])
	}
	return rows.Err()
}

// waitJob waits for a River job to reach a final state.
func waitJob(ctx context.Context, st store.Store, id int64, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		var state string
		if err := st.DB().QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&state); err != nil {
			if store.IsNoRows(err) {
				return "completed", nil // completed jobs may be cleaned already
			}
			return "", fmt.Errorf("read job: %w", err)
		}
		switch state {
		case "completed", "cancelled", "discarded":
			return state, nil
		}
		if time.Now().After(deadline) {
			return "", errors.New("the poll did not finish in time (is a hub with workers running?)")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// printPolls prints the transfer log's poll rows for source since t.
func printPolls(ctx context.Context, st store.Store, source string, since time.Time, w interface{ Write([]byte) (int, error) }) error {
	rows, err := st.DB().Query(ctx, `SELECT resource_type, outcome, detail FROM switchboard_log
		WHERE event = 'poll' AND source = $1 AND at >= $2 ORDER BY seq`, source, since.UnixMicro())
	if err != nil {
		return fmt.Errorf("read transfer log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ, outcome, detail sql.NullString
		if err := rows.Scan(&typ, &outcome, &detail); err != nil {
			return err
		}
		var d map[string]any
		_ = json.Unmarshal([]byte(detail.String), &d)
		fmt.Fprintf(w, "%-12s %-9s pages=%v seen=%v routed=%v own_writes=%v unchanged=%v stale=%v replayed=%v\n",
			typ.String, outcome.String, d["pages"], d["seen"], d["routed"], d["own_writes"], d["unchanged"], d["stale"], d["replayed"])
	}
	return rows.Err()
}
