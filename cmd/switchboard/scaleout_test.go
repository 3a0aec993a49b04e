package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// Helpers shared by the multi-process tests (this file and
// lifecycle_test.go): hub processes on one PostgreSQL database, a load of
// synthetic Patients, and evidence read from River's tables and the EHR
// sandbox.

// pgHubEnv is the environment of hub processes sharing one PostgreSQL
// database: the same seal and HMAC keys, short delivery and rescue times so
// a killed process's jobs come back within the test.
func pgHubEnv(t *testing.T, dir, dbURL, routes string, extra ...string) []string {
	t.Helper()
	seal, mac, err := config.NewKeySpecs(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(path, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"DATABASE_URL=" + dbURL,
		"SWITCHBOARD_SEAL_KEYS=" + seal,
		"SWITCHBOARD_HMAC_KEY=" + mac,
		"SWITCHBOARD_ROUTES=" + path,
		"SWITCHBOARD_AUTO_MIGRATE=false",
		"SWITCHBOARD_RETRY_BASE=200ms",
		// The load is one client and one webhook source: out of reach of
		// the inbound limits, which are not what is tested here.
		"SWITCHBOARD_CLIENT_RATE=1000000", "SWITCHBOARD_CLIENT_BURST=1000000",
		"SWITCHBOARD_WEBHOOK_RATE=1000000", "SWITCHBOARD_WEBHOOK_BURST=1000000",
		"SWITCHBOARD_RETRY_MAX=2s",
		"SWITCHBOARD_DELIVERY_TIMEOUT=5s",
		"SWITCHBOARD_RESCUE_AFTER=6s",
		"SWITCHBOARD_METRICS=false",
	}
	return append(env, extra...)
}

// migrate runs `switchboard migrate`, as an operator does before starting
// a fleet whose processes do not migrate themselves.
func migrate(t *testing.T, hubBin string, env []string) {
	t.Helper()
	cmd := exec.Command(hubBin, "migrate")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("switchboard migrate: %v\n%s", err, out)
	}
}

// hubProc is one `switchboard serve` process.
type hubProc struct {
	*proc
	name    string
	url     string
	logPath string
}

// startHub starts `switchboard serve --role role` on a free port and waits
// until it is ready.
func startHub(t *testing.T, hubBin, dir, name, role string, env []string) *hubProc {
	t.Helper()
	port := testenv.FreePort(t)
	h := &hubProc{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: filepath.Join(dir, name+".log")}
	h.proc = startProc(t, h.logPath, append(slices.Clone(env), fmt.Sprintf("SWITCHBOARD_ADDR=127.0.0.1:%d", port)), hubBin, "serve", "--role", role)
	waitHTTP(t, h.url+"/readyz", 30*time.Second)
	return h
}

// logLines decodes the process's JSON log lines.
func (h *hubProc) logLines(t *testing.T) []map[string]any {
	t.Helper()
	f, err := os.Open(h.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			lines = append(lines, m)
		}
	}
	return lines
}

// countLog counts the log lines whose msg is msg.
func (h *hubProc) countLog(t *testing.T, msg string) int {
	t.Helper()
	n := 0
	for _, l := range h.logLines(t) {
		if l["msg"] == msg {
			n++
		}
	}
	return n
}

