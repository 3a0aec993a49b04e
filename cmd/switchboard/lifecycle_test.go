package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// A hub under steady load, delivering to a slow vendor, is sent SIGTERM: it
// exits 0 within SWITCHBOARD_SHUTDOWN_TIMEOUT and leaves no job 'running'
// for River to rescue later. Deliveries that can finish before the deadline
// do (they are drained, not cancelled); those that cannot are handed back
// to the queue. Once a process is started again every accepted Patient
// reaches the EHR exactly once.
func TestSIGTERMUnderLoadDrainsWithinDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		latency time.Duration // the vendor's answer time
		// finish: the jobs running at SIGTERM complete before the exit.
		finish bool
	}{
		{"vendor answers within the drain", 1200 * time.Millisecond, true},
		{"vendor slower than the drain", 4 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) { sigtermUnderLoad(t, tc.latency, tc.finish) })
	}
}

func sigtermUnderLoad(t *testing.T, latency time.Duration, finish bool) {
	const (
		shutdown = 3 * time.Second
		slack    = 2 * time.Second
	)
	hubBin, simBin := binaries(t)
	dir := t.TempDir()
	dbURL := testenv.Postgres(t)

	simURL := startSim(t, simBin, dir)
	setFaults(t, simURL, fmt.Sprintf(`{"latency_ms": %d}`, latency.Milliseconds()))

	routes := fmt.Sprintf("destinations:\n  ehr:\n    type: fhir\n    rate_limit: {per_second: 1000000, burst: 1000000}\n    max_workers: 16\n    config: {base_url: %q}\nroutes:\n  - {resource: Patient, to: [ehr]}\n", simURL+"/fhir/R4")
	env := pgHubEnv(t, dir, dbURL, routes,
		"SWITCHBOARD_AUTO_MIGRATE=true",
		"SWITCHBOARD_SHUTDOWN_TIMEOUT="+shutdown.String(),
		"SWITCHBOARD_DELIVERY_TIMEOUT=10s",
		"SWITCHBOARD_RESCUE_AFTER=15s")
	hub := startHub(t, hubBin, dir, "hub", "all", env)
	token := createClient(t, hubBin, env, "system/Patient.c")
	db := pgConnect(t, dbURL)

	load := newPatientLoad("term", token, hub.url)
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); load.run(8, 0, stop, nil) }()

	// Wait until the workers are all busy at the vendor.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if queryInt(t, db, `SELECT count(*) FROM river_job WHERE state = 'running'`) >= 16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the workers were not all busy after 20s of load")
		}
	}
	time.Sleep(300 * time.Millisecond)
	running := riverJobs(t, db, `state = 'running'`)

	exited := make(chan error, 1)
	sent := time.Now()
	if err := hub.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- hub.cmd.Wait() }()
	select {
	case err := <-exited:
		took := time.Since(sent)
		if err != nil {
			t.Errorf("after SIGTERM the hub exited with %v, want status 0", err)
		}
		t.Logf("SIGTERM with %d deliveries running (vendor latency %v): exited %d after %v (deadline %v)",
			len(running), latency, hub.cmd.ProcessState.ExitCode(), took.Round(time.Millisecond), shutdown)
	case <-time.After(shutdown + slack):
		t.Fatalf("the hub did not exit within %v of SIGTERM (SWITCHBOARD_SHUTDOWN_TIMEOUT=%v)", shutdown+slack, shutdown)
	}
	close(stop)
	<-loadDone

	if n := queryInt(t, db, `SELECT count(*) FROM river_job WHERE state = 'running'`); n != 0 {
		t.Errorf("%d jobs left 'running' after the drain: River would rescue them only after SWITCHBOARD_RESCUE_AFTER", n)
	}
	// What became of the jobs that were running at SIGTERM.
	states := map[string]int{}
	for _, j := range running {
		states[riverJobs(t, db, `id = $1`, j.id)[0].state]++
	}
	t.Logf("jobs running at SIGTERM are now: %v", states)
	if finish && states["completed"] != len(running) {
		t.Errorf("the vendor answers within the drain deadline, yet of %d jobs running at SIGTERM only %d completed (%v): the drain cancelled them",
			len(running), states["completed"], states)
	}
	if hub.countLog(t, "switchboard stopped") != 1 {
		t.Error("the hub did not log that it stopped")
	}
	if len(load.acceptedIDs()) == 0 {
		t.Fatal("nothing was accepted")
	}

	setFaults(t, simURL, `{"latency_ms": 0}`)
	again := startHub(t, hubBin, dir, "hub-again", "all", env)
	// What the closed listener refused is sent again, as a client would.
	retried := load.retryFailed(t, again.url)
	accepted := load.acceptedIDs()
	waitEffects(t, simURL, len(accepted), 60*time.Second)
	waitAllJobsFinal(t, db, 30*time.Second)
	time.Sleep(time.Second)
	checkDeliveredOnce(t, simURL, accepted)
	checkTransfersDelivered(t, token, accepted, again.url)
	t.Logf("%d Patients accepted (statuses %v; %d transport errors after the listener closed, %d retried after the restart), all delivered once",
		len(accepted), load.statuses, load.errors, retried)
}

