package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/switchboard-health/switchboard/connectors/calcom"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// webhookKillRoutes: Cal.com webhooks accepted at /webhooks/scheduling,
// Appointments routed to the EHR sandbox.
const webhookKillRoutes = `destinations:
  ehr:
    type: fhir
    rate_limit: {per_second: 1000000, burst: 1000000}
    max_workers: 4
    config: {base_url: %q}
  scheduling:
    type: calcom
    config: {base_url: %q, api_key_env: CALCOM_API_KEY, event_type_id: 1001, time_zone: UTC, slot_minutes: 30,
      webhook_secrets_env: [CALCOM_WEBHOOK_SECRET]}
routes:
  - {resource: Appointment, to: [ehr]}
`

const (
	webhookKillSecret = "whsec_kill_test_calcom"
	bookingSystem     = "https://switchboard.health/id/calcom-booking"
	deliverKind       = "switchboard.deliver"
	webhookKind       = "switchboard.webhook"
)

// A Cal.com BOOKING_CREATED webhook is acknowledged (200), the hub is
// SIGKILLed before the work it stands for is done, and restarted on the
// same database: the EHR ends up with exactly one Appointment for the
// booking, and a re-send of the webhook after the restart changes nothing.
func TestWebhookSIGKILLBetweenAckAndCompletionEffectOnce(t *testing.T) {
	cases := []struct {
		name string
		// waitForKill waits for the moment to SIGKILL the hub.
		waitForKill func(t *testing.T, db hubDB)
		// inFlight: the EHR must show a request the kill cut off (logged
		// with status 499 when the client leaves during the latency).
		inFlight bool
	}{
		{
			// The kill lands right after the 200: the webhook job is
			// available or running, or its delivery just started.
			name:        "right after the ack",
			waitForKill: func(*testing.T, hubDB) {},
		},
		{
			// The webhook job has routed the booking and the delivery job
			// is running against the (slow) EHR: the request is in flight.
			name: "delivery in flight at the EHR",
			waitForKill: func(t *testing.T, db hubDB) {
				deadline := time.Now().Add(20 * time.Second)
				for db.jobs(t)[deliverKind+"/running"] == 0 {
					if time.Now().After(deadline) {
						t.Fatalf("no delivery job started running within 20s: %v", db.jobs(t))
					}
					time.Sleep(20 * time.Millisecond)
				}
				// Let the job's HTTP request reach the EHR and sit in its latency.
				time.Sleep(300 * time.Millisecond)
			},
			inFlight: true,
		},
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		for i, c := range cases {
			t.Run(dialect+"/"+c.name, func(t *testing.T) {
				webhookKillAndRestart(t, dialect, fmt.Sprintf("killuid%s%d", dialect, i), c.waitForKill, c.inFlight)
			})
		}
	}
}

