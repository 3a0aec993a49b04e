package console_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tokens the fake hub accepts.
const (
	adminToken   = "sb_cl_00000000000000a1_admin-secret"
	auditorToken = "sb_cl_00000000000000b2_auditor-secret"
)

// fakeHub is an in-memory stand-in for the hub's JSON API as CONTRACT.md
// describes it: whoami, failures, replay, health, the transfer log and its
// export. It checks the bearer token and the role like the hub, so the
// console is tested against the same 401/403 rules. It stores no payloads.
type fakeHub struct {
	mu       sync.Mutex
	failures []*fakeFailure // state "failed" only; replay and discard remove
	paused   map[string]bool
	rows     []logRow
	calls    []string      // "METHOD path?query role", for assertions
	bulks    []bulkRequest // bodies of POST /admin/replay and /admin/discard
}

// bulkRequest is the body of POST /admin/replay and /admin/discard.
type bulkRequest struct {
	Filter *failureFilter `json:"filter"`
	IDs    []string       `json:"ids"`
	DryRun bool           `json:"dry_run"`
}

type fakeFailure struct {
	ID           string `json:"id"`
	TransferID   string `json:"transfer_id"`
	Entry        int    `json:"entry"`
	Destination  string `json:"destination"`
	ResourceType string `json:"resource_type"`
	Interaction  string `json:"interaction"`
	State        string `json:"state"`
	ErrorClass   string `json:"error_class"`
	ErrorCode    string `json:"error_code,omitempty"`
	HTTPStatus   int    `json:"http_status,omitempty"`
	Attempts     int    `json:"attempts"`
	Replays      int    `json:"replays"`
	CreatedAt    string `json:"created_at"`
	FailedAt     string `json:"failed_at"`
	Payload      string `json:"payload"`
	PurgeAfter   string `json:"purge_after,omitempty"`
}

type logRow struct {
	Seq           int    `json:"seq"`
	At            string `json:"at"`
	Event         string `json:"event"`
	TransferID    string `json:"transfer_id,omitempty"`
	Direction     string `json:"direction,omitempty"`
	Source        string `json:"source,omitempty"`
	Destination   string `json:"destination,omitempty"`
	ResourceType  string `json:"resource_type,omitempty"`
	Interaction   string `json:"interaction,omitempty"`
	Outcome       string `json:"outcome,omitempty"`
	HTTPStatus    int    `json:"http_status,omitempty"`
	Attempt       int    `json:"attempt,omitempty"`
	LatencyMS     int    `json:"latency_ms,omitempty"`
	ErrorClass    string `json:"error_class,omitempty"`
	Actor         string `json:"actor,omitempty"`
	PayloadDigest string `json:"payload_digest,omitempty"`
	Hash          string `json:"hash"`
}

var fakeEpoch = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// newFakeHub holds 50 failures to ehr-epic, 10 to crm-hubspot (two of them
// purged), two destinations' health and 30 transfer log rows.
func newFakeHub() *fakeHub {
	h := &fakeHub{paused: map[string]bool{}}
	add := func(i int, dest, rtype, class string, status int, payload string) {
		at := fakeEpoch.Add(time.Duration(i) * time.Minute)
		f := &fakeFailure{
			ID:         fmt.Sprintf("tr_%04d:0:%s", i, dest),
			TransferID: fmt.Sprintf("tr_%04d", i), Destination: dest, ResourceType: rtype,
			Interaction: "update", State: "failed", ErrorClass: class, HTTPStatus: status,
			Attempts: 8, CreatedAt: at.Add(-time.Hour).Format(time.RFC3339), FailedAt: at.Format(time.RFC3339),
			Payload: payload,
		}
		if status != 0 {
			f.ErrorCode = strconv.Itoa(status)
		}
		if payload == "kept" {
			f.PurgeAfter = at.Add(7 * 24 * time.Hour).Format(time.RFC3339)
		}
		h.failures = append(h.failures, f)
	}
	for i := range 50 {
		add(i, "ehr-epic", "Patient", "http_5xx", 503, "kept")
	}
	for i := 50; i < 60; i++ {
		payload := "kept"
		if i >= 58 {
			payload = "purged"
		}
		add(i, "crm-hubspot", "Appointment", "timeout", 0, payload)
	}
	for i := range 30 {
		r := logRow{
			Seq: i + 1, At: fakeEpoch.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano),
			TransferID: fmt.Sprintf("tr_%04d", i/3), Source: "calcom", Destination: "ehr-epic",
			ResourceType: "Appointment", Interaction: "create", Direction: "outbound",
			PayloadDigest: fmt.Sprintf("sha256:%064x", i+1), Hash: fmt.Sprintf("%064x", 1000+i),
		}
		switch i % 3 {
		case 0:
			r.Event, r.Direction, r.Actor = "accepted", "inbound", "cl_00000000000000c3"
		case 1:
			r.Event, r.Outcome, r.HTTPStatus, r.Attempt, r.LatencyMS = "delivery_attempt", "delivered", 201, 1, 120
		case 2:
			r.Event, r.Outcome, r.HTTPStatus, r.Attempt, r.LatencyMS, r.ErrorClass = "delivery_attempt", "failed", 422, 1, 95, "breaker_open"
		}
		if i == 0 {
			// The widest values a hub writes: the layout must hold them.
			r.ResourceType, r.Source, r.Actor = "QuestionnaireResponse", "scheduling", "oidc:3f2b9c4e-8a1d-4f6b-9c2e-7d5a1b0e4c9f"
		}
		h.rows = append(h.rows, r)
	}
	return h
}

