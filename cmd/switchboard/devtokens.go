package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/store"
)

// devTokens are the clients `make run` makes, by their variable in the
// environment file.
var devTokens = []struct{ variable, name, role, scope string }{
	{"SWITCHBOARD_APP_TOKEN", "make-run app", auth.RoleApp, "system/*.cruds"},
	{"SWITCHBOARD_ADMIN_TOKEN", "make-run admin", auth.RoleAdmin, ""},
	{"SWITCHBOARD_AUDITOR_TOKEN", "make-run auditor", auth.RoleAuditor, ""},
}

// clientsDevTokensCmd makes an app, an admin and an auditor client for a
// development hub and writes their tokens to a file the shell can source,
// with the settings named by --export and --path: `make run` writes
// var/dev.env this way, so that a second terminal gets everything the
// README's commands need from one `source`. Run again, it keeps the tokens
// while they still verify and rewrites the rest (the ports may have
// changed). Development only, like the generated keys: a token in a file
// is a secret on disk, so the file is 0600 in a 0700 folder.
func clientsDevTokensCmd() *cobra.Command {
	var out, pathDir string
	var export []string
	cmd := &cobra.Command{
		Use:   "dev-tokens [--out FILE] [--export VAR,...] [--path DIR]",
		Short: "Development only: make an app, an admin and an auditor client and write their tokens (and settings) to FILE",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClients(cmd, func(ctx context.Context, c *auth.Clients, db store.Querier) error {
				tokens, kept := validTokens(ctx, c, out)
				if !kept {
					tokens = map[string]string{}
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
						tokens[d.variable] = tok
					}
				}
				content, err := devEnvFile(tokens, export, pathDir, os.LookupEnv)
				if err != nil {
					return err
				}
				if err := writePrivate(out, content); err != nil {
					return fmt.Errorf("write %s: %w", out, err)
				}
				if kept {
					fmt.Fprintf(cmd.OutOrStdout(), "tokens in %s still verify: kept; wrote %s\n", out, out)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "wrote app, admin and auditor tokens to %s\n", out)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "var/dev.env", "the file to write (mode 0600)")
	cmd.Flags().StringSliceVar(&export, "export", nil, "also write these environment variables with their current values (repeatable, comma-separated)")
	cmd.Flags().StringVar(&pathDir, "path", "", "a folder to put first on PATH when the file is sourced (the one holding switchboard)")
	return cmd
}

// devEnvFile is the text of the environment file: the exported settings,
// the PATH line, then the tokens. Values are single-quoted, so any value
// survives `source` in sh, bash and zsh unchanged.
func devEnvFile(tokens map[string]string, export []string, pathDir string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	b.WriteString("# Made by `make run` (switchboard clients dev-tokens). Development only: never for real patient data.\n")
	b.WriteString("# Load it in another terminal with `source var/dev.env`.\n")
	for _, name := range export {
		if !validEnvName(name) {
			return "", fmt.Errorf("--export %q is not a variable name", name)
		}
		if v, ok := lookup(name); ok {
			fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(v))
		}
	}
	if pathDir != "" {
		abs, err := filepath.Abs(pathDir)
		if err != nil {
			return "", fmt.Errorf("--path: %w", err)
		}
		// Once on PATH however often the file is sourced.
		q := shellQuote(abs)
		fmt.Fprintf(&b, "case \":$PATH:\" in *:%s:*) ;; *) export PATH=%s:\"$PATH\" ;; esac\n", q, q)
	}
	for _, d := range devTokens {
		fmt.Fprintf(&b, "export %s=%s\n", d.variable, tokens[d.variable])
	}
	return b.String(), nil
}

// validEnvName reports whether s is a portable shell variable name.
func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// shellQuote single-quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writePrivate writes path (0600, its folder made 0700 when missing)
// through a temporary file renamed into place: a reader never sees half a
// file, and an existing file with looser permissions is replaced.
func writePrivate(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, content)
		return err
	})
}

// validTokens returns the file's tokens when every one verifies with its
// role.
func validTokens(ctx context.Context, c *auth.Clients, path string) (map[string]string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	tokens := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, d := range devTokens {
			tok, ok := strings.CutPrefix(sc.Text(), "export "+d.variable+"=")
			if !ok {
				continue
			}
			if p, err := c.Verify(ctx, tok); err != nil || p.Role != d.role {
				return nil, false
			}
			tokens[d.variable] = tok
		}
	}
	return tokens, len(tokens) == len(devTokens)
}
