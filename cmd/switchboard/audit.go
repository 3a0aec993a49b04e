package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/apiclient"
	"github.com/switchboard-health/switchboard/hub/auth"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read a hub's transfer log through its audit API (role auditor)",
		Long: "Every command here calls the hub's /audit API with an auditor token (--token, SWITCHBOARD_TOKEN or\n" +
			"SWITCHBOARD_AUDITOR_TOKEN, which var/dev.env sets on a make-run hub),\n" +
			"and every read is itself logged by the hub as an audit_read row.",
	}
	cmd.AddCommand(exportCmd(), verifyCmd(), tailCmd(), digestCmd())
	return cmd
}

// logFilterFlags select transfer-log rows, for export and tail.
type logFilterFlags struct {
	from, to, connector, destination, source, resourceType, outcome, event, actor, subject, transfer string
}

func addLogFilterFlags(cmd *cobra.Command) *logFilterFlags {
	f := &logFilterFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "", "rows at or after this time (RFC 3339, or a duration before now: 24h)")
	fl.StringVar(&f.to, "to", "", "rows before this time (RFC 3339 or a duration before now)")
	fl.StringVar(&f.connector, "connector", "", "rows whose source or destination is this connector")
	fl.StringVar(&f.destination, "destination", "", "rows to this destination")
	fl.StringVar(&f.source, "source", "", "rows from this source")
	fl.StringVar(&f.resourceType, "resource-type", "", "rows about this FHIR resource type")
	fl.StringVar(&f.outcome, "outcome", "", "rows with this outcome (delivered, retrying, failed, skipped, ...)")
	fl.StringVar(&f.event, "event", "", "rows of this event (accepted, delivery_attempt, replay, audit_read, ...)")
	fl.StringVar(&f.actor, "actor", "", "rows by this actor (an API client id or oidc:<sub>)")
	fl.StringVar(&f.subject, "subject", "", "rows about this subject, such as Patient/123 (the hub matches its keyed hash; the log holds no identifiers)")
	fl.StringVar(&f.transfer, "transfer", "", "rows of this transfer id")
	return f
}

func (f *logFilterFlags) filter(now time.Time) (apiclient.LogFilter, error) {
	out := apiclient.LogFilter{Connector: f.connector, Destination: f.destination, Source: f.source,
		ResourceType: f.resourceType, Outcome: f.outcome, Event: f.event, Actor: f.actor, Subject: f.subject,
		TransferID: f.transfer}
	var err error
	if out.From, err = parseWhen("from", f.from, now); err != nil {
		return out, err
	}
	if out.To, err = parseWhen("to", f.to, now); err != nil {
		return out, err
	}
	if !out.From.IsZero() && !out.To.IsZero() && !out.From.Before(out.To) {
		return out, errors.New("--from must be before --to")
	}
	return out, nil
}

func exportCmd() *cobra.Command {
	var format, outPath string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Download matching transfer-log rows as NDJSON or CSV (streamed, any size)",
		Args:  cobra.NoArgs,
	}
	rf := addRemoteFlags(cmd, auth.RoleAuditor, false)
	lf := addLogFilterFlags(cmd)
	cmd.Flags().StringVar(&format, "format", "ndjson", "ndjson (one JSON row a line) or csv")
	cmd.Flags().StringVar(&outPath, "out", "", "write to this file (complete or not at all) instead of stdout")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		if format != "ndjson" && format != "csv" {
			return errors.New("--format must be ndjson or csv")
		}
		flt, err := lf.filter(time.Now())
		if err != nil {
			return err
		}
		if outPath == "" {
			_, err := c.Export(cmd.Context(), flt, format, cmd.OutOrStdout())
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return nil
		}
		var n int64
		err = writeFileAtomic(outPath, func(w io.Writer) error {
			var err error
			n, err = c.Export(cmd.Context(), flt, format, w)
			return err
		})
		if err != nil {
			return fmt.Errorf("export to %s: %w", outPath, err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d bytes to %s\n", n, outPath)
		return nil
	}
	return cmd
}

