package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SyncedFields returns, in a canonical encoding, the part of a resource the
// hub keeps in step between vendors, for the keyed content hash that tells
// a real change from an echo of the hub's own write
// (docs/decisions/0007-reconcilers-and-loops.md).
//
// For an Appointment that is its status, start and end (instants compared
// in UTC): what a scheduling tool and an EHR both hold. A scheduling tool
// never sees a clinician's notes, so a change to them must not look like a
// change to the booking. For other types it is the whole resource without
// id, meta, text and the hub's own identifiers, which differ between a
// vendor's copy and what the hub wrote while meaning the same thing.
func SyncedFields(resource []byte, hubIdentifierPrefix string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(resource))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("fhir fingerprint: resource is not a JSON object")
	}
	if obj["resourceType"] == "Appointment" {
		out := map[string]any{"status": obj["status"], "start": instant(obj["start"]), "end": instant(obj["end"])}
		return json.Marshal(out)
	}
	delete(obj, "id")
	delete(obj, "meta")
	delete(obj, "text")
	if ids, ok := obj["identifier"].([]any); ok {
		kept := ids[:0]
		for _, x := range ids {
			if m, ok := x.(map[string]any); ok {
				if s, _ := m["system"].(string); s != "" && strings.HasPrefix(s, hubIdentifierPrefix) {
					continue
				}
			}
			kept = append(kept, x)
		}
		if len(kept) == 0 {
			delete(obj, "identifier")
		} else {
			obj["identifier"] = kept
		}
	}
	return json.Marshal(obj) // map keys sorted: canonical
}

// instant writes a FHIR instant in UTC so that the same moment written in
// two time zones compares equal; anything else is kept as it is.
func instant(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339Nano)
}
