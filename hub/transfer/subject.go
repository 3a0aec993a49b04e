package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/store"
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
		bodyID, idents, _ := patientIdentity(e.Resource)
		id := e.ResourceID
		if id == "" {
			id = bodyID
		}
		switch {
		case id != "":
			keys[i] = "Patient/" + id
		case len(idents) > 0:
			keys[i] = "Patient?identifier=" + idents[0].System + "|" + idents[0].Value
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

// patientIdentity reads a Patient's logical id and its identifiers that
// have both a system and a value; ok is false when it is not JSON.
func patientIdentity(resource []byte) (id string, idents []delivery.Identifier, ok bool) {
	var p struct {
		ID         string `json:"id"`
		Identifier []struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	}
	if json.Unmarshal(resource, &p) != nil {
		return "", nil, false
	}
	for _, ident := range p.Identifier {
		if ident.System != "" && ident.Value != "" {
			idents = append(idents, delivery.Identifier{System: ident.System, Value: ident.Value})
		}
	}
	return p.ID, idents, true
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

// earlierUnfinished and laterUnfinished compare deliveries by the order
// they were accepted: time, then transfer id, then the entry's place in its
// transfer's delivery order (seq: referenced entries first, see
// deliveryOrder). A delivery is
// unfinished while neither its row nor its River job says it is done (rows
// of delivered outcomes are written in batches a moment after the job
// completes; the job's state is read too so that no batch is waited for).
const (
	sameSubject = `FROM switchboard_delivery me
		JOIN switchboard_delivery d ON d.destination = me.destination AND d.subject_hash = me.subject_hash
		JOIN river_job j ON j.id = d.job_id
		WHERE me.transfer_id = $1 AND me.entry = $2 AND me.destination = $3
		  AND d.state NOT IN ('delivered', 'failed', 'skipped', 'discarded')
		  AND j.state NOT IN ('completed', 'cancelled', 'discarded')`
	earlier = ` AND (d.created_at < me.created_at
		       OR (d.created_at = me.created_at AND (d.transfer_id < me.transfer_id
		           OR (d.transfer_id = me.transfer_id AND d.seq < me.seq))))
		ORDER BY d.created_at, d.transfer_id, d.seq LIMIT 1`
	later = ` AND (d.created_at > me.created_at
		       OR (d.created_at = me.created_at AND (d.transfer_id > me.transfer_id
		           OR (d.transfer_id = me.transfer_id AND d.seq > me.seq))))
		ORDER BY d.created_at, d.transfer_id, d.seq LIMIT 1`
)

// Blocked implements delivery.Orderer: it reports whether an earlier
// delivery to the same destination about the same patient is unfinished,
// and marks that one as having a waiter, so that finishing it wakes this
// one (Wake) rather than leaving it to its next poll.
func (s *Service) Blocked(ctx context.Context, transferID string, entry int, destination string) (bool, error) {
	// A blocker can finish between the look-up and the mark; then look
	// again for the next earlier one (a few rounds at most in practice).
	for range 8 {
		rows, err := s.Store.DB().Query(ctx, `SELECT d.transfer_id, d.entry `+sameSubject+earlier, transferID, entry, destination)
		if err != nil {
			return false, fmt.Errorf("transfer: check earlier deliveries for %s entry %d: %w", transferID, entry, err)
		}
		var tid string
		var e int
		found := rows.Next()
		if found {
			err = rows.Scan(&tid, &e)
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil || !found {
			return false, err
		}
		// Only an unfinished row takes the mark: a row recorded as done
		// since the look-up wakes nobody.
		n, err := s.Store.DB().Exec(ctx, `UPDATE switchboard_delivery SET waiter = 1
			WHERE transfer_id = $1 AND entry = $2 AND destination = $3 AND state NOT IN ('delivered', 'failed', 'skipped', 'discarded')`, tid, e, destination)
		if err != nil {
			return true, fmt.Errorf("transfer: mark a waiter on %s entry %d: %w", tid, e, err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return true, nil // still racing: wait for the fallback poll
}

// Wake makes the next delivery waiting behind a finished one (same
// destination, same patient) runnable now. Errors are logged by callers:
// the waiting job polls anyway.
func (s *Service) Wake(ctx context.Context, transferID string, entry int, destination string) error {
	// The one waiting may show as running for a moment after it asked to
	// be snoozed: River records the snooze asynchronously. Look again
	// briefly until it is scheduled (then wake it) or moving anyway.
	for try := 0; ; try++ {
		var tid, state string
		var e int
		var jobID int64
		err := s.Store.DB().QueryRow(ctx, `SELECT d.transfer_id, d.entry, j.id, j.state `+sameSubject+later,
			transferID, entry, destination).Scan(&tid, &e, &jobID, &state)
		if store.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("transfer: find the delivery waiting behind %s entry %d: %w", transferID, entry, err)
		}
		if try == 0 {
			// Pass the mark along: others may wait behind this one too
			// (they marked the delivery that just finished).
			if _, err := s.Store.DB().Exec(ctx, `UPDATE switchboard_delivery SET waiter = 1
				WHERE transfer_id = $1 AND entry = $2 AND destination = $3`, tid, e, destination); err != nil {
				return fmt.Errorf("transfer: pass the waiter mark to %s entry %d: %w", tid, e, err)
			}
		}
		switch {
		case state == "scheduled":
			if err := s.Store.JobRetry(ctx, jobID); err != nil {
				return fmt.Errorf("transfer: wake job %d: %w", jobID, err)
			}
			return nil
		case state != "running" || try == wakeTries:
			return nil // runnable already, or left to its own poll
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wakePause):
		}
	}
}

// How long Wake looks again for a waiting delivery whose snooze River has
// not recorded yet.
const (
	wakeTries = 10
	wakePause = 15 * time.Millisecond
)