// writeFileAtomic writes path through a temporary file in its folder,
// renamed into place only when write succeeds: an interrupted export or
// checkpoint never leaves a file that looks complete.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// errBroken makes main exit non-zero when the chain does not hold.
var errBroken = errors.New("the transfer log does not verify")

func verifyCmd() *cobra.Command {
	var cpPath string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the transfer log's hash chain on the hub, and that no row was removed since the last check",
		Long: "Asks the hub to walk the hash chain from the first row. With --checkpoint FILE, the chain must also\n" +
			"still hold the row FILE names (so rows removed or rewritten since the last verify are caught), and\n" +
			"on success FILE is updated to the new head. Keep FILE somewhere the hub's operators cannot write.\n" +
			"Exits 1 when the chain is broken.",
		Args: cobra.NoArgs,
	}
	rf := addRemoteFlags(cmd, auth.RoleAuditor, true)
	cmd.Flags().StringVar(&cpPath, "checkpoint", "", `file holding {"seq","hash"} of a head seen before (created when missing)`)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		var cp *apiclient.Checkpoint
		if cpPath != "" {
			if cp, err = readCheckpoint(cpPath); err != nil {
				return err
			}
		}
		rep, err := c.Verify(cmd.Context(), cp)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		out := cmd.OutOrStdout()
		if rf.json() {
			if err := writeJSON(out, rep); err != nil {
				return err
			}
		} else {
			printVerify(out, rep, cp)
		}
		if !rep.OK {
			return errBroken
		}
		if cpPath != "" && rep.Head.Seq > 0 {
			err := writeFileAtomic(cpPath, func(w io.Writer) error { return json.NewEncoder(w).Encode(rep.Head) })
			if err != nil {
				return fmt.Errorf("write the checkpoint %s: %w", cpPath, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "checkpoint %s: head seq %d\n", cpPath, rep.Head.Seq)
		}
		return nil
	}
	return cmd
}

// readCheckpoint reads a checkpoint file; a missing file is no checkpoint
// (the first verify creates it).
func readCheckpoint(path string) (*apiclient.Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the checkpoint: %w", err)
	}
	var cp apiclient.Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil || cp.Seq < 1 || cp.Hash == "" {
		return nil, fmt.Errorf(`the checkpoint %s is not {"seq": N, "hash": "..."} of a row`, path)
	}
	return &cp, nil
}

func printVerify(w io.Writer, rep *apiclient.VerifyReport, cp *apiclient.Checkpoint) {
	if !rep.OK {
		if rep.Break == nil {
			fmt.Fprintln(w, "BROKEN: the hub gave no reason")
			return
		}
		fmt.Fprintf(w, "BROKEN at row %d: %s\n", rep.Break.Seq, rep.Break.Reason)
		return
	}
	fmt.Fprintf(w, "ok: %d rows verified, head seq %d\n", rep.Rows, rep.Head.Seq)
	if cp != nil {
		fmt.Fprintf(w, "checkpoint row %d holds: nothing up to it was removed or rewritten\n", cp.Seq)
	}
	if rep.Pending > 0 {
		fmt.Fprintf(w, "%d rows staged, not chained yet (checked by a later verify)\n", rep.Pending)
	}
}

// tailRows is how many rows tail prints before following.
const tailRows = 20

