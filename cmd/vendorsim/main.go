// Command vendorsim runs local vendor sandboxes for `make run` and tests: today
// an EHR speaking FHIR R4 (package ehrsim), with its request log, fault
// injection and a benchmark sink.
//
//	go run ./cmd/vendorsim -addr 127.0.0.1:9090
//
// serves the EHR at http://127.0.0.1:9090/fhir/R4, its evidence at
// /_sandbox/log and /_sandbox/stats, faults at /_sandbox/faults and the
// benchmark sink at /sink/ (counters at /_sandbox/sink).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
	"github.com/switchboard-health/switchboard/hub/logging"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vendorsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("vendorsim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	base := fs.String("base", "/fhir/R4", "path of the EHR's FHIR R4 API")
	latency := fs.Duration("latency", 0, "latency added to every FHIR request (e.g. 40ms); changeable at /_sandbox/faults")
	ignoreKeys := fs.Bool("ignore-idempotency-keys", false, "play an EHR that does not honour Idempotency-Key")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (debug also logs each sink request)")
	logFormat := fs.String("log-format", "json", "json or text")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *latency < 0 {
		return errors.New("-latency must not be negative")
	}
	logger := logging.New(os.Stderr, *logLevel, *logFormat)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sim := ehrsim.New(ehrsim.Options{
		BasePath:              *base,
		Latency:               *latency,
		IgnoreIdempotencyKeys: *ignoreKeys,
		Logger:                logger,
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("vendorsim: EHR FHIR R4 sandbox at http://%s%s\n", ln.Addr(), sim.BasePath())
	logger.Info("vendorsim started", "addr", ln.Addr().String(), "base_path", sim.BasePath(),
		"latency_ms", latency.Milliseconds(), "ignore_idempotency_keys", *ignoreKeys)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("vendorsim shutting down")
	// In-flight requests may be sleeping out injected latency; give them time.
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
