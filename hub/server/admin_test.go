package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// adminRoutes sends Patients to the EHR sandbox alone.
const adminRoutes = `destinations:
  ehr:
    type: fhir
    config: {base_url: %[1]q}
    max_attempts: 3
routes:
  - {resource: Patient, to: [ehr]}
`

// TestFailedSyncsReplayedOnce is issue 4's acceptance: the EHR rejects 50
// deliveries permanently, then is fixed; a bulk replay by filter delivers
// all 50, each exactly once; the transfer log shows the failures, who
// replayed, and the successes, and verifies; no canary reaches the log, the
// exports or the admin API's answers.
func TestFailedSyncsReplayedOnce(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			h := startWith(t, d, adminRoutes)
			locs, canaries := h.failFifty()
			const n = 50
			// The admin sees 50 failures, page by page.
			var ids []string
			cursor := ""
			for page := 0; ; page++ {
				r := h.as(h.adminToken, http.MethodGet, "/admin/failures?destination=ehr&limit=20&cursor="+cursor, "")
				var p struct {
					Items []struct {
						ID         string `json:"id"`
						HTTPStatus int    `json:"http_status"`
						Payload    string `json:"payload"`
					} `json:"items"`
					Next string `json:"next"`
				}
				h.decode(r, http.StatusOK, &p)
				for _, it := range p.Items {
					if it.HTTPStatus != 422 || it.Payload != "kept" {
						t.Fatalf("failure %s: status %d payload %s", it.ID, it.HTTPStatus, it.Payload)
					}
					ids = append(ids, it.ID)
				}
				h.noCanary(r.body, canaries)
				if cursor = p.Next; cursor == "" {
					break
				}
			}
			if len(ids) != n {
				t.Fatalf("listed %d failures, want %d", len(ids), n)
			}
			detail := h.as(h.adminToken, http.MethodGet, "/admin/failures/"+ids[0], "")
			if detail.status != http.StatusOK || !strings.Contains(string(detail.body), `"history"`) {
				t.Fatalf("detail: %d %s", detail.status, detail.body)
			}
			h.noCanary(detail.body, canaries)
			dry := h.as(h.adminToken, http.MethodPost, "/admin/failures/"+ids[0]+"/replay?dry_run=true", "")
			if dry.status != http.StatusOK || !strings.Contains(string(dry.body), `"Patient.name"`) {
				t.Fatalf("dry run: %d %s\n%s", dry.status, dry.body, h.unhandled())
			}
			h.noCanary(dry.body, canaries)

			// Fixed: the EHR accepts again. A dry run counts, then the replay.
			h.ehrFaults(`{"fail_next": 0}`)
			var bulk struct{ Matched, Replayed, Gone int }
			h.decode(h.as(h.adminToken, http.MethodPost, "/admin/replay", `{"filter":{"destination":"ehr"},"dry_run":true}`), http.StatusOK, &bulk)
			if bulk.Matched != n || bulk.Replayed != 0 {
				t.Fatalf("dry run: %+v", bulk)
			}
			h.decode(h.as(h.adminToken, http.MethodPost, "/admin/replay", `{"filter":{"destination":"ehr"}}`), http.StatusOK, &bulk)
			if bulk.Matched != n || bulk.Replayed != n || bulk.Gone != 0 {
				t.Fatalf("replay: %+v", bulk)
			}
			h.replayedOnce(d, locs, canaries)
		})
	}
}