func tailCmd() *cobra.Command {
	var follow, ownReads bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "tail",
		Short: fmt.Sprintf("Print the last %d matching transfer-log rows, and with --follow new ones as they arrive", tailRows),
		Long: fmt.Sprintf("Prints the last %d rows the filters match, oldest first; with --follow, polls for new rows until interrupted.\n", tailRows) +
			"Every read of the audit API appends an audit_read row, so a tail's own polling would print a row each interval;\n" +
			"those rows (audit_read of /audit/log by the same caller) are hidden unless --own-reads.",
		Args: cobra.NoArgs,
	}
	rf := addRemoteFlags(cmd, auth.RoleAuditor, true)
	lf := addLogFilterFlags(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep polling for new rows until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often --follow polls")
	cmd.Flags().BoolVar(&ownReads, "own-reads", false, "also print the audit_read rows of this caller's log reads")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		if interval < 100*time.Millisecond && follow {
			return errors.New("--interval must be at least 100ms")
		}
		flt, err := lf.filter(time.Now())
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		keep := func(apiclient.Row) bool { return true }
		if !ownReads {
			// Without whoami (an older hub) nothing is hidden.
			if me, err := c.Whoami(ctx); err == nil && me.ID != "" {
				keep = func(r apiclient.Row) bool {
					return r.Event != "audit_read" || r.Actor != me.ID || r.Detail["route"] != "log"
				}
			}
		}
		p := newRowPrinter(cmd.OutOrStdout(), rf.json())
		rows, last, err := lastRows(ctx, c, flt, tailRows, keep)
		if err != nil {
			return fmt.Errorf("tail: %w", err)
		}
		for _, r := range rows {
			if err := p.print(r); err != nil {
				return err
			}
		}
		if len(rows) == 0 && !rf.json() {
			fmt.Fprintln(cmd.ErrOrStderr(), "no rows match (yet)")
		}
		if !follow {
			return nil
		}
		return followLog(ctx, c, flt, last, interval, keep, p, cmd.ErrOrStderr())
	}
	return cmd
}

// tailProbe is the page size of the search for the log's end: large
// enough that the last page found holds tailRows rows besides the probes'
// own audit_read rows.
const tailProbe = 200

// lastRows returns the last n rows f matches that keep accepts, and the
// greatest seq read. The API pages forward only, so rather than reading
// the whole log it searches the seq space for a point with at most
// tailProbe rows after it: doubling, then halving, O(log seq) requests.
func lastRows(ctx context.Context, c *apiclient.Client, f apiclient.LogFilter, n int, keep func(apiclient.Row) bool) ([]apiclient.Row, int64, error) {
	get := func(after int64, limit int) (*apiclient.LogPage, error) {
		g := f
		g.After = after
		return c.Log(ctx, g, "", limit)
	}
	// lo has more than tailProbe rows after it (or is 0); hi, once found
	// (>= 0), fewer than tailProbe/2.
	lo, hi, x := int64(0), int64(-1), int64(0)
	for {
		p, err := get(x, tailProbe)
		if err != nil {
			return nil, 0, err
		}
		full := p.Next != ""
		if !full && (x == 0 || len(p.Items) >= tailProbe/2) {
			return lastKept(nil, p.Items, n, keep), lastSeq(p.Items, x), nil
		}
		if full {
			lo = x
			if hi < 0 {
				x = max(2*x, p.Items[len(p.Items)-1].Seq)
				continue
			}
		} else {
			hi = x
		}
		if hi-lo <= 1 {
			break
		}
		x = lo + (hi-lo)/2
	}
	// Rows were appended while searching; the end is a few pages past lo.
	var out []apiclient.Row
	after := lo
	for {
		p, err := get(after, 1000)
		if err != nil {
			return nil, 0, err
		}
		out, after = lastKept(out, p.Items, n, keep), lastSeq(p.Items, after)
		if p.Next == "" {
			return out, after, nil
		}
	}
}

// lastKept appends the rows keep accepts to out and keeps the last n.
func lastKept(out, rows []apiclient.Row, n int, keep func(apiclient.Row) bool) []apiclient.Row {
	for _, r := range rows {
		if keep(r) {
			out = append(out, r)
		}
	}
	if len(out) > n {
		out = append(out[:0:0], out[len(out)-n:]...)
	}
	return out
}

func lastSeq(rows []apiclient.Row, or int64) int64 {
	if len(rows) == 0 {
		return or
	}
	return rows[len(rows)-1].Seq
}

