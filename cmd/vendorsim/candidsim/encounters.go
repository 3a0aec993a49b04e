package candidsim

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// encounter is one stored encounter: the create body as received (decoded,
// numbers kept as written) and what Candid adds to it.
type encounter struct {
	id, externalID string
	fields         map[string]any
	claimID        string
	claimStatus    string
	createdAt      time.Time
}

// output is the encounter as Candid's Encounter: the create body with
// encounter_id, created_at, one claim and the required lists Candid fills.
func (e *encounter) output() map[string]any {
	out := make(map[string]any, len(e.fields)+12)
	for k, v := range e.fields {
		out[k] = v
	}
	out["encounter_id"] = e.id
	out["created_at"] = e.createdAt.UTC().Format(time.RFC3339)
	out["url"] = "https://app.joincandidhealth.com/encounters/" + e.id
	out["claims"] = []any{map[string]any{"claim_id": e.claimID, "status": e.claimStatus, "service_lines": []any{}, "eras": []any{}}}
	for _, k := range []string{"clinical_notes", "patient_histories", "patient_payments", "tags", "schema_instances"} {
		if _, ok := out[k]; !ok {
			out[k] = []any{}
		}
	}
	for k, v := range map[string]any{"owner_of_next_action": "CANDID", "submission_origin": "CANDID", "service_facility": map[string]any{}} {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// store is the in-memory Candid organization. One mutex guards it.
type store struct {
	mu         sync.Mutex
	byID       map[string]*encounter
	byExternal map[string]*encounter
}

func newStore() *store {
	return &store{byID: map[string]*encounter{}, byExternal: map[string]*encounter{}}
}

func (s *store) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID, s.byExternal = map[string]*encounter{}, map[string]*encounter{}
}

// requiredFields are EncounterCreate's required fields in Candid's spec.
var requiredFields = []string{"external_id", "patient_authorized_release", "benefits_assigned_to_provider",
	"provider_accepts_assignment", "billable_status", "patient", "responsible_party", "billing_provider",
	"diagnoses", "place_of_service_code", "rendering_provider"}

// create stores an encounter unless its external_id is known: Candid keeps
// external_id unique per organization and answers a second create with 409
// EncounterExternalIdUniquenessError, writing nothing. The check and the
// insert happen under one lock, so concurrent duplicates make one encounter.
func (s *Server) create(_ *http.Request, body []byte) answer {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return validation("body", "the body is not an EncounterCreate object")
	}
	for _, f := range requiredFields {
		if v, ok := fields[f]; !ok || v == nil {
			return validation(f, f+" is required")
		}
	}
	ext, _ := fields["external_id"].(string)
	if ext == "" {
		return validation("external_id", "external_id must be a non-empty string")
	}
	if _, ok := fields["patient"].(map[string]any); !ok {
		return validation("patient", "patient must be an object")
	}
	if d, ok := fields["diagnoses"].([]any); !ok || len(d) == 0 {
		return validation("diagnoses", "at least one diagnosis is required")
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if old := s.store.byExternal[ext]; old != nil {
		return answer{status: http.StatusConflict, effect: EffectRejected, id: old.id,
			body: candidError("EncounterExternalIdUniquenessError", map[string]any{"external_id": ext})}
	}
	e := &encounter{id: newUUID(), externalID: ext, fields: fields, claimID: newUUID(),
		claimStatus: s.opts.ClaimStatus, createdAt: s.opts.Now()}
	s.store.byID[e.id] = e
	s.store.byExternal[ext] = e
	return answer{status: http.StatusOK, effect: EffectCreated, id: e.id, body: e.output()}
}

// list answers GET /api/encounters/v4, filtered by external_id only (the
// one filter the connector uses): an EncounterPage.
func (s *Server) list(externalID string) answer {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	items := []any{}
	for _, e := range s.store.byID {
		if externalID == "" || e.externalID == externalID {
			items = append(items, e.output())
		}
	}
	return answer{status: http.StatusOK, effect: EffectSearch, body: map[string]any{"items": items}}
}

func (s *Server) read(id string) answer {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	e := s.store.byID[id]
	if e == nil {
		return answer{status: http.StatusNotFound, effect: EffectRejected, body: candidError("EntityNotFoundError", map[string]any{"id": id})}
	}
	return answer{status: http.StatusOK, effect: EffectRead, id: id, body: e.output()}
}

// SetClaimStatus moves the claim of an encounter to status (e.g. "paid",
// "denied"), as Candid's billing would over days, so that a ClaimResponse
// search shows a different outcome.
func (s *Server) SetClaimStatus(encounterID, status string) error {
	if status == "" {
		return fmt.Errorf("set claim status of encounter %s: empty status", encounterID)
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	e := s.store.byID[encounterID]
	if e == nil {
		return fmt.Errorf("set claim status of encounter %s: no such encounter", encounterID)
	}
	e.claimStatus = status
	return nil
}

// handleClaimStatus is POST /_sandbox/claim-status {"encounter_id","status"}.
func (s *Server) handleClaimStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	var in struct {
		EncounterID string `json:"encounter_id"`
		Status      string `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be {\"encounter_id\":…,\"status\":…}"})
		return
	}
	if err := s.SetClaimStatus(in.EncounterID, in.Status); err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	s.ev.Add(LogEntry{Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, Status: http.StatusNoContent,
		Effect: EffectUpdated, ID: in.EncounterID}, false, nil)
	w.WriteHeader(http.StatusNoContent)
}

// newUUID returns a random (version 4) UUID, the shape of Candid's ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
