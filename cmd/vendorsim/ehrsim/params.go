package ehrsim

import "strings"

// The reference search parameters the sandbox serves, as FHIR R4 defines
// them for the types a hub routes. A parameter a type does not define is
// unknown there: ignored, like a real server ignores it (and left out of
// the self link), or refused under Prefer: handling=strict.

// patientPaths says where each type's patient parameter looks. Where the
// element can name other kinds of actor (Appointment.participant.actor,
// Encounter.subject), only references to a Patient count: FHIR defines
// Appointment's patient as participant.actor.where(resolve() is Patient).
var patientPaths = map[string]string{
	"Account":               "subject",
	"AllergyIntolerance":    "patient",
	"Appointment":           "participant.actor",
	"CarePlan":              "subject",
	"ChargeItem":            "subject",
	"Claim":                 "patient",
	"ClaimResponse":         "patient",
	"Condition":             "subject",
	"Consent":               "patient",
	"Coverage":              "beneficiary",
	"DiagnosticReport":      "subject",
	"DocumentReference":     "subject",
	"Encounter":             "subject",
	"Immunization":          "patient",
	"Invoice":               "subject",
	"MedicationRequest":     "subject",
	"Observation":           "subject",
	"Procedure":             "subject",
	"QuestionnaireResponse": "subject",
	"ServiceRequest":        "subject",
}

// hasSubject lists the types whose subject parameter is {type}.subject,
// whatever the reference's target.
var hasSubject = map[string]bool{
	"Account": true, "CarePlan": true, "ChargeItem": true, "Condition": true, "DiagnosticReport": true,
	"DocumentReference": true, "Encounter": true, "Invoice": true, "MedicationRequest": true,
	"Observation": true, "Procedure": true, "QuestionnaireResponse": true, "ServiceRequest": true,
}

// refsAt returns the references (Reference.reference) at a dotted path of
// a resource, through arrays: "participant.actor" is every participant's
// actor.
func refsAt(m map[string]any, path string) []string {
	var out []string
	var walk func(v any, segs []string)
	walk = func(v any, segs []string) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e, segs)
			}
		case map[string]any:
			if len(segs) == 0 {
				if ref, _ := x["reference"].(string); ref != "" {
					out = append(out, ref)
				}
				return
			}
			walk(x[segs[0]], segs[1:])
		}
	}
	walk(m, strings.Split(path, "."))
	return out
}

// isPatientRef reports whether a literal reference names a Patient
// (Patient/1, or an absolute URL ending in /Patient/1).
func isPatientRef(ref string) bool {
	return strings.HasPrefix(ref, "Patient/") || strings.Contains(ref, "/Patient/")
}
