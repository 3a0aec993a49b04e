package fhir

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/switchboard-health/switchboard/connectors"
)

// logicalFields are the top-level references a change may name by
// identifier only: who a Consent, an Appointment's request or a claim is
// about.
var logicalFields = []string{"patient", "subject", "beneficiary"}

// resolveLogical turns a top-level reference that names its target by
// identifier alone (a Consent from a marketing vendor knows the contact,
// not the EHR's Patient id) into a literal one, when the server holds
// exactly one record with that identifier. FHIR servers store logical
// references as they are and do not search by them: without this, a
// Consent?patient=Patient/{id} search (the hub's consent gate) would not
// find the Consent. No match, or several, leaves the reference as it is.
func (c *Connector) resolveLogical(ctx context.Context, resource []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(resource, &obj) != nil {
		return resource, nil // the mapping reports it
	}
	changed := false
	for _, f := range logicalFields {
		raw, ok := obj[f]
		if !ok {
			continue
		}
		var ref map[string]json.RawMessage
		if json.Unmarshal(raw, &ref) != nil || ref["reference"] != nil {
			continue
		}
		var id struct{ System, Value string }
		var typ string
		_ = json.Unmarshal(ref["identifier"], &id)
		_ = json.Unmarshal(ref["type"], &typ)
		if id.System == "" || id.Value == "" {
			continue
		}
		if typ == "" {
			typ = "Patient"
		}
		page, err := c.lookup(ctx, connectors.SearchQuery{ResourceType: typ, Params: url.Values{"identifier": {id.System + "|" + id.Value}}})
		if err != nil {
			return nil, err
		}
		if len(page.Resources) != 1 {
			continue
		}
		var found struct{ ID string }
		if json.Unmarshal(page.Resources[0], &found) != nil || found.ID == "" {
			continue
		}
		ref["reference"], _ = json.Marshal(typ + "/" + found.ID)
		obj[f], _ = json.Marshal(ref)
		changed = true
	}
	if !changed {
		return resource, nil
	}
	return json.Marshal(obj)
}
