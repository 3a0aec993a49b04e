package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/auth"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/logging"
	"github.com/switchboard-health/switchboard/hub/server"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transfer"

	_ "github.com/switchboard-health/switchboard/connectors/fhir"
)

type env struct {
	o       options
	pool    *pgxpool.Pool
	sink    *httptest.Server
	sinkN   atomic.Int64
	dir     string
	cfg     config.Config
	log     *slog.Logger
	payload []byte
	http    *http.Client
	// vars is the hub's environment: its configuration and the secrets
	// its connectors name (the sink's webhook secret).
	vars map[string]string
	// whKey is the sink's raw webhook key, for signing (webhook.go).
	whKey []byte
}

func newEnv(ctx context.Context, o options) (*env, error) {
	e := &env{o: o, log: logging.Discard(), payload: patientJSON()}
	pcfg, err := pgxpool.ParseConfig(o.db)
	if err != nil {
		return nil, fmt.Errorf("parse -db: %w", err)
	}
	pcfg.MaxConns = 20 // the hub's default pool size, so both sides get the same
	if e.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, err
	}
	e.sink = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		e.sinkN.Add(1)
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Header().Set("Location", "/Patient/x/_history/1")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"resourceType":"Patient","id":"x"}`))
	}))
	e.dir, _ = os.MkdirTemp("", "loadgen")
	// The sink has no limit of its own: the benchmark measures the hub, so
	// its shared rate limit (still consulted per call) is set out of reach.
	routes := fmt.Sprintf("destinations:\n  sink:\n    type: fhir\n    max_workers: %d\n    rate_limit: {per_second: 1000000, burst: 1000000}\n    config:\n      base_url: %s\n      webhook_secrets_env: [%s]\nroutes:\n  - resource: Patient\n    to: [sink]\n", o.workers, e.sink.URL, webhookSecretVar)
	if err := os.WriteFile(filepath.Join(e.dir, "routes.yaml"), []byte(routes), 0o600); err != nil {
		return nil, err
	}
	sealSpec, macSpec, err := config.NewKeySpecs(time.Now())
	if err != nil {
		return nil, err
	}
	whSecret, whKey, err := newWebhookSecret()
	if err != nil {
		return nil, err
	}
	e.whKey = whKey
	e.vars = map[string]string{
		"DATABASE_URL": o.db, "SWITCHBOARD_ROUTES": filepath.Join(e.dir, "routes.yaml"),
		"SWITCHBOARD_SEAL_KEYS": sealSpec, "SWITCHBOARD_HMAC_KEY": macSpec,
		webhookSecretVar: whSecret,
		// One client and one webhook source carry the whole load: the
		// inbound limits are set out of reach, as the sink's rate_limit is.
		"SWITCHBOARD_CLIENT_RATE": "1000000", "SWITCHBOARD_CLIENT_BURST": "1000000",
		"SWITCHBOARD_WEBHOOK_RATE": "1000000", "SWITCHBOARD_WEBHOOK_BURST": "1000000",
	}
	e.cfg, err = config.FromEnv(e.lookup)
	if err != nil {
		return nil, err
	}
	// Migrate once (River's and the hub's tables) before any round runs.
	h, err := e.hub(ctx, config.RoleAPI)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	h.Store.Close()
	e.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.conc * 2, MaxIdleConns: o.conc * 2}}
	return e, nil
}

func (e *env) close() {
	e.sink.Close()
	e.pool.Close()
	os.RemoveAll(e.dir)
}

func (e *env) describe(ctx context.Context) string {
	var v string
	_ = e.pool.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return "PostgreSQL " + v + " on loopback"
}

func (e *env) reset(ctx context.Context) error {
	// Tables appear on the first hub start; the bare rounds only need
	// River's.
	q := store.PgxQuerier(e.pool)
	if err := delivery.TruncateForBenchmark(ctx, q); err != nil {
		return err
	}
	e.sinkN.Store(0)
	return store.TruncateJobs(ctx, q)
}

// hub builds an in-process hub of the given role on the benchmark database.
func (e *env) hub(ctx context.Context, role string) (*server.Hub, error) {
	cfg := e.cfg
	cfg.Role = role
	return server.New(ctx, server.Options{Config: cfg, Logger: e.log, Env: e.lookup})
}

func (e *env) lookup(k string) (string, bool) {
	v, ok := e.vars[k]
	return v, ok
}

// bareArgs is the baseline's job: the same 2 KB JSON, in clear.
type bareArgs struct {
	Payload []byte `json:"payload"`
}

func (bareArgs) Kind() string { return "bare_post" }

type bareWorker struct {
	river.WorkerDefaults[bareArgs]
	url    string
	client *http.Client
}

func (w *bareWorker) Work(ctx context.Context, job *river.Job[bareArgs]) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(job.Args.Payload))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("bare-%d", job.ID))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func (e *env) bareClient(withWorkers bool) (*river.Client[pgx.Tx], error) {
	// The hub's fetch cooldown on PostgreSQL, so both sides fetch alike.
	cfg := &river.Config{Logger: e.log, FetchCooldown: 10 * time.Millisecond}
	if withWorkers {
		ws := river.NewWorkers()
		river.AddWorker(ws, &bareWorker{url: e.sink.URL + "/Patient", client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: e.o.workers}}})
		cfg.Workers = ws
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: e.o.workers}}
	}
	return river.NewClient(riverpgxv5.New(e.pool), cfg)
}

// closedLoop runs n operations on conc goroutines and times each one.
func closedLoop(n, conc int, op func(i int) error) run {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failures atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					failures.Add(1)
					firstErr.Do(func() { log.Printf("first error: %v", err) })
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return run{n: n, elapsed: time.Since(start), lat: lat, failures: int(failures.Load())}
}

func (e *env) bareAccept(ctx context.Context) (run, error) {
	client, err := e.bareClient(false)
	if err != nil {
		return run{}, err
	}
	return closedLoop(e.o.n, e.o.conc, func(int) error {
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := client.InsertTx(ctx, tx, bareArgs{Payload: e.payload}, nil); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}), nil
}

// serviceAccept is the hub's accept transaction alone (routing, sealing,
// transfer + delivery rows + River job), without HTTP and validation: it
// splits the accept path's cost in the report.
func (e *env) serviceAccept(ctx context.Context) (run, error) {
	h, err := e.hub(ctx, config.RoleAPI)
	if err != nil {
		return run{}, err
	}
	defer h.Store.Close()
	return closedLoop(e.o.n, e.o.conc, func(i int) error {
		p := e.patient(i)
		_, err := h.Transfers.Accept(ctx, transfer.Submission{
			ClientID: "bench", Kind: transfer.KindResource, Body: p,
			Entries: []transfer.Entry{{Interaction: connectors.Create, ResourceType: "Patient", Resource: p}},
		})
		return err
	}), nil
}

func (e *env) hubAccept(ctx context.Context) (run, error) {
	h, err := e.hub(ctx, config.RoleAPI)
	if err != nil {
		return run{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return run{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Serve(sctx, ln) }()
	url := "http://" + ln.Addr().String() + "/fhir/R4/Patient"
	// A real client's token: the measurement includes authentication (a
	// verified token is cached, as in production).
	_, token, err := (&auth.Clients{DB: h.Store.DB()}).Create(ctx, "loadgen", auth.RoleApp, []string{"system/Patient.c"})
	if err != nil {
		cancel()
		<-done
		return run{}, err
	}
	r := closedLoop(e.o.n, e.o.conc, func(i int) error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(e.patient(i)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := e.http.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	cancel()
	<-done
	return r, nil
}

// waitCompleted counts completed-job events until n arrived.
func waitCompleted(events <-chan *river.Event, n int, timeout time.Duration) (int, error) {
	got := 0
	deadline := time.After(timeout)
	for got < n {
		select {
		case ev, ok := <-events:
			if !ok {
				return got, fmt.Errorf("subscription closed after %d", got)
			}
			if ev.Kind == river.EventKindJobCompleted {
				got++
			} else {
				return got, fmt.Errorf("job %s: %s", ev.Kind, strings.TrimSpace(fmt.Sprint(ev.Job.Errors)))
			}
		case <-deadline:
			return got, fmt.Errorf("timed out after %d of %d", got, n)
		}
	}
	return got, nil
}

func (e *env) bareE2E(ctx context.Context) (run, error) {
	ins, err := e.bareClient(false)
	if err != nil {
		return run{}, err
	}
	params := make([]river.InsertManyParams, e.o.e2eN)
	for i := range params {
		params[i] = river.InsertManyParams{Args: bareArgs{Payload: e.payload}}
	}
	if _, err := ins.InsertMany(ctx, params); err != nil {
		return run{}, err
	}
	client, err := e.bareClient(true)
	if err != nil {
		return run{}, err
	}
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: e.o.e2eN + 10,
		Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed}})
	defer cancel()
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return run{}, err
	}
	got, werr := waitCompleted(events, e.o.e2eN, 5*time.Minute)
	elapsed := time.Since(start)
	_ = client.Stop(ctx)
	return run{n: got, elapsed: elapsed, failures: e.o.e2eN - got}, werr
}

func (e *env) hubE2E(ctx context.Context) (run, error) {
	api, err := e.hub(ctx, config.RoleAPI)
	if err != nil {
		return run{}, err
	}
	// Fill the queue through the accept service (untimed) in batches of
	// concurrent accepts, as the API would.
	fill := closedLoop(e.o.e2eN, e.o.conc, func(i int) error {
		p := e.patient(i)
		_, err := api.Transfers.Accept(ctx, transfer.Submission{
			ClientID: "bench", Kind: transfer.KindResource, Body: p,
			Entries: []transfer.Entry{{Interaction: connectors.Create, ResourceType: "Patient", Resource: p}},
		})
		return err
	})
	api.Store.Close()
	if fill.failures > 0 {
		return run{}, fmt.Errorf("filling the queue: %d failures", fill.failures)
	}
	w, err := e.hub(ctx, config.RoleWorker)
	if err != nil {
		return run{}, err
	}
	defer w.Store.Close()
	events, cancel := w.Store.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	defer cancel()
	// As Hub.Serve does for worker roles: outcomes are recorded in batches.
	batcher := w.Deliveries.StartBatcher(e.log)
	start := time.Now()
	if err := w.Store.StartWorkers(ctx); err != nil {
		return run{}, err
	}
	got, werr := waitCompleted(events, e.o.e2eN, 5*time.Minute)
	elapsed := time.Since(start)
	_ = w.Store.StopWorkers(ctx)
	batcher.Close()
	return run{n: got, elapsed: elapsed, failures: e.o.e2eN - got}, werr
}
