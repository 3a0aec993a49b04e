package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/server"
)

func configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check and document the hub's configuration"}
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective settings, secrets masked",
		Long: `Read the configuration exactly as serve would (environment, the
SWITCHBOARD_CONFIG settings file, the routing file and each connector's
block), print every effective setting with where it came from, secrets
masked, and list every problem at once. Exits 1 when there is a problem.
Opens no database and generates nothing.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return configCheck(cmd, os.LookupEnv)
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "reference",
		Short: "Print the reference of every setting as a Markdown table",
		RunE: func(cmd *cobra.Command, _ []string) error {
			config.WriteReference(cmd.OutOrStdout())
			return nil
		},
	})
	return c
}

// recordingEnv remembers the variables connectors ask for, so that check
// can list vendor credentials (set or not) without printing them.
type recordingEnv struct {
	mu   sync.Mutex
	look func(string) (string, bool)
	seen map[string]bool
}

func (r *recordingEnv) lookup(name string) (string, bool) {
	r.mu.Lock()
	r.seen[name] = true
	r.mu.Unlock()
	return r.look(name)
}

func configCheck(cmd *cobra.Command, env func(string) (string, bool)) error {
	out := cmd.OutOrStdout()
	cfg, cfgErr := config.FromEnv(env)
	rec := &recordingEnv{look: env, seen: map[string]bool{}}
	_, hubErr := server.New(cmd.Context(), server.Options{Config: cfg, Logger: logging.Discard(), Env: rec.lookup,
		Version: version, CheckOnly: true})

	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SETTING\tVALUE\tFROM")
	for _, v := range config.Reference {
		if v.External {
			if val, ok := env(v.Env); ok {
				fmt.Fprintf(w, "%s\t%s\tenv\n", v.Env, shown(v.Env, val, v.Secret))
			}
			continue
		}
		if v.Env == "SWITCHBOARD_CONFIG" {
			if cfg.File != "" {
				fmt.Fprintf(w, "%s\t%s\tenv\n", v.Env, cfg.File)
			}
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", v.Env, shown(v.Env, cfg.Value(v.Env), v.Secret), cfg.Source(v.Env))
	}
	names := make([]string, 0, len(rec.seen))
	for n := range rec.seen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		val, ok := env(n)
		from := "env"
		if !ok {
			val, from = "", "unset"
		}
		// Connector variables are credentials unless proven otherwise.
		fmt.Fprintf(w, "%s\t%s\t%s (routing file)\n", n, shown(n, val, true), from)
	}
	if err := w.Flush(); err != nil {
		return err
	}

	var problems []string
	for _, err := range []error{cfgErr, hubErr} {
		problems = append(problems, flatten(err)...)
	}
	if len(problems) == 0 {
		fmt.Fprintf(out, "\nconfiguration OK (role %s, %s, routing file %s)\n", cfg.Role, dbName(cfg), cfg.RoutesPath)
		return nil
	}
	fmt.Fprintf(out, "\n%d problem(s):\n", len(problems))
	for _, p := range problems {
		fmt.Fprintf(out, "  - %s\n", p)
	}
	return errors.New("configuration has problems")
}

// flatten lists a joined error's leaves, one line each.
func flatten(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(line) != "" {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

func dbName(cfg config.Config) string {
	if cfg.Postgres() {
		return "PostgreSQL"
	}
	return "SQLite at " + cfg.SQLitePath
}

func shown(name, val string, secret bool) string {
	if secret || config.IsSecret(name) {
		return config.Mask(val)
	}
	if val == "" {
		return "(unset)"
	}
	return val
}
