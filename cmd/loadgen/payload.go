package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// patientJSON is a valid FHIR R4 Patient of about 2 KB, the size the bare
// baseline posts too.
func patientJSON() []byte {
	p := map[string]any{
		"resourceType": "Patient",
		"id":           "bench-1",
		"meta":         map[string]any{"profile": []string{"http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}},
		"identifier": []map[string]any{
			{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "000-00-0000"},
			{"system": "https://clinic.example/mrn", "value": "MRN-0001"},
		},
		"active": true,
		"name": []map[string]any{
			{"use": "official", "family": "Benchmark", "given": []string{"Load", "Gen"}},
			{"use": "nickname", "given": []string{"Lo"}},
		},
		"telecom": []map[string]any{
			{"system": "email", "value": "load.gen@example.org", "use": "home"},
			{"system": "phone", "value": "+1-555-0100", "use": "mobile"},
		},
		"gender":    "female",
		"birthDate": "1990-04-01",
		"address": []map[string]any{{
			"use": "home", "line": []string{"1 Example Street", "Apt 2"}, "city": "Springfield",
			"state": "IL", "postalCode": "62701", "country": "US",
		}},
		"communication": []map[string]any{{"language": map[string]any{"coding": []map[string]any{{"system": "urn:ietf:bcp:47", "code": "en"}}}, "preferred": true}},
	}
	b, _ := json.Marshal(p)
	// Pad with a narrative to reach ~2 KB.
	pad := 2048 - len(b) - 120
	if pad > 0 {
		p["text"] = map[string]any{"status": "generated", "div": fmt.Sprintf(`<div xmlns="http://www.w3.org/1999/xhtml">%s</div>`, strings.Repeat("x", pad))}
		b, _ = json.Marshal(p)
	}
	return b
}

// patient is the benchmark Patient as the i-th of many patients: its id and
// MRN differ per request, as they do in real traffic, so deliveries are
// not all about one subject (which the hub delivers strictly in order).
// The bare baseline's payload has the same size.
func (e *env) patient(i int) []byte {
	p := bytes.Replace(e.payload, []byte(`"bench-1"`), []byte(fmt.Sprintf(`"bench-%07d"`, i)), 1)
	return bytes.Replace(p, []byte(`"MRN-0001"`), []byte(fmt.Sprintf(`"MRN-%07d"`, i)), 1)
}