// failFifty makes the EHR reject the next 50 writes with a 422 and sends 50
// Patients with canary names; it returns when all 50 are failed syncs.
func (h *harness) failFifty() (locs []string, canaries [][]byte) {
	t := h.t
	t.Helper()
	const n = 50
	h.ehrFaults(`{"fail_next": 50, "fail_status": 422}`)
	for i := range n {
		name := fmt.Sprintf("Zzcanaryreplay%03d", i)
		canaries = append(canaries, []byte(name))
		r := h.post("/fhir/R4/Patient", fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":%q,"given":["Ada"]}],"birthDate":"1990-02-03"}`, name))
		if r.status != http.StatusAccepted {
			t.Fatalf("accept %d: %d %s", i, r.status, r.body)
		}
		locs = append(locs, r.header.Get("Content-Location"))
	}
	for i, loc := range locs {
		if st := h.waitFor(loc, 30*time.Second); st.State != "failed" {
			t.Fatalf("transfer %d: %s, want failed", i, st.State)
		}
	}
	return locs, canaries
}

// replayedOnce checks that the 50 transfers were delivered after a replay,
// each exactly once at the EHR, and that the transfer log shows the
// failures, who replayed and the successes, verifies, and holds no canary;
// nor do the database files or the logs.
func (h *harness) replayedOnce(dialect string, locs []string, canaries [][]byte) {
	t := h.t
	t.Helper()
	n := len(locs)
	var bulk struct{ Matched, Replayed, Gone int }
	for i, loc := range locs {
		if st := h.waitFor(loc, 30*time.Second); st.State != "delivered" {
			t.Fatalf("transfer %d after replay: %s", i, st.State)
		}
	}
	if l := h.ehrLog(); l.Effects != n || l.DuplicateEffects != 0 {
		t.Fatalf("EHR effects %d (duplicates %d), want %d once each", l.Effects, l.DuplicateEffects, n)
	}
	h.decode(h.as(h.adminToken, http.MethodPost, "/admin/replay", `{"filter":{"destination":"ehr"}}`), http.StatusOK, &bulk)
	if bulk.Matched != 0 {
		t.Fatalf("a second replay matched %d", bulk.Matched)
	}

	// The auditor's view: failures, who replayed, successes.
	if err := h.hub.Log.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	adminID := h.whoami(h.adminToken)
	count := func(query string) (rows int, actors map[string]int) {
		actors = map[string]int{}
		r := h.as(h.auditorToken, http.MethodGet, "/audit/export?format=ndjson&"+query, "")
		if r.status != http.StatusOK {
			t.Fatalf("export %s: %d %s", query, r.status, r.body)
		}
		h.noCanary(r.body, canaries)
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		for sc.Scan() {
			var row struct{ Actor string }
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("export line: %v", err)
			}
			rows++
			actors[row.Actor]++
		}
		return rows, actors
	}
	if got, actors := count("event=accepted&resource_type=Patient"); got != n || actors[clientID(h.appToken)] != n {
		t.Errorf("log: %d accepted (by %v), want %d by the app", got, actors, n)
	}
	if got, _ := count("event=delivery_attempt&outcome=failed&destination=ehr"); got != n {
		t.Errorf("log: %d failed attempts, want %d", got, n)
	}
	if got, actors := count("event=replay"); got != n || actors[adminID] != n {
		t.Errorf("log: %d replays (by %v), want %d by %s", got, actors, n, adminID)
	}
	if got, _ := count("event=delivery_attempt&outcome=delivered&destination=ehr"); got != n {
		t.Errorf("log: %d delivered attempts, want %d", got, n)
	}
	csv := h.as(h.auditorToken, http.MethodGet, "/audit/export?format=csv", "")
	if csv.status != http.StatusOK || bytes.Count(csv.body, []byte("\n")) < 3*n {
		t.Fatalf("csv export: %d, %d lines", csv.status, bytes.Count(csv.body, []byte("\n")))
	}
	h.noCanary(csv.body, canaries)
	var v struct {
		OK   bool  `json:"ok"`
		Rows int64 `json:"rows"`
	}
	h.decode(h.as(h.auditorToken, http.MethodGet, "/audit/verify", ""), http.StatusOK, &v)
	if !v.OK || v.Rows < int64(3*n) {
		t.Fatalf("verify: %+v", v)
	}
	h.assertNoCanary(dialect, canaries)
}

// as calls the hub with another caller's token.
func (h *harness) as(token, method, path, body string) response {
	h.t.Helper()
	return h.do(method, path, "application/json", body, "Authorization", "Bearer "+token)
}

func (h *harness) decode(r response, status int, v any) {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("status %d, want %d: %.300s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		h.t.Fatalf("decode: %v: %.300s", err, r.body)
	}
}

func (h *harness) whoami(token string) string {
	h.t.Helper()
	var w struct{ ID string }
	h.decode(h.as(token, http.MethodGet, "/auth/whoami", ""), http.StatusOK, &w)
	return w.ID
}

func (h *harness) noCanary(body []byte, canaries [][]byte) {
	h.t.Helper()
	for _, c := range canaries {
		if bytes.Contains(body, c) {
			h.t.Fatalf("canary %q in an answer: %.200s", c, body)
		}
	}
}

// unhandled returns the hub's "unhandled API error" log lines, for failures.
func (h *harness) unhandled() string {
	var out []string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "unhandled API error") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// clientID is the client id inside an API client token (sb_cl_<hex>_<secret>).
func clientID(token string) string {
	parts := strings.SplitN(token, "_", 4)
	return parts[1] + "_" + parts[2]
}