func webhookKillAndRestart(t *testing.T, dialect, uid string, waitForKill func(*testing.T, hubDB), inFlight bool) {
	began := time.Now()
	hubBin, simBin := binaries(t)
	dir := t.TempDir()
	simPort, calPort, hubPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	simURL := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	hubURL := fmt.Sprintf("http://127.0.0.1:%d", hubPort)

	startProc(t, filepath.Join(dir, "vendorsim.log"), nil, simBin,
		"-addr", fmt.Sprintf("127.0.0.1:%d", simPort), "-calcom-addr", fmt.Sprintf("127.0.0.1:%d", calPort))
	waitHTTP(t, simURL+"/_sandbox/stats", 10*time.Second)
	// Every FHIR request sits 10s at the EHR (longer than a delivery try),
	// so nothing reaches it before the kill.
	setFaults(t, simURL, `{"latency_ms": 10000}`)

	routes := fmt.Sprintf(webhookKillRoutes, simURL+"/fhir/R4", fmt.Sprintf("http://127.0.0.1:%d", calPort))
	if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "var", "switchboard.db")
	env := []string{
		"SWITCHBOARD_ADDR=127.0.0.1:" + fmt.Sprint(hubPort),
		"SWITCHBOARD_ROUTES=" + filepath.Join(dir, "routes.yaml"),
		"SWITCHBOARD_RETRY_BASE=200ms",
		// The load is one client and one webhook source: out of reach of
		// the inbound limits, which are not what is tested here.
		"SWITCHBOARD_CLIENT_RATE=1000000", "SWITCHBOARD_CLIENT_BURST=1000000",
		"SWITCHBOARD_WEBHOOK_RATE=1000000", "SWITCHBOARD_WEBHOOK_BURST=1000000",
		"SWITCHBOARD_DELIVERY_TIMEOUT=3s",
		"SWITCHBOARD_RESCUE_AFTER=3s",
		"SWITCHBOARD_DEV_KEYS=" + filepath.Join(dir, "dev-keys.env"),
		"SWITCHBOARD_SQLITE_PATH=" + dbPath,
		"CALCOM_API_KEY=cal_test_sandbox",
		"CALCOM_WEBHOOK_SECRET=" + webhookKillSecret,
	}
	db := hubDB{driver: "sqlite", dsn: "file:" + dbPath + "?_pragma=busy_timeout(10000)"}
	if dialect == "postgres" {
		pg := testenv.Postgres(t)
		s, m, _ := config.NewKeySpecs(time.Now())
		env = append(env, "DATABASE_URL="+pg, "SWITCHBOARD_SEAL_KEYS="+s, "SWITCHBOARD_HMAC_KEY="+m)
		db = hubDB{driver: "pgx", dsn: pg}
	}
	hubLog := filepath.Join(dir, "hub.log")
	first := startProc(t, hubLog, env, hubBin, "serve")
	waitHTTP(t, hubURL+"/readyz", 30*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(hubLog)
			t.Logf("hub log:\n%s", b)
		}
	})

	sample, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "testdata", "mappings", "calcom", "webhook", "webhook-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	booking := bytes.ReplaceAll(sample, []byte("wh7Nq2xVbR4kT9aLs"), []byte(uid))
	if bytes.Equal(booking, sample) {
		t.Fatal("the sample booking's uid was not found to replace")
	}

	// The webhook: 200 means it is stored with its job.
	if code, outcome := postCalWebhook(t, hubURL, booking); code != http.StatusOK || outcome != "accepted" {
		t.Fatalf("webhook: %d %q, want 200 accepted", code, outcome)
	}
	acked := time.Now()
	waitForKill(t, db)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	killed := time.Now()
	atKill := db.jobs(t)
	t.Logf("%s: SIGKILL %s after the 200; jobs at the kill: %v", dialect, killed.Sub(acked).Round(time.Millisecond), atKill)
	if atKill[webhookKind+"/available"]+atKill[webhookKind+"/running"]+atKill[deliverKind+"/available"]+
		atKill[deliverKind+"/running"]+atKill[deliverKind+"/retryable"] == 0 {
		t.Fatalf("no webhook or delivery work was left at the kill; the test proves nothing: %v", atKill)
	}
	if ev := ehrEvidence(t, simURL, "Appointment"); ev.effects != 0 {
		t.Fatalf("the EHR already had %d Appointment effects at the kill; the test proves nothing (raise the latency)", ev.effects)
	}

	if inFlight {
		// The EHR logs the cut-off request once it notices the client gone.
		deadline := time.Now().Add(5 * time.Second)
		for ehrEvidence(t, simURL, "Appointment").cutOff == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the EHR saw no request cut off by the kill; the delivery was not in flight")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Restart on the same database with a healthy EHR.
	setFaults(t, simURL, `{"latency_ms": 0}`)
	startProc(t, hubLog, env, hubBin, "serve")
	waitHTTP(t, hubURL+"/readyz", 30*time.Second)
	restarted := time.Now()

	deadline := time.Now().Add(90 * time.Second)
	for ehrEvidence(t, simURL, "Appointment").created == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no Appointment at the EHR 90s after the restart; jobs: %v", db.jobs(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
	delivered := time.Now()
	// The work is finished: no job left to run that could add an effect.
	for {
		j := db.jobs(t)
		if j[webhookKind+"/completed"] == 1 && j[deliverKind+"/completed"] >= 1 && pendingJobs(j) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not all completed: %v", j)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Give any stray duplicate a moment to show up before judging.
	time.Sleep(time.Second)
	assertOneAppointment(t, simURL, uid, "after the restart")

	// The same webhook again, as Cal.com would re-send it: acknowledged as a
	// duplicate, no new effect.
	if code, outcome := postCalWebhook(t, hubURL, booking); code != http.StatusOK || outcome != "duplicate" {
		t.Fatalf("re-sent webhook: %d %q, want 200 duplicate", code, outcome)
	}
	time.Sleep(1500 * time.Millisecond)
	assertOneAppointment(t, simURL, uid, "after the re-send")
	if j := db.jobs(t); j[webhookKind+"/completed"] != 1 || pendingJobs(j) != 0 {
		t.Fatalf("after the re-send: jobs %v, want the one webhook job, nothing pending", j)
	}
	if rows := db.count(t, `SELECT outcome, COUNT(*) FROM switchboard_webhook GROUP BY outcome`); rows["accepted"] != 1 || rows["duplicate"] != 1 {
		t.Fatalf("webhook rows %v, want 1 accepted and 1 duplicate", rows)
	}
	b, _ := os.ReadFile(hubLog)
	if strings.Contains(string(b), "Robin Fakename") || strings.Contains(string(b), "Zzclinical") {
		t.Fatal("the booking's content reached the hub's log")
	}
	t.Logf("%s: restart ready %s after the kill, Appointment at the EHR %s after the restart (%s in all)",
		dialect, restarted.Sub(killed).Round(time.Millisecond), delivered.Sub(restarted).Round(time.Millisecond),
		time.Since(began).Round(time.Millisecond))
}

func postCalWebhook(t *testing.T, hubURL string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, hubURL+"/webhooks/scheduling", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(calcom.SignatureHeader, calcom.SignWebhook(webhookKillSecret, body))
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Outcome string `json:"outcome"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Outcome
}

// assertOneAppointment: one Appointment creation at the EHR, no other
// Appointment write, no duplicate effect, and one Appointment found by the
// booking's identifier.
func assertOneAppointment(t *testing.T, simURL, uid, when string) {
	t.Helper()
	ev := ehrEvidence(t, simURL, "Appointment")
	if ev.created != 1 || ev.effects != 1 || ev.duplicates != 0 {
		t.Fatalf("%s: EHR has %d Appointment creations, %d Appointment effects, %d duplicate effects; want 1, 1, 0",
			when, ev.created, ev.effects, ev.duplicates)
	}
	q := url.Values{"identifier": {bookingSystem + "|" + uid}}
	resp, err := http.Get(simURL + "/fhir/R4/Appointment?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var bundle struct {
		Entry []json.RawMessage `json:"entry"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&bundle); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: search the EHR by booking: %d %v", when, resp.StatusCode, err)
	}
	if len(bundle.Entry) != 1 {
		t.Fatalf("%s: the EHR has %d Appointments for the booking, want 1", when, len(bundle.Entry))
	}
}

