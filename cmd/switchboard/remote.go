package main

// The commands here call a running hub's HTTP API (admin and audit roles)
// rather than its database: they work from an operator's laptop with a
// token, and everything they do is checked and logged by the hub.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/apiclient"
)

// remoteFlags are the flags of every command that calls a hub's API.
type remoteFlags struct {
	url, token, output string
	// role is the one the command's routes need (admin, auditor): its
	// token variable is read when neither --token nor SWITCHBOARD_TOKEN is set.
	role string
	// output is false for commands whose output has one form (export).
	hasOutput bool
}

// addRemoteFlags adds --url, --token and, with output, -o to cmd, whose
// routes need role. The environment is read when the command runs, not as
// the flags' defaults, so that --help never prints a token.
func addRemoteFlags(cmd *cobra.Command, role string, output bool) *remoteFlags {
	f := &remoteFlags{role: role, hasOutput: output}
	cmd.Flags().StringVar(&f.url, "url", "", "the hub's address (env "+apiclient.EnvURL+", else http:// and "+apiclient.EnvAddr+
		", default "+apiclient.DefaultURL+")")
	cmd.Flags().StringVar(&f.token, "token", "", "an "+role+" API token (env "+apiclient.EnvToken+", else "+apiclient.RoleTokenEnv(role)+
		"; prefer the environment, a flag shows in ps)")
	if output {
		cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	}
	return f
}

// client returns the API client the flags and environment describe.
func (f *remoteFlags) client() (*apiclient.Client, error) {
	if f.hasOutput && f.output != "table" && f.output != "json" {
		return nil, fmt.Errorf("-o must be table or json")
	}
	u, from := f.url, "--url"
	if u == "" {
		u, from = apiclient.URLFromEnv(os.Getenv)
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("%s must start with http:// or https://", from)
	}
	tok, tokFrom := strings.TrimSpace(f.token), "--token"
	if tok == "" {
		tok, tokFrom = apiclient.TokenFromEnv(f.role, os.Getenv)
	}
	// No client timeout: an export may take long; the command's context
	// (Ctrl-C) ends any request.
	return &apiclient.Client{BaseURL: u, Token: tok, TokenFrom: tokFrom, HTTP: &http.Client{}}, nil
}

func (f *remoteFlags) json() bool { return f.output == "json" }

// writeJSON prints v indented, for -o json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns; call flush when done.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// formatTime prints a time in UTC to the second, "" when zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// parseWhen reads a time flag: RFC 3339, or a duration meaning that long
// before now (--since 24h, --since 7d).
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if days, ok := strings.CutSuffix(v, "d"); ok && err != nil {
		// Days, which time.ParseDuration lacks: "7d".
		n, nerr := strconv.Atoi(days)
		d, err = time.Duration(n)*24*time.Hour, nerr
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--%s must be an RFC 3339 time (2026-11-23T10:00:00Z) or a duration before now (24h, 7d)", flag)
	}
	return now.Add(-d), nil
}

// errDeclined is a confirmation answered no (or not at all).
var errDeclined = errors.New("declined")

// confirm asks question on stderr and reads y or yes from in. No answer
// (end of input, as in a script) is a no.
func confirm(cmd *cobra.Command, question string) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "\nno answer; pass --yes to go ahead without asking")
		return errDeclined
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errDeclined
}

// plural returns "1 failed sync" or "3 failed syncs".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
