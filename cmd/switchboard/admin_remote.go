package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/apiclient"
	"github.com/switchboard-health/switchboard/hub/auth"
)

// adminRemoteCmds are the `switchboard admin` commands that call a hub's
// admin API (role admin): failed syncs, replay, discard, pause, health.
func adminRemoteCmds() []*cobra.Command {
	return []*cobra.Command{failuresCmd(), showFailureCmd(), replayCmd(), discardCmd(),
		pauseCmd(true), pauseCmd(false), healthCmd()}
}

// failureFilterFlags select failed syncs, for failures, replay and discard.
type failureFilterFlags struct {
	destination, errorClass, resourceType, since, until string
}

func addFailureFilterFlags(cmd *cobra.Command) *failureFilterFlags {
	f := &failureFilterFlags{}
	cmd.Flags().StringVar(&f.destination, "destination", "", "only failed syncs to this destination")
	cmd.Flags().StringVar(&f.errorClass, "error-class", "", "only failed syncs with this error class")
	cmd.Flags().StringVar(&f.resourceType, "resource-type", "", "only failed syncs of this FHIR resource type")
	cmd.Flags().StringVar(&f.since, "since", "", "only failed syncs that failed at or after this time (RFC 3339, or a duration before now: 24h)")
	cmd.Flags().StringVar(&f.until, "until", "", "only failed syncs that failed before this time (RFC 3339 or a duration before now)")
	return f
}

func (f *failureFilterFlags) set() bool {
	return *f != failureFilterFlags{}
}

func (f *failureFilterFlags) filter(now time.Time) (apiclient.FailureFilter, error) {
	out := apiclient.FailureFilter{Destination: f.destination, ErrorClass: f.errorClass, ResourceType: f.resourceType}
	var err error
	if out.Since, err = parseWhen("since", f.since, now); err != nil {
		return out, err
	}
	if out.Until, err = parseWhen("until", f.until, now); err != nil {
		return out, err
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && !out.Since.Before(out.Until) {
		return out, errors.New("--since must be before --until")
	}
	return out, nil
}

func failuresCmd() *cobra.Command {
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "failures",
		Short: "List failed syncs, newest first",
		Args:  cobra.NoArgs,
	}
	rf := addRemoteFlags(cmd, auth.RoleAdmin, true)
	ff := addFailureFilterFlags(cmd)
	cmd.Flags().IntVar(&limit, "limit", 50, "failed syncs per page (at most 500)")
	cmd.Flags().BoolVar(&all, "all", false, "follow the pages to the last")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		flt, err := ff.filter(time.Now())
		if err != nil {
			return err
		}
		if limit < 1 || limit > 500 {
			return errors.New("--limit must be from 1 to 500")
		}
		items := []apiclient.Failure{}
		cursor := ""
		for {
			page, err := c.Failures(cmd.Context(), flt, cursor, limit)
			if err != nil {
				return fmt.Errorf("list failed syncs: %w", err)
			}
			items, cursor = append(items, page.Items...), page.Next
			if !all || cursor == "" {
				break
			}
		}
		out := cmd.OutOrStdout()
		if rf.json() {
			return writeJSON(out, apiclient.FailurePage{Items: items, Next: cursor})
		}
		t := newTable(out, "ID", "DESTINATION", "TYPE", "INTERACTION", "ERROR", "STATUS", "ATTEMPTS", "FAILED_AT", "PAYLOAD")
		for _, f := range items {
			t.row(f.ID, f.Destination, f.ResourceType, f.Interaction, errorText(f.ErrorClass, f.ErrorCode),
				status(f.HTTPStatus), strconv.Itoa(f.Attempts), formatTime(f.FailedAt), f.Payload)
		}
		if err := t.flush(); err != nil {
			return err
		}
		switch {
		case len(items) == 0:
			fmt.Fprintln(cmd.ErrOrStderr(), "no failed syncs match")
		case cursor != "":
			fmt.Fprintf(cmd.ErrOrStderr(), "first %d shown; pass --all for every page\n", len(items))
		}
		return nil
	}
	return cmd
}

// errorText is an error class with its code: "validation/invalid_email".
func errorText(class, code string) string {
	if code == "" {
		return class
	}
	return class + "/" + code
}

func status(s int) string {
	if s == 0 {
		return ""
	}
	return strconv.Itoa(s)
}

func showFailureCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one failed sync and its history (attempts, replays, admin actions)",
		Args:  cobra.ExactArgs(1),
	}
	rf := addRemoteFlags(cmd, auth.RoleAdmin, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		d, err := c.Failure(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("show failed sync: %w", err)
		}
		if rf.json() {
			return writeJSON(cmd.OutOrStdout(), d)
		}
		return printFailure(cmd.OutOrStdout(), d)
	}
	return cmd
}

func printFailure(w io.Writer, d *apiclient.FailureDetail) error {
	payload := "purged: it cannot be replayed; the source must send it again"
	if d.Payload == "kept" {
		payload = "kept"
		if d.PurgeAfter != nil {
			payload += ", purged after " + formatTime(*d.PurgeAfter)
		}
	}
	errText := errorText(d.ErrorClass, d.ErrorCode)
	if d.HTTPStatus != 0 {
		errText += " (HTTP " + strconv.Itoa(d.HTTPStatus) + ")"
	}
	kv := newTable(w, "ID", d.ID)
	for _, r := range [][2]string{
		{"TRANSFER", d.TransferID}, {"ENTRY", strconv.Itoa(d.Entry)}, {"DESTINATION", d.Destination},
		{"RESOURCE", d.ResourceType + " " + d.Interaction}, {"STATE", d.State}, {"ERROR", errText},
		{"ATTEMPTS", fmt.Sprintf("%d (replays %d)", d.Attempts, d.Replays)},
		{"CREATED_AT", formatTime(d.CreatedAt)}, {"FAILED_AT", formatTime(d.FailedAt)}, {"PAYLOAD", payload},
	} {
		kv.row(r[0], r[1])
	}
	if err := kv.flush(); err != nil {
		return err
	}
	if d.LaterDelivered {
		fmt.Fprintf(w, "\nnote: a later delivery about the same patient to %s succeeded; replaying this one would write older data over newer\n", d.Destination)
	}
	fmt.Fprintln(w)
	t := newTable(w, "AT", "EVENT", "ATTEMPT", "OUTCOME", "STATUS", "ERROR", "LATENCY_MS", "ACTOR")
	for _, e := range d.History {
		attempt, latency := "", ""
		if e.Attempt != 0 {
			attempt = strconv.Itoa(e.Attempt)
		}
		if e.LatencyMS != 0 {
			latency = strconv.FormatInt(e.LatencyMS, 10)
		}
		t.row(formatTime(e.At), e.Event, attempt, e.Outcome, status(e.HTTPStatus), errorText(e.ErrorClass, e.Code), latency, e.Actor)
	}
	return t.flush()
}

// bulkAction is what differs between replay and discard.
type bulkAction struct {
	verb, past string // "replay", "replayed"
	many       func(ctx context.Context, c *apiclient.Client, b apiclient.BulkRequest) (*apiclient.BulkResult, error)
	// one acts on a single id through its own endpoint, whose errors
	// (404, 409 not failed, 410 purged) say more than a bulk count.
	one func(cmd *cobra.Command, c *apiclient.Client, id string, rf *remoteFlags) error
	// preview is the dry run of one id, nil when there is none to show.
	preview func(cmd *cobra.Command, c *apiclient.Client, id string, rf *remoteFlags) error
	done    func(*apiclient.BulkResult) int
}

func replayCmd() *cobra.Command {
	return bulkCmd(bulkAction{
		verb: "replay", past: "replayed",
		many: func(ctx context.Context, c *apiclient.Client, b apiclient.BulkRequest) (*apiclient.BulkResult, error) {
			return c.ReplayMany(ctx, b)
		},
		one: func(cmd *cobra.Command, c *apiclient.Client, id string, rf *remoteFlags) error {
			r, err := c.Replay(cmd.Context(), id, false)
			if err != nil {
				return fmt.Errorf("replay %s: %w", id, err)
			}
			if rf.json() {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %s (idempotency key generation %d)\n", id, r.KeyGeneration)
			return nil
		},
		preview: func(cmd *cobra.Command, c *apiclient.Client, id string, rf *remoteFlags) error {
			p, err := c.Replay(cmd.Context(), id, true)
			if err != nil {
				return fmt.Errorf("preview the replay of %s: %w", id, err)
			}
			if rf.json() {
				return writeJSON(cmd.OutOrStdout(), p)
			}
			return printPreview(cmd.OutOrStdout(), p)
		},
		done: func(r *apiclient.BulkResult) int { return r.Replayed },
	})
}

func discardCmd() *cobra.Command {
	return bulkCmd(bulkAction{
		verb: "discard", past: "discarded",
		many: func(ctx context.Context, c *apiclient.Client, b apiclient.BulkRequest) (*apiclient.BulkResult, error) {
			return c.DiscardMany(ctx, b)
		},
		one: func(cmd *cobra.Command, c *apiclient.Client, id string, rf *remoteFlags) error {
			if err := c.Discard(cmd.Context(), id); err != nil {
				return fmt.Errorf("discard %s: %w", id, err)
			}
			if rf.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]int{"discarded": 1})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "discarded %s\n", id)
			return nil
		},
		done: func(r *apiclient.BulkResult) int { return r.Discarded },
	})
}

