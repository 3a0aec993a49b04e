package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// clientsCmd manages API clients through the database, not the admin API:
// the first admin token has to exist before anyone can call that API.
func clientsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Create, list and revoke API clients (bearer tokens) in the hub's database",
		Long: `API clients are the hub's own bearer tokens: apps calling /fhir/R4 within
SMART system scopes, admins (/admin) and auditors (/audit). These commands
use the hub's database directly, with the same environment as serve, so the
first admin token can be made before the hub is running.`,
	}
	cmd.AddCommand(clientsCreateCmd(), clientsListCmd(), clientsRevokeCmd(), clientsDevTokensCmd())
	return cmd
}

func clientsCreateCmd() *cobra.Command {
	var name, role string
	var scopes []string
	var ratePS float64
	var burst int
	cmd := &cobra.Command{
		Use:   "create --name NAME --role app|admin|auditor [--scope system/Patient.cu ...] [--rate N --burst M]",
		Short: "Create an API client and print its token, once",
		Long: `Create an API client. Apps need one --scope or more, SMART App Launch v2
system scopes: system/<ResourceType|*>.<permissions>, the permissions being
letters of c (create), r (read), u (update), d (delete), s (search) in that
order, e.g. system/Patient.cu or system/*.rs. Admins and auditors take none.
--rate and --burst give the client its own request rate (per second, per
hub process) instead of SWITCHBOARD_CLIENT_RATE and SWITCHBOARD_CLIENT_BURST;
above it the hub answers 429 with Retry-After.
The token is printed once; only its hash is kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list []string
			for _, s := range scopes {
				list = append(list, strings.Fields(s)...) // "--scope 'a b'" as well as "--scope a --scope b"
			}
			if err := checkScopeTypes(list); err != nil {
				return err
			}
			var opts []auth.CreateOption
			switch {
			case cmd.Flags().Changed("rate"):
				opts = append(opts, auth.WithRateLimit(ratePS, burst))
			case cmd.Flags().Changed("burst"):
				return errors.New("--burst needs --rate")
			}
			return withClients(cmd, func(ctx context.Context, c *auth.Clients, db store.Querier) error {
				id, token, err := c.Create(ctx, name, role, list, opts...)
				if err != nil {
					return err
				}
				if err := logClientAction(ctx, db, "client_created", id, role); err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "created API client %s (%s)\n", id, role)
				if len(opts) > 0 {
					shown := burst
					if shown == 0 {
						shown = max(1, int(ratePS)) // as Create fills it in
					}
					fmt.Fprintf(out, "rate: %g requests per second, burst %d, per hub process\n", ratePS, shown)
				}
				fmt.Fprintf(out, "token: %s\n", token)
				fmt.Fprintln(out, "Store the token now: it cannot be shown again (the hub keeps only its hash).")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "who or what the client is, e.g. scheduling-tool (shown in lists, not PHI)")
	cmd.Flags().StringVar(&role, "role", "", "app, admin or auditor")
	cmd.Flags().StringArrayVar(&scopes, "scope", nil, "a SMART system scope for an app, e.g. system/Patient.cu (repeatable)")
	cmd.Flags().Float64Var(&ratePS, "rate", 0, "the client's own requests per second, per hub process (default: SWITCHBOARD_CLIENT_RATE)")
	cmd.Flags().IntVar(&burst, "burst", 0, "with --rate: requests at once above the rate (default: one second's worth)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

// checkScopeTypes catches a misspelt resource type (system/Patinet.rs)
// when creating the client rather than when its calls are refused; the
// auth package checks only a type's shape, not the R4 list.
func checkScopeTypes(scopes []string) error {
	for _, s := range scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			return fmt.Errorf("scope %q: %w", s, err)
		}
		if sc.ResourceType != "*" && !validation.IsResourceType(sc.ResourceType) {
			return fmt.Errorf("scope %q: %s is not a FHIR R4 resource type", s, sc.ResourceType)
		}
	}
	return nil
}

func clientsListCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list [-o json]",
		Short: "List API clients, revoked ones included (never their tokens)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return errors.New("-o must be table or json")
			}
			return withClients(cmd, func(ctx context.Context, c *auth.Clients, _ store.Querier) error {
				list, err := c.List(ctx)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if output == "json" {
					if list == nil {
						list = []auth.ClientInfo{}
					}
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					return enc.Encode(list)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLE\tSCOPES\tRATE\tCREATED\tLAST USED\tREVOKED")
				for _, ci := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ci.ID, ci.Name, ci.Role, dash(strings.Join(ci.Scopes, " ")),
						rateOf(ci.RateLimit), stamp(ci.Created), stamp(ci.LastUsed), stamp(ci.Revoked))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func clientsRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API client for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClients(cmd, func(ctx context.Context, c *auth.Clients, db store.Querier) error {
				if err := c.Revoke(ctx, args[0]); err != nil {
					if errors.Is(err, auth.ErrNotFound) {
						return fmt.Errorf("no API client %q (see `switchboard clients list`)", args[0])
					}
					return err
				}
				if err := logClientAction(ctx, db, "client_revoked", args[0], ""); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s; running hubs refuse its token within %s\n", args[0], auth.DefaultCacheFor)
				return nil
			})
		},
	}
}

// withClients opens the hub's database from the serve environment, as
// migrate does, and insists on a migrated schema rather than creating it:
// which database is the hub's is the operator's call.
func withClients(cmd *cobra.Command, fn func(context.Context, *auth.Clients, store.Querier) error) error {
	ctx := cmd.Context()
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath, MaxConns: 2,
		Logger: logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)})
	if err != nil {
		return err
	}
	defer st.Close()
	current, err := st.MigrationsCurrent(ctx)
	if err != nil {
		return err
	}
	if !current {
		return errors.New("the database schema is not current: run `switchboard migrate` first")
	}
	return fn(ctx, &auth.Clients{DB: st.DB()}, st.DB())
}

// rateOf shows a client's own limit, "default" for the hub's.
func rateOf(r *auth.RateLimit) string {
	if r == nil {
		return "default"
	}
	return fmt.Sprintf("%g/s burst %d", r.PerSecond, r.Burst)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// logClientAction stages an admin_action row in the transfer log: who can
// call the hub is part of the audit trail. A running hub chains it.
func logClientAction(ctx context.Context, db store.Querier, action, id, role string) error {
	d := map[string]any{"action": action, "client": id}
	if role != "" {
		d["role"] = role
	}
	return transferlog.Stage(ctx, db, transferlog.Row{At: time.Now(), Event: transferlog.EventAdminAction,
		Outcome: action, Actor: "cli", Detail: d})
}