// PostgreSQL goes away for 20 seconds under load and comes back: stopped
// (connections refused), or cut off by a network partition (connections
// hang). Meanwhile the API answers every write promptly with 503, an
// OperationOutcome and Retry-After, and /readyz says 503; afterwards,
// without restarting any process, writes are accepted again and everything
// accepted reaches the EHR exactly once.
func TestPostgresOutageUnderLoad(t *testing.T) {
	t.Run("stopped", func(t *testing.T) {
		// This test's own cluster: stopping the shared one would fail every
		// other test using it.
		pg := startOwnPostgres(t)
		postgresOutage(t, "postgres-stopped", pg.url, func() { pg.stop(t) }, func() { pg.start(t) })
	})
	t.Run("partitioned", func(t *testing.T) {
		px := startPGProxy(t, testenv.Postgres(t))
		postgresOutage(t, "postgres-partitioned", px.url, px.cut, px.heal)
	})
}

// scenario names its figures in the fault suite (chaos_test.go).
func postgresOutage(t *testing.T, scenario, dbURL string, down, up func()) {
	const (
		outage   = 20 * time.Second
		prompt   = 6500 * time.Millisecond // SWITCHBOARD_DB_TIMEOUT (5s) plus a little
		recovery = 30 * time.Second
	)
	hubBin, simBin := binaries(t)
	dir := t.TempDir()

	simURL := startSim(t, simBin, dir)
	setFaults(t, simURL, `{"latency_ms": 10}`)

	routes := fmt.Sprintf("destinations:\n  ehr:\n    type: fhir\n    rate_limit: {per_second: 1000000, burst: 1000000}\n    max_workers: 8\n    config: {base_url: %q}\nroutes:\n  - {resource: Patient, to: [ehr]}\n", simURL+"/fhir/R4")
	env := pgHubEnv(t, dir, dbURL, routes)
	migrate(t, hubBin, env)
	token := createClient(t, hubBin, env, "system/Patient.c")
	api := startHub(t, hubBin, dir, "api", "api", env)
	worker := startHub(t, hubBin, dir, "worker", "worker", env)

	var mu sync.Mutex
	type answer struct {
		postResult
		at time.Time // when the request was sent
	}
	var answers []answer
	load := newPatientLoad("outage", token, api.url)
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		load.run(8, 0, stop, func(r postResult) {
			mu.Lock()
			answers = append(answers, answer{postResult: r, at: time.Now().Add(-r.took)})
			mu.Unlock()
		})
	}()
	waitEffects(t, simURL, 500, 30*time.Second)

	down()
	downAt := time.Now()
	// /readyz says the database is gone, on both processes, promptly.
	for _, h := range []*hubProc{api, worker} {
		waitStatus(t, h.url+"/readyz", http.StatusServiceUnavailable, 10*time.Second)
	}
	time.Sleep(time.Until(downAt.Add(outage)))
	for _, h := range []*hubProc{api, worker} {
		if code, took := getStatus(h.url + "/readyz"); code != http.StatusServiceUnavailable || took > 3*time.Second {
			t.Errorf("%s /readyz with the database down: %d after %v, want 503 within 3s", h.name, code, took)
		}
	}
	upAt := time.Now()
	up()
	for _, h := range []*hubProc{api, worker} {
		waitStatus(t, h.url+"/readyz", http.StatusOK, recovery)
	}
	t.Logf("database down %v; /readyz 200 again %v after it was started", upAt.Sub(downAt).Round(time.Millisecond), time.Since(upAt).Round(time.Millisecond))
	figure(t, scenario, "database unreachable for", secs(upAt.Sub(downAt)), "s")
	figure(t, scenario, "/readyz 200 again after the database returned", secs(time.Since(upAt)), "s")
	// Writes are accepted again without restarting anything.
	waitAccepted := time.Now().Add(recovery)
	for {
		mu.Lock()
		ok := 0
		for _, a := range answers {
			if a.at.After(upAt) && a.status == http.StatusAccepted {
				ok++
			}
		}
		mu.Unlock()
		if ok >= 200 {
			break
		}
		if time.Now().After(waitAccepted) {
			t.Fatalf("only %d writes accepted within %v of the database's return", ok, recovery)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-loadDone

	// Judge every write sent while the database was down.
	mu.Lock()
	during, slowest := 0, time.Duration(0)
	statuses := map[int]int{}
	var transport []error
	for _, a := range answers {
		if a.err != nil {
			transport = append(transport, a.err)
			continue
		}
		end := a.at.Add(a.took)
		if end.Before(downAt) || !a.at.Before(upAt) {
			continue // answered before the outage, or sent after it
		}
		// Every write in flight during the outage is answered promptly,
		// including those it caught half-way.
		slowest = max(slowest, a.took)
		if a.took > prompt {
			t.Errorf("a write in flight during the outage took %v to answer, want under %v", a.took, prompt)
		}
		if a.at.Before(downAt) || end.After(upAt) {
			continue // either answer is right at the edges
		}
		during++
		statuses[a.status]++
		if a.status != http.StatusServiceUnavailable {
			t.Errorf("a write sent with the database down answered %d, want 503", a.status)
			continue
		}
		if a.retryAfter == "" {
			t.Error("a 503 during the outage has no Retry-After")
		}
		var oo struct {
			ResourceType string `json:"resourceType"`
			Issue        []struct {
				Code string `json:"code"`
			} `json:"issue"`
		}
		if err := json.Unmarshal(a.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 || oo.Issue[0].Code != "transient" {
			t.Errorf("a 503 during the outage is not a transient OperationOutcome: %s", a.body)
		}
	}
	mu.Unlock()
	if len(transport) > 0 {
		t.Errorf("%d writes got no HTTP answer (first: %v)", len(transport), transport[0])
	}
	if during < 20 {
		t.Errorf("only %d writes were answered during the outage; the test proves little", during)
	}
	t.Logf("during the %v outage: %d writes answered %v, slowest %v", outage, during, statuses, slowest.Round(time.Millisecond))
	figure(t, scenario, "writes answered during the outage", float64(during), "writes")
	figure(t, scenario, "of them answered 503 with Retry-After", float64(statuses[http.StatusServiceUnavailable]), "writes")
	figure(t, scenario, "slowest answer to a write during the outage", float64(slowest.Milliseconds()), "ms")

	for _, h := range []*hubProc{api, worker} {
		if h.cmd.ProcessState != nil {
			t.Fatalf("%s exited during the outage", h.name)
		}
	}
	// The writes refused during the outage are sent again, as Retry-After
	// tells a client to: each is accepted once, whether or not an earlier
	// try had in fact been stored.
	retried := load.retryFailed(t, api.url)
	accepted := load.acceptedIDs()
	waitEffects(t, simURL, len(accepted), 90*time.Second)
	time.Sleep(time.Second)
	checkDeliveredOnce(t, simURL, accepted)
	checkTransfersDelivered(t, token, accepted, api.url)
	_, keys, dup := created(t, simURL)
	lost := 0
	for _, id := range accepted {
		if keys["sb-"+id+"-0-ehr"] == 0 {
			lost++
		}
	}
	figure(t, scenario, "writes accepted", float64(len(accepted)), "writes")
	figure(t, scenario, "refused during the outage and sent again after it", float64(retried), "writes")
	figure(t, scenario, "accepted writes lost", float64(lost), "writes")
	figure(t, scenario, "duplicate effects at the vendor", float64(dup), "effects")
	t.Logf("%d Patients accepted (statuses %v, %d retried after the outage), all delivered once after the database returned",
		len(accepted), load.statuses, retried)
}

// getStatus GETs url and reports the status (0 on a transport error) and
// how long the answer took.
func getStatus(url string) (int, time.Duration) {
	start := time.Now()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, time.Since(start)
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// waitStatus waits until GET url answers want.
func waitStatus(t *testing.T, url string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, _ := getStatus(url)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d, want %d within %v", url, code, want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownPostgres is a PostgreSQL cluster this test alone uses, so that it can
// be stopped and started again on the same port.
type ownPostgres struct {
	dir, url string
	port     int
	pgCtl    string
	asPG     []string // runuser prefix when running as root
}

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	script, err := filepath.Abs("../../scripts/pg.sh")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: as root, the postgres user must reach the folder, and
	// the test's temp dir is private.
	dir, err := os.MkdirTemp("", "switchboard-outage-pg.")
	if err != nil {
		t.Fatal(err)
	}
	p := &ownPostgres{dir: dir}
	t.Cleanup(func() {
		_ = exec.Command("bash", script, "stop", dir).Run()
		_ = os.RemoveAll(dir)
	})
	out, err := exec.Command("bash", script, "start", dir).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("scripts/pg.sh start: %v\n%s", err, stderr)
	}
	p.url = strings.TrimSpace(string(out))
	b, err := os.ReadFile(filepath.Join(dir, "port"))
	if err != nil {
		t.Fatal(err)
	}
	if p.port, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		t.Fatal(err)
	}
	p.pgCtl = findPGCtl(t)
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			t.Fatal("running as root needs the postgres OS user")
		}
		p.asPG = []string{"runuser", "-u", "postgres", "--"}
	}
	return p
}