// bulkCmd builds `admin replay` or `admin discard`: failed syncs by id, or
// every one a filter matches after a dry run and a confirmation.
func bulkCmd(a bulkAction) *cobra.Command {
	var dryRun, yes bool
	title := strings.ToUpper(a.verb[:1]) + a.verb[1:]
	cmd := &cobra.Command{
		Use:   a.verb + " ID... | --destination D [filter flags]",
		Short: title + " failed syncs by id, or every one a filter matches",
		Long: title + " the failed syncs named by ID, or every failed sync the filter flags match.\n" +
			"By filter, a dry run counts the matches first and you are asked to confirm (--yes skips the question).\n" +
			"--dry-run only counts" + map[bool]string{true: "; for one ID it shows which fields a replay would change.", false: "."}[a.preview != nil],
	}
	rf := addRemoteFlags(cmd, auth.RoleAdmin, true)
	ff := addFailureFilterFlags(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be "+a.past+", change nothing")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.RunE = func(cmd *cobra.Command, ids []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		switch {
		case len(ids) > 0 && ff.set():
			return errors.New("name failure IDs or give filter flags, not both")
		case len(ids) == 0 && !ff.set():
			return fmt.Errorf("name failure IDs, or select failed syncs to %s with --destination, --error-class, --resource-type, --since or --until", a.verb)
		}
		many := func(cmd *cobra.Command, b apiclient.BulkRequest) (*apiclient.BulkResult, error) {
			return a.many(cmd.Context(), c, b)
		}
		out := cmd.OutOrStdout()
		report := func(r *apiclient.BulkResult) error {
			if rf.json() {
				return writeJSON(out, r)
			}
			printBulk(out, a, r)
			return nil
		}
		if len(ids) > 0 {
			switch {
			case dryRun && len(ids) == 1 && a.preview != nil:
				return a.preview(cmd, c, ids[0], rf)
			case dryRun:
				r, err := many(cmd, apiclient.BulkRequest{IDs: ids, DryRun: true})
				if err != nil {
					return fmt.Errorf("%s (dry run): %w", a.verb, err)
				}
				return report(r)
			case len(ids) == 1:
				return a.one(cmd, c, ids[0], rf)
			}
			r, err := many(cmd, apiclient.BulkRequest{IDs: ids})
			if err != nil {
				return fmt.Errorf("%s: %w", a.verb, err)
			}
			if r.Matched < len(ids) {
				// The hub skips ids that are not failed syncs (unknown, or
				// replayed or discarded already) rather than failing them all.
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of the %d IDs are not failed syncs (unknown, or replayed or discarded already)\n",
					len(ids)-r.Matched, len(ids))
			}
			return report(r)
		}

		flt, err := ff.filter(time.Now())
		if err != nil {
			return err
		}
		dry, err := many(cmd, apiclient.BulkRequest{Filter: &flt, DryRun: true})
		if err != nil {
			return fmt.Errorf("%s (dry run): %w", a.verb, err)
		}
		if dryRun || dry.Matched == 0 {
			return report(dry)
		}
		if !rf.json() {
			printBulk(out, a, dry)
		}
		if dry.Matched == dry.Gone {
			return report(dry) // nothing left that the action could change
		}
		if !yes {
			err := confirm(cmd, fmt.Sprintf("%s %s?", title, plural(dry.Matched, "failed sync", "failed syncs")))
			if errors.Is(err, errDeclined) {
				fmt.Fprintf(cmd.ErrOrStderr(), "nothing %s\n", a.past)
				return nil
			}
		}
		r, err := many(cmd, apiclient.BulkRequest{Filter: &flt})
		if err != nil {
			return fmt.Errorf("%s: %w", a.verb, err)
		}
		return report(r)
	}
	return cmd
}

