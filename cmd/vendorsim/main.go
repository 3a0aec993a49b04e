// Command vendorsim runs local vendor sandboxes for `make run` and tests: an
// EHR speaking FHIR R4 (package ehrsim), with its request log, fault
// injection and a benchmark sink, and on request Cal.com (calsim), Candid
// Health (candidsim) and HubSpot (hubsim), each on its own listener.
//
//	go run ./cmd/vendorsim -addr 127.0.0.1:9090 \
//	    -calcom-addr 127.0.0.1:9091 -candid-addr 127.0.0.1:9092 -hubspot-addr 127.0.0.1:9093
//
// serves the EHR at http://127.0.0.1:9090/fhir/R4, its evidence at
// /_sandbox/log and /_sandbox/stats, faults at /_sandbox/faults and the
// benchmark sink at /sink/ (counters at /_sandbox/sink). The other sandboxes
// answer at the root of their address (a connector's base_url) with their
// evidence at /_sandbox/log and POST /_sandbox/reset. An empty -*-addr
// leaves that sandbox off.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/cmd/vendorsim/candidsim"
	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
	"github.com/switchboard-health/switchboard/cmd/vendorsim/hubsim"
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
	calAddr := fs.String("calcom-addr", "", "listen address of the Cal.com API v2 sandbox (empty: not started)")
	calHook := fs.String("calcom-webhook-url", "", "where the Cal.com sandbox posts booking webhooks (BOOKING_CREATED, _RESCHEDULED, _CANCELLED) for every change made through its API (empty: none)")
	calHookSecret := fs.String("calcom-webhook-secret", "", "secret signing the Cal.com sandbox's webhooks (X-Cal-Signature-256); default $CALCOM_WEBHOOK_SECRET")
	candidAddr := fs.String("candid-addr", "", "listen address of the Candid Health sandbox (empty: not started)")
	hubAddr := fs.String("hubspot-addr", "", "listen address of the HubSpot CRM contacts sandbox (empty: not started)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *latency < 0 {
		return errors.New("-latency must not be negative")
	}
	if *calHook != "" {
		if u, err := url.Parse(*calHook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("-calcom-webhook-url must be an absolute http(s) URL")
		}
	}
	if *calHookSecret == "" {
		*calHookSecret = os.Getenv("CALCOM_WEBHOOK_SECRET")
	}
	logger := logging.New(os.Stderr, *logLevel, *logFormat)
	if *calHook != "" && *calAddr == "" {
		logger.Warn("-calcom-webhook-url is set but -calcom-addr is not: the Cal.com sandbox is not started, no webhooks will be sent")
	}
	if *calHook != "" && *calHookSecret == "" {
		logger.Warn("Cal.com sandbox webhooks are unsigned (X-Cal-Signature-256: no-secret-provided): set -calcom-webhook-secret or $CALCOM_WEBHOOK_SECRET")
	}

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
	servers := []*sandbox{{name: "EHR", srv: &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}, ln: ln}}
	// Listen on every address before serving any, so a taken port fails
	// start-up at once instead of leaving half the sandboxes running.
	extra := []struct {
		name, addr, what string
		handler          func() http.Handler
	}{
		{"Cal.com", *calAddr, "Cal.com API v2 sandbox", func() http.Handler {
			return calsim.New(calsim.Options{Logger: logger,
				WebhookURL: *calHook, WebhookSecret: *calHookSecret})
		}},
		{"Candid", *candidAddr, "Candid Health sandbox", func() http.Handler { return candidsim.New(candidsim.Options{Logger: logger}) }},
		{"HubSpot", *hubAddr, "HubSpot CRM contacts sandbox", func() http.Handler { return hubsim.New(hubsim.Options{Logger: logger}) }},
	}
	for _, x := range extra {
		if x.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", x.addr)
		if err != nil {
			for _, s := range servers {
				_ = s.ln.Close()
			}
			return fmt.Errorf("listen on %s for the %s sandbox: %w", x.addr, x.name, err)
		}
		servers = append(servers, &sandbox{name: x.name, what: x.what,
			srv: &http.Server{Handler: x.handler(), ReadHeaderTimeout: 10 * time.Second}, ln: l})
	}
	fmt.Printf("vendorsim: EHR FHIR R4 sandbox at http://%s%s\n", ln.Addr(), sim.BasePath())
	logger.Info("vendorsim started", "addr", ln.Addr().String(), "base_path", sim.BasePath(),
		"latency_ms", latency.Milliseconds(), "ignore_idempotency_keys", *ignoreKeys)
	for _, s := range servers[1:] {
		fmt.Printf("vendorsim: %s at http://%s\n", s.what, s.ln.Addr())
		logger.Info("vendorsim sandbox started", "sandbox", s.name, "addr", s.ln.Addr().String())
	}

	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			err := s.srv.Serve(s.ln)
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				err = fmt.Errorf("serve the %s sandbox: %w", s.name, err)
			}
			errc <- err
		}()
	}
	var failed error
	select {
	case failed = <-errc:
	case <-ctx.Done():
	}
	logger.Info("vendorsim shutting down")
	// In-flight requests may be sleeping out injected latency; give them time.
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if failed != nil {
		errs = append(errs, failed)
	}
	for _, s := range servers {
		if err := s.srv.Shutdown(shutCtx); err != nil {
			errs = append(errs, fmt.Errorf("shut down the %s sandbox: %w", s.name, err))
		}
	}
	pending := len(servers)
	if failed != nil {
		pending-- // its Serve already returned
	}
	for range pending {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sandbox is one listener of vendorsim and the server answering on it.
type sandbox struct {
	name, what string
	srv        *http.Server
	ln         net.Listener
}