func (p *ownPostgres) run(t *testing.T, args ...string) {
	t.Helper()
	args = append(append(append([]string(nil), p.asPG...), p.pgCtl), args...)
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "pg.log"))
		t.Fatalf("%s: %v\n%s\n%s", strings.Join(args, " "), err, out.Bytes(), log)
	}
}

// stop is a fast shutdown: clients are disconnected, open transactions
// rolled back.
func (p *ownPostgres) stop(t *testing.T) {
	t.Helper()
	p.run(t, "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "stop")
}

// start starts it again on the same port, with scripts/pg.sh's settings.
func (p *ownPostgres) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c max_connections=300"+
		" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -p %d", filepath.Join(p.dir, "sock"), p.port)
	p.run(t, "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "pg.log"), "-w", "-t", "60", "-o", opts, "start")
}

// findPGCtl finds pg_ctl as scripts/pg.sh does: on PATH, else the newest
// /usr/lib/postgresql/*/bin.
func findPGCtl(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi > vj
	})
	if len(matches) == 0 {
		t.Fatal("pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
	}
	return matches[0]
}

// pgProxy stands between the hub and PostgreSQL as a network would. cut
// partitions it: bytes stop flowing both ways and new connections are
// accepted but never answered, so the hub's connections hang rather than
// fail. heal resets every connection made before or during the partition
// (as TCP does once a partition outlasts its timers) and forwards again.
type pgProxy struct {
	url    string
	ln     net.Listener
	target string

	mu    sync.Mutex
	gate  chan struct{} // closed while the network is up
	conns []net.Conn
}

func startPGProxy(t *testing.T, dbURL string) *pgProxy {
	t.Helper()
	u, err := neturl.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: u.Host, gate: make(chan struct{})}
	close(p.gate)
	u.Host = ln.Addr().String()
	p.url = u.String()
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.reset()
	})
	return p
}

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		gate := p.gate
		p.mu.Unlock()
		go func() {
			<-gate // a connection made during a partition waits; heal resets it
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go p.pipe(up, c)
			p.pipe(c, up)
		}()
	}
}

// pipe copies from src to dst, holding each chunk while the network is cut.
func (p *pgProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			<-gate
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

func (p *pgProxy) heal() {
	p.reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.gate)
}

func (p *pgProxy) reset() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
