package transfer

import (
	"encoding/json"
	"strings"

	"github.com/switchboard-health/switchboard/hub/delivery"
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
