// Command switchboard is the hub's one binary: `serve` runs the API and the
// delivery workers, `migrate` applies the database schema, `keys generate`
// makes new secrets.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "switchboard",
		Short:         "Switchboard: a FHIR R4 integration hub that stores no PHI",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(serveCmd(), migrateCmd(), keysCmd(), adminCmd(), clientsCmd())
	root.AddCommand(auditCmd(), configCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}