type ehrCounts struct{ created, effects, duplicates, cutOff int }

// ehrEvidence counts the EHR sandbox's creations, effects (created or
// updated) and requests cut off by the client leaving (499) on one
// resource type, and its duplicate effects overall.
func ehrEvidence(t *testing.T, simURL, resourceType string) ehrCounts {
	t.Helper()
	resp, err := http.Get(simURL + "/_sandbox/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Requests []struct {
			Path   string `json:"path"`
			Status int    `json:"status"`
			Effect string `json:"effect"`
		} `json:"requests"`
		DuplicateEffects int `json:"duplicate_effects"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	c := ehrCounts{duplicates: l.DuplicateEffects}
	prefix := "/fhir/R4/" + resourceType
	for _, r := range l.Requests {
		if r.Path != prefix && !strings.HasPrefix(r.Path, prefix+"/") {
			continue
		}
		if r.Status == 499 {
			c.cutOff++
		}
		switch r.Effect {
		case "created":
			c.created++
			c.effects++
		case "updated":
			c.effects++
		}
	}
	return c
}

// hubDB reads the hub's database (River's jobs, the webhook table) from
// outside the process, as evidence of where the work stands.
type hubDB struct{ driver, dsn string }

// jobs counts River jobs by "kind/state".
func (d hubDB) jobs(t *testing.T) map[string]int {
	t.Helper()
	return d.count(t, `SELECT kind || '/' || CAST(state AS TEXT), COUNT(*) FROM river_job GROUP BY kind, state`)
}

func (d hubDB) count(t *testing.T, q string) map[string]int {
	t.Helper()
	db, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("hub database: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pendingJobs counts webhook and delivery jobs not yet final.
func pendingJobs(j map[string]int) int {
	n := 0
	for _, kind := range []string{webhookKind, deliverKind} {
		for _, s := range []string{"available", "running", "retryable", "scheduled", "pending"} {
			n += j[kind+"/"+s]
		}
	}
	return n
}