// riverClientID waits for the process to log River's client id, which
// River writes into attempted_by of every job the process works.
func (h *hubProc) riverClientID(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range h.logLines(t) {
			if l["msg"] == "River client started" {
				if id, _ := l["client_id"].(string); id != "" {
					return id
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s logged no River client id", h.name)
	return ""
}

// patientLoad posts synthetic Patients (no real or canary data), each with
// its own Idempotency-Key, and remembers what was accepted.
type patientLoad struct {
	urls   []string // API processes, used in turn
	token  string
	prefix string // keeps ids and keys apart between tests
	client *http.Client

	next     atomic.Int64
	mu       sync.Mutex
	accepted map[string]string // Idempotency-Key -> transfer id
	failed   map[int64]bool    // sent, not (yet) accepted
	statuses map[int]int
	errors   int
}

func newPatientLoad(prefix, token string, urls ...string) *patientLoad {
	return &patientLoad{urls: urls, token: token, prefix: prefix, accepted: map[string]string{}, failed: map[int64]bool{}, statuses: map[int]int{},
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// postResult is one POST's answer.
type postResult struct {
	status     int
	transferID string
	retryAfter string
	body       []byte
	took       time.Duration
	err        error
}

// post sends the i-th Patient to url.
func (l *patientLoad) post(url string, i int64) postResult {
	key := fmt.Sprintf("%s-%d", l.prefix, i)
	body := fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"https://synthetic.switchboard.test/%s","value":"%d"}],`+
		`"name":[{"family":"Synthetic","given":["Load%d"]}],"gender":"unknown","birthDate":"2000-01-01"}`, l.prefix, i, i)
	req, _ := http.NewRequest(http.MethodPost, url+"/fhir/R4/Patient", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", "Bearer "+l.token)
	start := time.Now()
	resp, err := l.client.Do(req)
	r := postResult{took: time.Since(start), err: err}
	if err != nil {
		l.mu.Lock()
		l.errors++
		l.failed[i] = true
		l.mu.Unlock()
		return r
	}
	r.body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	r.took = time.Since(start)
	r.status, r.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	r.transferID = strings.TrimPrefix(resp.Header.Get("Content-Location"), "/transfers/")
	l.mu.Lock()
	l.statuses[r.status]++
	if r.status == http.StatusAccepted {
		l.accepted[key] = r.transferID
		delete(l.failed, i)
	} else {
		l.failed[i] = true
	}
	l.mu.Unlock()
	return r
}

// retryFailed sends again, with the same Idempotency-Key and body, every
// Patient that was not accepted, as a client told to retry does; each must
// now be accepted (a new transfer, or the one an answer lost in transit
// named). It returns how many were retried.
func (l *patientLoad) retryFailed(t *testing.T, url string) int {
	t.Helper()
	l.mu.Lock()
	var todo []int64
	for i := range l.failed {
		todo = append(todo, i)
	}
	l.mu.Unlock()
	work := make(chan int64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if r := l.post(url, i); r.status != http.StatusAccepted {
					t.Errorf("retry of Patient %d: status %d, error %v: %s", i, r.status, r.err, r.body)
				}
			}
		}()
	}
	for _, i := range todo {
		work <- i
	}
	close(work)
	wg.Wait()
	return len(todo)
}

// run posts with workers concurrent clients until total Patients are sent
// (total 0: until stop is closed), each client sticking to one API
// process; every is called with each answer.
func (l *patientLoad) run(workers int, total int64, stop <-chan struct{}, every func(postResult)) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := l.urls[w%len(l.urls)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := l.next.Add(1)
				if total > 0 && i > total {
					return
				}
				r := l.post(url, i)
				if every != nil {
					every(r)
				}
				if r.err != nil || r.status != http.StatusAccepted {
					time.Sleep(100 * time.Millisecond) // an outage: back off a little
				}
			}
		}()
	}
	wg.Wait()
}

// acceptedIDs returns the accepted transfers by Idempotency-Key.
func (l *patientLoad) acceptedIDs() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.accepted))
	for k, v := range l.accepted {
		out[k] = v
	}
	return out
}

// sandboxEffects reads the EHR sandbox's count of writes.
func sandboxEffects(t *testing.T, simURL string) int {
	t.Helper()
	resp, err := http.Get(simURL + "/_sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Effects int `json:"effects"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Effects
}

// waitEffects waits until the sandbox has seen at least n writes.
func waitEffects(t *testing.T, simURL string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := sandboxEffects(t, simURL)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the EHR sandbox saw %d writes, want %d within %s", got, n, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkDeliveredOnce asserts that every accepted transfer reached the EHR
// sandbox exactly once (by the hub's vendor idempotency key), and that the
// sandbox saw nothing else and no duplicate effect.
func checkDeliveredOnce(t *testing.T, simURL string, accepted map[string]string) {
	t.Helper()
	n, keys, dup := created(t, simURL)
	if dup != 0 {
		t.Errorf("the EHR sandbox counted %d duplicate effects", dup)
	}
	missing := 0
	for _, id := range accepted {
		switch c := keys["sb-"+id+"-0-ehr"]; c {
		case 1:
		case 0:
			missing++
		default:
			t.Errorf("transfer %s created %d times at the EHR", id, c)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d accepted transfers never reached the EHR", missing, len(accepted))
	}
	if n != len(accepted) || len(keys) != len(accepted) {
		t.Errorf("the EHR saw %d creations over %d keys, want %d (one per accepted transfer)", n, len(keys), len(accepted))
	}
}

// checkTransfersDelivered reads GET /transfers/{id} of every accepted
// transfer through the API processes and asserts each says delivered.
func checkTransfersDelivered(t *testing.T, token string, accepted map[string]string, urls ...string) {
	t.Helper()
	ids := make(chan string)
	var bad atomic.Int64
	var mu sync.Mutex
	var firstBad string
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				req, _ := http.NewRequest(http.MethodGet, urls[w%len(urls)]+"/transfers/"+id, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				var st struct {
					State string `json:"state"`
				}
				if err == nil {
					err = json.NewDecoder(resp.Body).Decode(&st)
					resp.Body.Close()
				}
				if err != nil || st.State != "delivered" {
					if bad.Add(1) == 1 {
						mu.Lock()
						firstBad = fmt.Sprintf("%s: state %q, error %v", id, st.State, err)
						mu.Unlock()
					}
				}
			}
		}()
	}
	for _, id := range accepted {
		ids <- id
	}
	close(ids)
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of %d accepted transfers are not delivered by GET /transfers/{id} (first: %s)", n, len(accepted), firstBad)
	}
}

// pgConnect opens a connection to the hub's database for evidence.
func pgConnect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// jobRow is the part of a river_job row the tests judge.
type jobRow struct {
	id          int64
	kind, queue string
	state       string
	attemptedBy []string
	createdAt   time.Time
	metadata    map[string]any
}

func riverJobs(t *testing.T, db *pgx.Conn, where string, args ...any) []jobRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.Query(ctx, `SELECT id, kind, queue, state::text, COALESCE(attempted_by, '{}'), created_at, metadata
		FROM river_job WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []jobRow
	for rows.Next() {
		var j jobRow
		if err := rows.Scan(&j.id, &j.kind, &j.queue, &j.state, &j.attemptedBy, &j.createdAt, &j.metadata); err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// queryInt runs a query answering one integer.
func queryInt(t *testing.T, db *pgx.Conn, q string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// Two API processes and two worker processes share one PostgreSQL
// database. 10,000 Patients go in through both APIs; one worker (River's
// leader) is SIGKILLed a third of the way through. Every accepted Patient
// reaches the EHR exactly once, both workers worked, the APIs never did, and
// the periodic poll ran once per tick cluster-wide, before and after the
// leader died.
func TestScaleOutTwoAPIsTwoWorkersOnePostgres(t *testing.T) {
	const (
		total    = 10000
		killAt   = 3000
		pollTick = 2 * time.Second
	)
	hubBin, simBin := binaries(t)
	dir := t.TempDir()
	dbURL := testenv.Postgres(t)

	simURL := startSim(t, simBin, dir)
	// A little vendor latency keeps deliveries in flight when the worker
	// is killed, so River's rescue has something to do.
	setFaults(t, simURL, `{"latency_ms": 15}`)

	// ehr takes the Patients; changes polls the same sandbox for
	// Appointments (there are none) every tick: a cheap periodic job whose
	// runs the test can count.
	routes := fmt.Sprintf(`destinations:
  ehr:
    type: fhir
    rate_limit: {per_second: 1000000, burst: 1000000}
    max_workers: 16
    config: {base_url: %q}
  changes:
    type: fhir
    rate_limit: {per_second: 1000000, burst: 1000000}
    poll: {interval: %s}
    config: {base_url: %q, poll_types: [Appointment]}
routes:
  - {resource: Patient, to: [ehr]}
`, simURL+"/fhir/R4", pollTick, simURL+"/fhir/R4")
	env := pgHubEnv(t, dir, dbURL, routes)
	migrate(t, hubBin, env)
	token := createClient(t, hubBin, env, "system/Patient.c")

	workers := []*hubProc{
		startHub(t, hubBin, dir, "worker1", "worker", env),
		startHub(t, hubBin, dir, "worker2", "worker", env),
	}
	apis := []*hubProc{
		startHub(t, hubBin, dir, "api1", "api", env),
		startHub(t, hubBin, dir, "api2", "api", env),
	}
	workerIDs := map[string]*hubProc{}
	for _, w := range workers {
		workerIDs[w.riverClientID(t)] = w
	}
	db := pgConnect(t, dbURL)

	start := time.Now()
	load := newPatientLoad("scale", token, apis[0].url, apis[1].url)
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); load.run(16, total, nil, nil) }()

	waitEffects(t, simURL, killAt, 90*time.Second)
	// Kill River's leader: the survivor must take over the periodic jobs
	// as well as rescue the killed worker's deliveries.
	var leader string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := db.QueryRow(ctx, `SELECT leader_id FROM river_leader`).Scan(&leader)
	cancel()
	if err != nil {
		t.Fatalf("read River's leader: %v", err)
	}
	victim := workerIDs[leader]
	if victim == nil {
		t.Fatalf("River's leader %q is not a worker process (workers: %v)", leader, keysOf(workerIDs))
	}
	var survivorID string
	for id := range workerIDs {
		if id != leader {
			survivorID = id
		}
	}
	// Both workers worked before the kill.
	for id, w := range workerIDs {
		if n := queryInt(t, db, `SELECT count(*) FROM river_job WHERE kind = 'switchboard.deliver' AND state = 'completed' AND $1 = ANY(attempted_by)`, id); n == 0 {
			t.Errorf("%s (%s) completed no delivery before the kill", w.name, id)
		} else {
			t.Logf("%s completed %d deliveries before the kill", w.name, n)
		}
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	killedAt := time.Now()
	inFlight := queryInt(t, db, `SELECT count(*) FROM river_job WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`, leader)
	t.Logf("SIGKILLed %s (River's leader) after %d deliveries, %v in; %d of its jobs were running", victim.name, sandboxEffects(t, simURL), killedAt.Sub(start).Round(time.Millisecond), inFlight)

	<-loadDone
	postedIn := time.Since(start)
	accepted := load.acceptedIDs()
	if len(accepted) != total {
		t.Fatalf("accepted %d of %d Patients (statuses %v, %d transport errors)", len(accepted), total, load.statuses, load.errors)
	}
	waitEffects(t, simURL, total, 120*time.Second)
	deliveredIn := time.Since(start)
	// Give a stray duplicate (a rescued job sent again) a moment to land.
	waitAllJobsFinal(t, db, 30*time.Second)
	time.Sleep(time.Second)

	checkDeliveredOnce(t, simURL, accepted)
	checkTransfersDelivered(t, token, accepted, apis[0].url, apis[1].url)

	// Every delivery job completed, worked only by the two workers.
	deliver := riverJobs(t, db, `kind = 'switchboard.deliver'`)
	if len(deliver) != total {
		t.Errorf("%d delivery jobs, want %d", len(deliver), total)
	}
	rescued := 0
	for _, j := range deliver {
		if j.state != "completed" {
			t.Errorf("delivery job %d is %s", j.id, j.state)
		}
		for _, by := range j.attemptedBy {
			if workerIDs[by] == nil {
				t.Errorf("delivery job %d was worked by %q, not a worker process", j.id, by)
			}
		}
		if len(j.attemptedBy) > 1 {
			rescued++
		}
	}
	if inFlight > 0 && rescued == 0 {
		t.Errorf("%d jobs were running on the killed worker, but no job was worked twice (no rescue)", inFlight)
	}
	// The API processes never started River's producers or delivered.
	for _, a := range apis {
		if n := a.countLog(t, "River client started"); n != 0 {
			t.Errorf("%s (role api) started River's workers", a.name)
		}
		if n := a.countLog(t, "delivered"); n != 0 {
			t.Errorf("%s (role api) logged %d deliveries", a.name, n)
		}
		if n := a.countLog(t, "transfer accepted"); n == 0 {
			t.Errorf("%s accepted nothing: the load did not go through both APIs", a.name)
		}
	}
	for _, w := range workers {
		if n := w.countLog(t, "transfer accepted"); n != 0 {
			t.Errorf("%s (role worker) accepted %d transfers", w.name, n)
		}
	}

	// Periodic jobs: the poll runs once per tick cluster-wide, worked by
	// one process, and keeps running after the leader is killed (once the
	// dead leader's lease has run out).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if queryInt(t, db, `SELECT count(*) FROM river_job WHERE kind = 'switchboard.poll' AND state = 'completed' AND created_at > $1`, killedAt) >= 2 {
			break
		}
	}
	// Stop the survivor (a drain: exit 0) so that no poll is half-way
	// through while they are judged.
	survivor := workerIDs[survivorID]
	if err := survivor.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := survivor.cmd.Wait(); err != nil {
		t.Errorf("%s after SIGTERM: %v, want exit status 0", survivor.name, err)
	}
	polls := riverJobs(t, db, `kind = 'switchboard.poll'`)
	afterKill := 0
	for i, j := range polls {
		// The last tick may have been inserted and not yet fetched when
		// the survivor stopped.
		last := i == len(polls)-1 && j.state == "available" && len(j.attemptedBy) == 0
		if j.state != "completed" && !last {
			t.Errorf("poll job %d is %s", j.id, j.state)
		}
		if last {
			continue
		}
		if len(j.attemptedBy) != 1 && !(len(j.attemptedBy) == 2 && j.attemptedBy[0] == leader) {
			t.Errorf("poll job %d was worked by %v, want one process", j.id, j.attemptedBy)
		}
		for _, by := range j.attemptedBy {
			if workerIDs[by] == nil {
				t.Errorf("poll job %d was worked by %q, not a worker process", j.id, by)
			}
		}
		if i > 0 {
			// Two leaders, or one enqueuing twice, would put two jobs in
			// one tick.
			if gap := j.createdAt.Sub(polls[i-1].createdAt); gap < pollTick/2 {
				t.Errorf("poll jobs %d and %d were inserted %v apart: more than one per %v tick", polls[i-1].id, j.id, gap, pollTick)
			}
		}
		if j.createdAt.After(killedAt) {
			afterKill++
			if j.attemptedBy[len(j.attemptedBy)-1] != survivorID {
				t.Errorf("poll job %d inserted after the kill was worked by %v, not the survivor", j.id, j.attemptedBy)
			}
		}
	}
	if len(polls) < 4 {
		t.Errorf("%d poll jobs ran, want several (one per %v)", len(polls), pollTick)
	}
	if afterKill == 0 {
		t.Errorf("no poll ran after the leader was killed: leadership did not move to the survivor")
	}
	// The hourly purge ran once, though each leader enqueues it on
	// election: once per clock hour cluster-wide (a run that crosses the
	// hour may see two).
	purges := riverJobs(t, db, `kind = 'switchboard.purge'`)
	hours := map[time.Time]int{}
	for _, j := range purges {
		hours[j.createdAt.UTC().Truncate(time.Hour)]++
	}
	for h, n := range hours {
		if n != 1 {
			t.Errorf("%d purge jobs in the hour from %v, want 1 cluster-wide", n, h)
		}
	}
	if len(purges) == 0 {
		t.Error("the purge job never ran")
	}
	t.Logf("scale-out: %d Patients posted through 2 APIs in %v (%.0f/s); all delivered by 2 workers (one killed) in %v (%.0f/s); %d jobs rescued; %d polls (%d after the kill)",
		total, postedIn.Round(time.Millisecond), float64(total)/postedIn.Seconds(), deliveredIn.Round(time.Millisecond),
		float64(total)/deliveredIn.Seconds(), rescued, len(polls), afterKill)
}

// waitAllJobsFinal waits until no delivery job is left to work.
func waitAllJobsFinal(t *testing.T, db *pgx.Conn, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := queryInt(t, db, `SELECT count(*) FROM river_job WHERE kind = 'switchboard.deliver' AND state NOT IN ('completed', 'cancelled', 'discarded')`)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d delivery jobs still unfinished after %v", n, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
