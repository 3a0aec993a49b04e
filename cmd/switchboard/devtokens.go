package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/store"
)

// devTokens are the clients `make run` makes, by their variable in the
// tokens file.
var devTokens = []struct{ variable, name, role, scope string }{
	{"SWITCHBOARD_APP_TOKEN", "make-run app", auth.RoleApp, "system/*.cruds"},
	{"SWITCHBOARD_ADMIN_TOKEN", "make-run admin", auth.RoleAdmin, ""},
	{"SWITCHBOARD_AUDITOR_TOKEN", "make-run auditor", auth.RoleAuditor, ""},
}

// clientsDevTokensCmd makes an app, an admin and an auditor client for a
// development hub and writes their tokens to a file the shell can source;
// run again, it keeps the file while its tokens still verify. Development
// only, like the generated keys: a token in a file is a secret on disk.
func clientsDevTokensCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "dev-tokens --out FILE",
		Short: "Development only: make an app, an admin and an auditor client and write their tokens to FILE",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClients(cmd, func(ctx context.Context, c *auth.Clients, db store.Querier) error {
				if valid(ctx, c, out) {
					fmt.Fprintf(cmd.OutOrStdout(), "tokens in %s still verify; kept\n", out)
					return nil
				}
				var b strings.Builder
				b.WriteString("# Development API tokens made by `switchboard clients dev-tokens` (make run). Never use in production.\n")
				for _, d := range devTokens {
					var scopes []string
					if d.scope != "" {
						scopes = []string{d.scope}
					}
					id, tok, err := c.Create(ctx, d.name, d.role, scopes)
					if err != nil {
						return err
					}
					if err := logClientAction(ctx, db, "client_created", id, d.role); err != nil {
						return err
					}
					fmt.Fprintf(&b, "export %s=%s\n", d.variable, tok)
				}
				// The CLI's default token: the admin's.
				b.WriteString("export SWITCHBOARD_TOKEN=$SWITCHBOARD_ADMIN_TOKEN\n")
				if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
					return err
				}
				if err := os.WriteFile(out, []byte(b.String()), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote app, admin and auditor tokens to %s\n", out)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "var/dev-tokens.env", "the file to write (mode 0600)")
	return cmd
}

// valid reports whether every token in the file verifies.
func valid(ctx context.Context, c *auth.Clients, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, d := range devTokens {
			tok, ok := strings.CutPrefix(sc.Text(), "export "+d.variable+"=")
			if !ok {
				continue
			}
			if p, err := c.Verify(ctx, tok); err != nil || p.Role != d.role {
				return false
			}
			found++
		}
	}
	return found == len(devTokens)
}
