// Command vendorsim runs local vendor sandboxes for `make run` and tests: an
// EHR speaking FHIR R4 (package ehrsim), with its request log, fault
// injection and a benchmark sink, and on request the vendor sandboxes listed
// in sandboxes.go (calsim, candidsim, hubsim, …), each on its own listener.
//
//	go run ./cmd/vendorsim -addr 127.0.0.1:9090 -sandboxes 127.0.0.1 -env-file var/sandboxes.env
//
// starts every sandbox on its own port of 127.0.0.1 (9091, 9092, …; a
// -<name>-addr flag such as -candid-addr moves one) and, once all listen,
// writes to the env file the variables a hub needs to reach them
// (CANDID_BASE_URL=http://127.0.0.1:9092 and the credentials they take),
// in shell syntax.
//
// serves the EHR at http://127.0.0.1:9090/fhir/R4, its evidence at
// /_sandbox/log and /_sandbox/stats, faults at /_sandbox/faults and the
// benchmark sink at /sink/ (counters at /_sandbox/sink). The other sandboxes
// answer at the root of their address (a connector's base_url) with their
// evidence at /_sandbox/log and POST /_sandbox/reset. An empty -*-addr
// leaves that sandbox off unless -sandboxes is given.
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
	"slices"
	"strconv"
	"strings"
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
	calHook := fs.String("calcom-webhook-url", "", "where the Cal.com sandbox posts booking webhooks (BOOKING_CREATED, _RESCHEDULED, _CANCELLED) for every change made through its API (empty: none)")
	calHookSecret := fs.String("calcom-webhook-secret", "", "secret signing the Cal.com sandbox's webhooks (X-Cal-Signature-256); default $CALCOM_WEBHOOK_SECRET")
	sims := sandboxes()
	simAddrs := make([]*string, len(sims))
	for i, x := range sims {
		simAddrs[i] = fs.String(x.name+"-addr", "", "listen address of the "+x.what+" (empty: not started, unless -sandboxes)")
	}
	allHost := fs.String("sandboxes", "", "start every vendor sandbox on this host at its own port (9091, 9092, …; HOST:0 for free ports), unless its -<name>-addr says otherwise")
	envFile := fs.String("env-file", "", "once every sandbox listens, write here the variables a hub needs to reach them (<NAME>_BASE_URL and credentials, shell syntax)")
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
	if *allHost != "" {
		// HOST gives each sandbox its own port; HOST:0 a free one (tests).
		host, port := *allHost, ""
		if h, p, err := net.SplitHostPort(*allHost); err == nil {
			host, port = h, p
		}
		if port != "" && port != "0" {
			return errors.New("-sandboxes takes a host, or host:0 for free ports")
		}
		for i, x := range sims {
			if *simAddrs[i] == "" {
				p := port
				if p == "" {
					p = strconv.Itoa(x.port)
				}
				*simAddrs[i] = net.JoinHostPort(host, p)
			}
		}
	}
	if i := slices.IndexFunc(sims, func(x vendorSandbox) bool { return x.name == "calcom" }); *calHook != "" && *simAddrs[i] == "" {
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
	opts := sandboxOptions{logger: logger, calcomWebhookURL: *calHook, calcomWebhookSecret: *calHookSecret}
	env := []string{"EHR_BASE_URL=http://" + ln.Addr().String() + sim.BasePath()}
	for i, x := range sims {
		addr := *simAddrs[i]
		if addr == "" {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, s := range servers {
				_ = s.ln.Close()
			}
			return fmt.Errorf("listen on %s for the %s sandbox (move it with -%s-addr): %w", addr, x.name, x.name, err)
		}
		servers = append(servers, &sandbox{name: x.name, what: x.what,
			srv: &http.Server{Handler: x.handler(opts), ReadHeaderTimeout: 10 * time.Second}, ln: l})
		env = append(env, x.envLines(l.Addr().String())...)
	}
	if *envFile != "" {
		if err := writeEnvFile(*envFile, env); err != nil {
			for _, s := range servers {
				_ = s.ln.Close()
			}
			return err
		}
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

// writeEnvFile writes the sandboxes' variables to path (owner-only: it
// holds sandbox credentials), through a temporary file renamed into place,
// so a script waiting for the file never reads half of it.
func writeEnvFile(path string, lines []string) error {
	tmp := path + ".tmp"
	body := "# Written by vendorsim -env-file: the sandboxes' addresses and credentials.\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write the env file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the env file: %w", err)
	}
	return nil
}