// followLog polls for rows after seq last every interval until ctx ends
// (Ctrl-C, which is a normal end: nil). Errors the hub may recover from
// (5xx, network) are reported and retried; a 4xx is final.
func followLog(ctx context.Context, c *apiclient.Client, f apiclient.LogFilter, last int64, interval time.Duration,
	keep func(apiclient.Row) bool, p *rowPrinter, stderr io.Writer) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for {
			g := f
			g.After = last
			page, err := c.Log(ctx, g, "", 1000)
			if ctx.Err() != nil {
				return nil
			}
			var apiErr *apiclient.APIError
			if errors.As(err, &apiErr) && apiErr.Status < 500 {
				return fmt.Errorf("tail: %w", err)
			}
			if err != nil {
				fmt.Fprintf(stderr, "tail: %v (retrying)\n", err)
				break
			}
			for _, r := range page.Items {
				if keep(r) {
					if err := p.print(r); err != nil {
						return err
					}
				}
			}
			last = lastSeq(page.Items, last)
			if page.Next == "" {
				break
			}
		}
	}
}

// rowPrinter prints rows one at a time, as they arrive: NDJSON, or fixed
// columns (a tabwriter would wait for the end to align them).
type rowPrinter struct {
	w      io.Writer
	json   bool
	header bool
}

func newRowPrinter(w io.Writer, asJSON bool) *rowPrinter { return &rowPrinter{w: w, json: asJSON} }

const rowFormat = "%-8s %-24s %-17s %-10s %-14s %-14s %-15s %-6s %-16s %-20s %s\n"

func (p *rowPrinter) print(r apiclient.Row) error {
	if p.json {
		return json.NewEncoder(p.w).Encode(r)
	}
	if !p.header {
		p.header = true
		if _, err := fmt.Fprintf(p.w, rowFormat, "SEQ", "AT", "EVENT", "OUTCOME", "SOURCE", "DESTINATION", "TYPE",
			"STATUS", "ERROR", "ACTOR", "TRANSFER"); err != nil {
			return err
		}
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	_, err := fmt.Fprintf(p.w, rowFormat, fmt.Sprint(r.Seq), r.At.UTC().Format("2006-01-02T15:04:05.000Z"), r.Event,
		dash(r.Outcome), dash(r.Source), dash(r.Destination), dash(r.ResourceType), dash(status(r.HTTPStatus)),
		dash(r.ErrorClass), dash(r.Actor), dash(r.TransferID))
	return err
}

// maxDigestDocument is the largest document the hub digests.
const maxDigestDocument = 1 << 20

func digestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "digest FILE",
		Short: "Find the deliveries that carried a FHIR document you hold (FILE, or - for stdin)",
		Long: "Posts the document to the hub, which computes its keyed digest, drops the document, and returns the\n" +
			"delivery rows whose payload had the same digest. The document is never stored or logged.",
		Args: cobra.ExactArgs(1),
	}
	rf := addRemoteFlags(cmd, auth.RoleAuditor, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		var in io.Reader = cmd.InOrStdin()
		if args[0] != "-" {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("read the document: %w", err)
			}
			defer f.Close()
			in = f
		}
		doc, err := io.ReadAll(io.LimitReader(in, maxDigestDocument+1))
		if err != nil {
			return fmt.Errorf("read the document: %w", err)
		}
		if len(doc) > maxDigestDocument {
			return errors.New("the document is larger than 1 MiB, the most the hub digests")
		}
		res, err := c.Digest(cmd.Context(), doc)
		if err != nil {
			return fmt.Errorf("digest: %w", err)
		}
		out := cmd.OutOrStdout()
		if rf.json() {
			return writeJSON(out, res)
		}
		fmt.Fprintf(out, "digest: %s\n%s\n", res.Digest, plural(len(res.Matches), "matching delivery row", "matching delivery rows"))
		p := newRowPrinter(out, false)
		for _, r := range res.Matches {
			if err := p.print(r); err != nil {
				return err
			}
		}
		return nil
	}
	return cmd
}