// routes mounts the fake API on mux.
func (h *fakeHub) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /auth/whoami", h.whoami)
	mux.HandleFunc("POST /console/session", h.role("", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	mux.HandleFunc("DELETE /console/session", h.role("", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	mux.HandleFunc("GET /admin/failures", h.role("admin", h.listFailures))
	mux.HandleFunc("GET /admin/failures/{id}", h.role("admin", h.getFailure))
	mux.HandleFunc("POST /admin/failures/{id}/replay", h.role("admin", h.replayOne))
	mux.HandleFunc("POST /admin/failures/{id}/discard", h.role("admin", h.discardOne))
	mux.HandleFunc("POST /admin/replay", h.role("admin", h.bulk("replay")))
	mux.HandleFunc("POST /admin/discard", h.role("admin", h.bulk("discard")))
	mux.HandleFunc("GET /admin/health", h.role("admin", h.health))
	mux.HandleFunc("POST /admin/destinations/{name}/{action}", h.role("admin", h.pause))
	mux.HandleFunc("GET /audit/log", h.role("auditor", h.auditLog))
	mux.HandleFunc("GET /audit/export", h.role("auditor", h.export))
	mux.HandleFunc("GET /audit/verify", h.role("auditor", h.verify))
}

func roleOf(r *http.Request) string {
	switch r.Header.Get("Authorization") {
	case "Bearer " + adminToken:
		return "admin"
	case "Bearer " + auditorToken:
		return "auditor"
	}
	return ""
}

// role answers 401 without a known token and 403 for the wrong role ("" =
// any signed-in role), and records the call.
func (h *fakeHub) role(want string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := roleOf(r)
		h.record(r, got)
		switch {
		case got == "":
			w.Header().Set("WWW-Authenticate", "Bearer")
			outcome(w, http.StatusUnauthorized, "login", "a valid bearer token is required")
		case want != "" && got != want:
			outcome(w, http.StatusForbidden, "forbidden", "this endpoint needs the "+want+" role")
		default:
			next(w, r)
		}
	}
}

func (h *fakeHub) record(r *http.Request, role string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	call := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		call += "?" + r.URL.RawQuery
	}
	h.calls = append(h.calls, call+" "+role)
}

// called returns the recorded calls that start with prefix.
func (h *fakeHub) called(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, c := range h.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (h *fakeHub) whoami(w http.ResponseWriter, r *http.Request) {
	h.record(r, roleOf(r))
	switch roleOf(r) {
	case "admin":
		writeJSON(w, map[string]any{"id": "cl_00000000000000a1", "name": "Ops Admin", "role": "admin", "scopes": []string{}})
	case "auditor":
		writeJSON(w, map[string]any{"id": "cl_00000000000000b2", "name": "Compliance Auditor", "role": "auditor", "scopes": []string{}})
	default:
		w.Header().Set("WWW-Authenticate", "Bearer")
		outcome(w, http.StatusUnauthorized, "login", "unknown or revoked token")
	}
}

type failureFilter struct {
	Destination  string `json:"destination"`
	ErrorClass   string `json:"error_class"`
	ResourceType string `json:"resource_type"`
	Since        string `json:"since"`
	Until        string `json:"until"`
}

func (f failureFilter) match(x *fakeFailure) bool {
	if f.Destination != "" && x.Destination != f.Destination ||
		f.ErrorClass != "" && x.ErrorClass != f.ErrorClass ||
		f.ResourceType != "" && x.ResourceType != f.ResourceType {
		return false
	}
	at, _ := time.Parse(time.RFC3339, x.FailedAt)
	if t, err := time.Parse(time.RFC3339, f.Since); err == nil && at.Before(t) {
		return false
	}
	if t, err := time.Parse(time.RFC3339, f.Until); err == nil && !at.Before(t) {
		return false
	}
	return true
}

func (h *fakeHub) listFailures(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter := failureFilter{q.Get("destination"), q.Get("error_class"), q.Get("resource_type"), q.Get("since"), q.Get("until")}
	h.mu.Lock()
	var matched []*fakeFailure
	for _, f := range h.failures {
		if filter.match(f) {
			matched = append(matched, f)
		}
	}
	h.mu.Unlock()
	writeJSON(w, page(matched, q))
}

// page cuts items by the offset cursor and the limit (default 50).
func page[T any](items []T, q url.Values) map[string]any {
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	start, _ := strconv.Atoi(q.Get("cursor"))
	start = min(start, len(items))
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	out := items[start:end]
	if out == nil {
		out = []T{}
	}
	return map[string]any{"items": out, "next": next}
}

func (h *fakeHub) find(id string) (int, *fakeFailure) {
	for i, f := range h.failures {
		if f.ID == id {
			return i, f
		}
	}
	return -1, nil
}

func (h *fakeHub) getFailure(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, f := h.find(r.PathValue("id"))
	if f == nil {
		outcome(w, http.StatusNotFound, "not-found", "no failed sync with this id")
		return
	}
	// Failure + "history": the failure's own fields at the top level.
	b, _ := json.Marshal(f)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	out["history"] = []map[string]any{
		{"at": f.CreatedAt, "event": "accepted", "actor": "cl_00000000000000c3"},
		{"at": f.FailedAt, "event": "delivery_attempt", "attempt": f.Attempts, "outcome": "failed", "http_status": f.HTTPStatus, "error_class": f.ErrorClass, "latency_ms": 30000},
	}
	writeJSON(w, out)
}

func (h *fakeHub) replayOne(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, f := h.find(r.PathValue("id"))
	switch {
	case f == nil:
		outcome(w, http.StatusNotFound, "not-found", "no failed sync with this id")
	case f.Payload == "purged":
		outcome(w, http.StatusGone, "deleted", "the payload was purged after the replay window; the source must send it again")
	case r.URL.Query().Get("dry_run") == "true":
		writeJSON(w, map[string]any{"dry_run": true, "id": f.ID, "destination": f.Destination, "operation": "update",
			"fields": []map[string]string{{"name": f.ResourceType + ".name", "status": "changed"}, {"name": f.ResourceType + ".birthDate", "status": "unchanged"}}})
	default:
		h.failures = append(h.failures[:i], h.failures[i+1:]...)
		writeJSON(w, map[string]any{"replayed": 1, "key_generation": 2})
	}
}

func (h *fakeHub) discardOne(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, f := h.find(r.PathValue("id"))
	if f == nil {
		outcome(w, http.StatusNotFound, "not-found", "no failed sync with this id")
		return
	}
	h.failures = append(h.failures[:i], h.failures[i+1:]...)
	writeJSON(w, map[string]any{"discarded": 1})
}

// bulk is /admin/replay and /admin/discard: ids XOR filter; a dry run only
// counts; a real replay marks the failures delivered (they leave the list),
// except purged ones, which count as gone.
func (h *fakeHub) bulk(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body bulkRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || (body.Filter == nil) == (len(body.IDs) == 0) {
			outcome(w, http.StatusBadRequest, "invalid", "send either ids or filter")
			return
		}
		ids := map[string]bool{}
		for _, id := range body.IDs {
			ids[id] = true
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.bulks = append(h.bulks, body)
		var keep []*fakeFailure
		matched, gone := 0, 0
		for _, f := range h.failures {
			if body.Filter != nil && !body.Filter.match(f) || body.Filter == nil && !ids[f.ID] {
				keep = append(keep, f)
				continue
			}
			matched++
			switch {
			case body.DryRun:
				keep = append(keep, f)
			case kind == "replay" && f.Payload == "purged":
				gone++
				keep = append(keep, f)
			}
		}
		if !body.DryRun {
			h.failures = keep
		}
		if kind == "discard" {
			discarded := matched
			if body.DryRun {
				discarded = 0
			}
			writeJSON(w, map[string]any{"matched": matched, "discarded": discarded, "dry_run": body.DryRun})
			return
		}
		replayed := 0
		if !body.DryRun {
			replayed = matched - gone
		}
		writeJSON(w, map[string]any{"matched": matched, "replayed": replayed, "gone": gone, "dry_run": body.DryRun})
	}
}

func (h *fakeHub) health(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	failed := map[string]int{}
	for _, f := range h.failures {
		failed[f.Destination]++
	}
	writeJSON(w, map[string]any{"window": "15m", "destinations": []map[string]any{
		{"name": "ehr-epic", "type": "fhir", "breaker": "open", "paused": h.paused["ehr-epic"], "success_rate": 0.42,
			"delivered": 29, "failed": failed["ehr-epic"], "retrying": 3, "last_error_class": "http_5xx",
			"last_error_at": fakeEpoch.Format(time.RFC3339), "queue_depth": 17},
		{"name": "crm-hubspot", "type": "hubspot", "breaker": "closed", "paused": h.paused["crm-hubspot"], "success_rate": 0.97,
			"delivered": 310, "failed": failed["crm-hubspot"], "retrying": 0, "queue_depth": 0},
		{"name": "billing-candid", "type": "candid", "breaker": "unknown", "paused": h.paused["billing-candid"], "success_rate": nil,
			"delivered": 0, "failed": 0, "retrying": 0, "queue_depth": 0},
	}})
}

func (h *fakeHub) pause(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	if action != "pause" && action != "resume" {
		outcome(w, http.StatusNotFound, "not-found", "unknown action")
		return
	}
	h.mu.Lock()
	h.paused[name] = action == "pause"
	h.mu.Unlock()
	writeJSON(w, map[string]any{"destination": name, "paused": action == "pause"})
}

func (h *fakeHub) filteredRows(q url.Values) []logRow {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRow
	for _, r := range h.rows {
		if c := q.Get("connector"); c != "" && r.Source != c && r.Destination != c ||
			q.Get("event") != "" && r.Event != q.Get("event") ||
			q.Get("outcome") != "" && r.Outcome != q.Get("outcome") ||
			q.Get("resource_type") != "" && r.ResourceType != q.Get("resource_type") ||
			q.Get("transfer_id") != "" && r.TransferID != q.Get("transfer_id") ||
			q.Get("actor") != "" && r.Actor != q.Get("actor") {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (h *fakeHub) auditLog(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, page(h.filteredRows(r.URL.Query()), r.URL.Query()))
}

func (h *fakeHub) export(w http.ResponseWriter, r *http.Request) {
	rows := h.filteredRows(r.URL.Query())
	switch r.URL.Query().Get("format") {
	case "ndjson":
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, row := range rows {
			_ = enc.Encode(row)
		}
	case "csv":
		w.Header().Set("Content-Type", "text/csv")
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"seq", "at", "event", "outcome", "hash"})
		for _, row := range rows {
			_ = cw.Write([]string{strconv.Itoa(row.Seq), row.At, row.Event, row.Outcome, row.Hash})
		}
		cw.Flush()
	default:
		outcome(w, http.StatusBadRequest, "invalid", "format must be ndjson or csv")
	}
}

func (h *fakeHub) verify(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := h.rows[len(h.rows)-1]
	writeJSON(w, map[string]any{"ok": true, "rows": len(h.rows), "pending": 0, "head": map[string]any{"seq": last.Seq, "hash": last.Hash}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// outcome writes a FHIR OperationOutcome, as hub/outcome does.
func outcome(w http.ResponseWriter, status int, code, diagnostics string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []map[string]string{{"severity": "error", "code": code, "diagnostics": diagnostics}},
	})
}

// failuresTo returns the ids of the failed syncs left for dest.
func (h *fakeHub) failuresTo(dest string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for _, f := range h.failures {
		if f.Destination == dest {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// bulkBodies returns the bodies of the bulk calls so far.
func (h *fakeHub) bulkBodies() []bulkRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bulkRequest(nil), h.bulks...)
}