// printBulk says what a bulk action did or, dry, would do.
func printBulk(w io.Writer, a bulkAction, r *apiclient.BulkResult) {
	switch {
	case r.DryRun && r.Matched == 0:
		fmt.Fprintln(w, "no failed syncs match")
		return
	case r.DryRun:
		fmt.Fprintf(w, "%s match\n", plural(r.Matched, "failed sync", "failed syncs"))
	default:
		fmt.Fprintf(w, "%s %d of %s\n", a.past, a.done(r), plural(r.Matched, "failed sync", "failed syncs"))
	}
	if r.Gone > 0 {
		fmt.Fprintf(w, "%s purged after the replay window: the source must send %s again\n",
			plural(r.Gone, "payload was", "payloads were"), map[bool]string{true: "it", false: "them"}[r.Gone == 1])
	}
	if r.Skipped > 0 {
		fmt.Fprintf(w, "%s skipped: no longer failed (replayed or discarded meanwhile)\n", plural(r.Skipped, "was", "were"))
	}
}

// printPreview shows a replay's dry run: the operation and each field's
// status, never a value.
func printPreview(w io.Writer, p *apiclient.ReplayResult) error {
	compared := map[string]string{
		"destination": "compared with the record at the destination now",
		"none":        "a create: nothing to compare with",
		"unavailable": "the destination's record could not be read: statuses unknown",
	}[p.Compared]
	fmt.Fprintf(w, "dry run: would %s at %s", p.Operation, p.Destination)
	if compared != "" {
		fmt.Fprintf(w, " (%s)", compared)
	}
	fmt.Fprintln(w)
	if p.LaterDelivered {
		fmt.Fprintf(w, "note: a later delivery about the same patient to %s succeeded; replaying this one would write older data over newer\n", p.Destination)
	}
	t := newTable(w, "NAME", "STATUS")
	for _, f := range p.Fields {
		t.row(f.Name, f.Status)
	}
	return t.flush()
}

func pauseCmd(pause bool) *cobra.Command {
	verb, short := "resume", "Resume deliveries to a paused destination"
	if pause {
		verb, short = "pause", "Pause deliveries to a destination (they wait in the queue until resume)"
	}
	cmd := &cobra.Command{Use: verb + " DESTINATION", Short: short, Args: cobra.ExactArgs(1)}
	rf := addRemoteFlags(cmd, auth.RoleAdmin, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		do := c.Resume
		if pause {
			do = c.Pause
		}
		s, err := do(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("%s %s: %w", verb, args[0], err)
		}
		if rf.json() {
			return writeJSON(cmd.OutOrStdout(), s)
		}
		state := "resumed: deliveries flow"
		if s.Paused {
			state = "paused: deliveries wait in the queue"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", s.Destination, state)
		return nil
	}
	return cmd
}

func healthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Show each destination's circuit breaker, pause switch and recent counts",
		Args:  cobra.NoArgs,
	}
	rf := addRemoteFlags(cmd, auth.RoleAdmin, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		h, err := c.Health(cmd.Context())
		if err != nil {
			return fmt.Errorf("read health: %w", err)
		}
		out := cmd.OutOrStdout()
		if rf.json() {
			return writeJSON(out, h)
		}
		t := newTable(out, "DESTINATION", "TYPE", "BREAKER", "PAUSED", "SUCCESS", "DELIVERED", "FAILED", "RETRYING", "QUEUE", "LAST_ERROR")
		for _, d := range h.Destinations {
			success := ""
			if d.SuccessRate != nil {
				success = strconv.FormatFloat(*d.SuccessRate*100, 'f', 1, 64) + "%"
			}
			lastErr := d.LastErrorClass
			if d.LastErrorAt != "" {
				lastErr = strings.TrimSpace(lastErr + " at " + d.LastErrorAt)
			}
			t.row(d.Name, d.Type, d.Breaker, map[bool]string{true: "yes", false: "no"}[d.Paused], success,
				strconv.Itoa(d.Delivered), strconv.Itoa(d.Failed), strconv.Itoa(d.Retrying), strconv.Itoa(d.QueueDepth), lastErr)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if h.Window != "" {
			fmt.Fprintf(out, "counts over the last %s\n", h.Window)
		}
		return nil
	}
	return cmd
}
