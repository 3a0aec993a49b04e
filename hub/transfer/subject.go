package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Order per subject (issue: a Patient before the Appointment that refers to
// it, update 2 after update 1 even while update 1 is retried). Each delivery
// row carries a keyed hash of the patient its resource is about; the worker
// holds a delivery back while an earlier one to the same destination about
// the same patient is unfinished (Service.Blocked). Deliveries about other
// patients never wait.

// subjectKeys names, for each entry, the patient it is about (PHI: only its
// keyed hash is stored), "" when none:
//   - a Patient: "Patient/{id}" when it has an id (from the URL of an
//     update, else the body), else its first identifier, else its fullUrl;
//   - another resource: its patient reference (subject, patient,
//     beneficiary, or an Appointment participant's actor), where a
//     urn:uuid pointing at a Patient entry of the same Bundle is that
//     entry's key, so both land on one subject.
func subjectKeys(entries []Entry) []string {
	keys := make([]string, len(entries))
	byURL := map[string]string{}
	for i := range entries {
		e := &entries[i]
		if e.ResourceType != "Patient" {
			continue
		}
		var p struct {
			ID         string `json:"id"`
			Identifier []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		}
		_ = json.Unmarshal(e.Resource, &p)
		id := e.ResourceID
		if id == "" {
			id = p.ID
		}
		switch {
		case id != "":
			keys[i] = "Patient/" + id
		default:
			for _, ident := range p.Identifier {
				if ident.System != "" && ident.Value != "" {
					keys[i] = "Patient?identifier=" + ident.System + "|" + ident.Value
					break
				}
			}
		}
		if keys[i] == "" {
			keys[i] = e.FullURL
		}
		if e.FullURL != "" {
			byURL[e.FullURL] = keys[i]
		}
	}
	for i := range entries {
		if entries[i].ResourceType == "Patient" {
			continue
		}
		ref := patientRef(entries[i].Resource)
		switch {
		case ref == "":
		case byURL[ref] != "":
			keys[i] = byURL[ref]
		case strings.HasPrefix(ref, "Patient/"):
			keys[i] = ref
		}
	}
	return keys
}

// patientRef finds the reference to the patient a resource is about.
func patientRef(resource []byte) string {
	var r struct {
		Subject     *struct{ Reference string } `json:"subject"`
		Patient     *struct{ Reference string } `json:"patient"`
		Beneficiary *struct{ Reference string } `json:"beneficiary"`
		Participant []struct {
			Actor *struct{ Reference string } `json:"actor"`
		} `json:"participant"`
	}
	if json.Unmarshal(resource, &r) != nil {
		return ""
	}
	for _, ref := range []*struct{ Reference string }{r.Patient, r.Subject, r.Beneficiary} {
		if ref != nil && isPatientRef(ref.Reference) {
			return ref.Reference
		}
	}
	for _, p := range r.Participant {
		if p.Actor != nil && isPatientRef(p.Actor.Reference) {
			return p.Actor.Reference
		}
	}
	return ""
}

// isPatientRef accepts Patient/{id} and urn:uuid: (a Bundle entry, checked
// against the Patient entries by the caller).
func isPatientRef(ref string) bool {
	return strings.HasPrefix(ref, "Patient/") || strings.HasPrefix(ref, "urn:uuid:")
}

// Blocked implements delivery.Orderer: it reports whether an earlier
// delivery to the same destination about the same patient is unfinished
// (its River job neither completed, cancelled nor discarded). Earlier means accepted
// before: by time, then transfer id, then entry. The River job's state is
// read rather than the delivery row's, since delivered outcomes are
// recorded in batches a moment after the job completes.
func (s *Service) Blocked(ctx context.Context, transferID string, entry int, destination string) (bool, error) {
	var n int
	err := s.Store.DB().QueryRow(ctx, `SELECT COUNT(*)
		FROM switchboard_delivery me
		JOIN switchboard_delivery d ON d.destination = me.destination AND d.subject_hash = me.subject_hash
		JOIN river_job j ON j.id = d.job_id
		WHERE me.transfer_id = $1 AND me.entry = $2 AND me.destination = $3
		  AND j.state NOT IN ('completed', 'cancelled', 'discarded')
		  AND (d.created_at < me.created_at
		       OR (d.created_at = me.created_at AND (d.transfer_id < me.transfer_id
		           OR (d.transfer_id = me.transfer_id AND d.entry < me.entry))))`,
		transferID, entry, destination).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("transfer: check earlier deliveries for %s entry %d: %w", transferID, entry, err)
	}
	return n > 0, nil
}
