package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/server"
	"github.com/switchboard-health/switchboard/hub/tracing"
)

func loadConfig() (config.Config, error) {
	cfg, err := config.FromEnv(os.LookupEnv)
	if err != nil {
		return cfg, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

// logOptions are the logger's settings from the configuration.
func logOptions(cfg config.Config) logging.Options {
	return logging.Options{Level: cfg.LogLevel, Format: cfg.LogFormat, SyslogAddr: cfg.SyslogAddr,
		Facility: cfg.SyslogFacility, StructuredDataID: cfg.SyslogSDID}
}

// openLog opens serve's logger: JSON or text on stderr, or RFC 5424 syslog
// lines on stdout or to a socket; every format behind the redacting handler.
func openLog(cfg config.Config) (*slog.Logger, *logging.Sink, error) {
	w := os.Stderr
	if cfg.LogFormat == "syslog" {
		w = os.Stdout // "stdout" means stdout; a socket's failure notices go there too
	}
	log, sink, err := logging.Open(w, logOptions(cfg))
	if err != nil {
		return nil, nil, err
	}
	return log, sink, nil
}

func serveCmd() *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the FHIR API and work the delivery queue",
		Long: `Serve the unified FHIR R4 API and work deliveries.

--role api serves HTTP and only inserts jobs; --role worker works jobs and
serves only health; --role all (the default) does both. Configuration comes
from the environment (see README) and the routing file SWITCHBOARD_ROUTES.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role != "" {
				os.Setenv("SWITCHBOARD_ROLE", role)
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			log, sink, err := openLog(cfg)
			if err != nil {
				return err
			}
			defer sink.Close()
			stopTracing, err := tracing.Setup(cmd.Context(), os.LookupEnv, version, cfg.Role)
			if err != nil {
				return err
			}
			if tracing.Enabled(os.LookupEnv) {
				log.Info("tracing on: spans exported as OTEL_* variables say, attributes cut to the allow-list")
			}
			defer func() {
				// Flush what the drain traced; bounded, a collector may be gone.
				ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 5*time.Second)
				defer cancel()
				if err := stopTracing(ctx); err != nil {
					log.Warn("tracing: flush on exit incomplete", "error", err)
				}
			}()
			hub, err := server.New(cmd.Context(), server.Options{Config: cfg, Logger: log, Env: os.LookupEnv, Version: version})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
			}
			return hub.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "api | worker | all (default from SWITCHBOARD_ROLE, else all)")
	return cmd
}
