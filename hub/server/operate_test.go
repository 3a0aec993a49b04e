package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// TestPauseHealthAlertsAndPurge covers the rest of the admin surface on a
// live hub: a paused destination's deliveries wait (they neither fail nor
// reach the vendor) until it is resumed; failures past the alert threshold
// send one Standard Webhooks signed, PHI-free alert; the health view counts
// the window's tries; River UI lists the failed jobs with sealed args only;
// and after the replay window the purge deletes the sealed payloads,
// records it, and a replay answers 410 Gone.
func TestPauseHealthAlertsAndPurge(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var mu sync.Mutex
	var alerts [][]byte
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v, err := webhook.NewStandard([]string{secret}, 5*time.Minute)
		if err == nil {
			_, err = v.VerifyWebhook(connectors.WebhookRequest{Method: r.Method, Header: r.Header, Body: body}, time.Now())
		}
		if err != nil {
			t.Errorf("alert signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		alerts = append(alerts, body)
		mu.Unlock()
	}))
	defer receiver.Close()
	routes := adminRoutes + `alerts:
  url: ` + receiver.URL + `
  secret_env: ALERT_SECRET_FOR_TEST
  failures: {threshold: 5, window: 15m}
  breaker_open: true
`
	h := startWithEnv(t, dialectSQLite, routes, map[string]string{"ALERT_SECRET_FOR_TEST": secret, "SWITCHBOARD_REPLAY_WINDOW": "2s"})
	ctx := context.Background()

	// Paused: the delivery waits. The pause needs the queue a worker
	// registers at start (409 until then), and reaches SQLite's workers by
	// their 2 s queue poll.
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		r := h.as(h.adminToken, http.MethodPost, "/admin/destinations/ehr/pause", "")
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusConflict || time.Since(start) > 10*time.Second {
			t.Fatalf("pause: %d %s", r.status, r.body)
		}
	}
	time.Sleep(2500 * time.Millisecond)
	r := h.post("/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"Paused"}]}`)
	loc := r.header.Get("Content-Location")
	time.Sleep(1500 * time.Millisecond)
	if st := h.waitFor(loc, 0); st.State != "in-progress" {
		t.Fatalf("paused destination: transfer %s, want in-progress", st.State)
	}
	if l := h.ehrLog(); l.Effects != 0 {
		t.Fatalf("paused destination received %d writes", l.Effects)
	}
	var health struct {
		Destinations []struct {
			Name       string   `json:"name"`
			Paused     bool     `json:"paused"`
			Breaker    string   `json:"breaker"`
			QueueDepth int      `json:"queue_depth"`
			Failed     int      `json:"failed"`
			Rate       *float64 `json:"success_rate"`
		} `json:"destinations"`
	}
	h.decode(h.as(h.adminToken, http.MethodGet, "/admin/health", ""), http.StatusOK, &health)
	if d := health.Destinations[0]; d.Name != "ehr" || !d.Paused || d.QueueDepth != 1 || d.Breaker != "closed" {
		t.Fatalf("health while paused: %+v", d)
	}
	if r := h.as(h.adminToken, http.MethodPost, "/admin/destinations/ehr/resume", ""); r.status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	if st := h.waitFor(loc, 20*time.Second); st.State != "delivered" {
		t.Fatalf("after resume: %s", st.State)
	}

	// Six permanent failures: one alert (threshold 5, one per window).
	h.ehrFaults(`{"fail_next": 6, "fail_status": 422}`)
	var locs []string
	for range 6 {
		r := h.post("/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"Zzcanaryalert"}]}`)
		locs = append(locs, r.header.Get("Content-Location"))
	}
	for _, l := range locs {
		if st := h.waitFor(l, 20*time.Second); st.State != "failed" {
			t.Fatalf("want failed, got %s", st.State)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(alerts)
		mu.Unlock()
		if n >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second alert would come now
	mu.Lock()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	var alert struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(alerts[0], &alert); err != nil || alert.Type != "destination.failures" || alert.Data["destination"] != "ehr" {
		t.Fatalf("alert: %s (%v)", alerts[0], err)
	}
	if strings.Contains(string(alerts[0]), "Zzcanary") {
		t.Fatal("canary in the alert")
	}
	mu.Unlock()
	h.decode(h.as(h.adminToken, http.MethodGet, "/admin/health", ""), http.StatusOK, &health)
	if d := health.Destinations[0]; d.Failed != 6 || d.Rate == nil || *d.Rate >= 0.5 {
		t.Fatalf("health after failures: %+v", d)
	}

	// River UI: the failed jobs are there, their args sealed.
	ui := h.as(h.adminToken, http.MethodGet, "/admin/queue/api/jobs?state=cancelled&limit=20", "")
	if ui.status != http.StatusOK || !strings.Contains(string(ui.body), `"sealed"`) || strings.Contains(string(ui.body), "Zzcanary") {
		t.Fatalf("River UI jobs: %d %.300s", ui.status, ui.body)
	}

	// River UI is for looking: its own actions would bypass the log.
	if r := h.as(h.adminToken, http.MethodPost, "/admin/queue/api/jobs/retry", `{"ids":["1"]}`); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("River UI retry: %d, want 405", r.status)
	}

	// The console's session cookie opens River UI's own page and API (a
	// browser cannot add the header to them), for an admin only.
	sess := h.as(h.adminToken, http.MethodPost, "/console/session", "")
	var cookie string
	for _, c := range (&http.Response{Header: sess.header}).Cookies() {
		if c.Name == "sb_token" && c.HttpOnly && c.SameSite == http.SameSiteStrictMode && c.Path == "/admin/queue" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if sess.status != http.StatusNoContent || cookie == "" {
		t.Fatalf("console session: %d %v", sess.status, sess.header)
	}
	if r := h.do(http.MethodGet, "/admin/queue/", "", "", "Authorization", "", "Cookie", cookie); r.status != http.StatusOK {
		t.Fatalf("River UI with the session cookie: %d", r.status)
	}
	if r := h.do(http.MethodGet, "/admin/failures", "", "", "Authorization", "", "Cookie", cookie); r.status != http.StatusUnauthorized {
		t.Fatalf("the cookie opened the admin API too: %d", r.status)
	}
	if r := h.do(http.MethodGet, "/admin/queue/", "", "", "Authorization", "", "Cookie", "sb_token="+h.auditorToken); r.status != http.StatusForbidden {
		t.Fatalf("River UI with an auditor's cookie: %d", r.status)
	}

	// After the replay window: purged, recorded, and a replay is 410.
	time.Sleep(2 * time.Second)
	n, _, err := h.hub.Admin.Purge(ctx, 0)
	if err != nil || n != 6 {
		t.Fatalf("purge: %d payloads, %v (want 6)", n, err)
	}
	var page struct {
		Items []struct{ ID, Payload string } `json:"items"`
	}
	h.decode(h.as(h.adminToken, http.MethodGet, "/admin/failures", ""), http.StatusOK, &page)
	if len(page.Items) != 6 || page.Items[0].Payload != "purged" {
		t.Fatalf("failures after purge: %+v", page.Items)
	}
	gone := h.as(h.adminToken, http.MethodPost, "/admin/failures/"+page.Items[0].ID+"/replay", "")
	if gone.status != http.StatusGone || !strings.Contains(string(gone.body), "source must send it again") {
		t.Fatalf("replay after purge: %d %s", gone.status, gone.body)
	}
	h.flushLog()
	var purges int
	if err := h.hub.Store.DB().QueryRow(ctx, `SELECT COUNT(*) FROM switchboard_log WHERE event = 'purge'`).Scan(&purges); err != nil || purges != 6 {
		t.Fatalf("purge rows: %d %v", purges, err)
	}
	var jobs int
	if err := h.hub.Store.DB().QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state = 'cancelled'`).Scan(&jobs); err != nil || jobs != 0 {
		t.Fatalf("cancelled jobs left after the purge: %d %v", jobs, err)
	}
}
