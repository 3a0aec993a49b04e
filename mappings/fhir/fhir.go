// Package fhir is the hub's FHIR JSON toolkit, vendor-neutral, imported
// under one name everywhere, fhirjson (the connector package of the same
// name is connectors/fhir): the origin mark (OriginSystem, OriginTag,
// Outbound, MadeByHub), identifiers and references (Identifiers,
// MergeIdentifiers, RewriteReferences, References, Resolver), the fields a
// sync compares (SyncedFields) and the one-of-many choices a vendor with a
// single field needs (Pick, OfficialName). See
// docs/decisions/0014-the-hub-names-no-vendor.md.
//
// It also maps FHIR R4 to a FHIR R4 server (the EHR): the resource goes
// as accepted, with the hub's origin marks added so the change can be
// recognised if it comes back (loop prevention): meta.source, which names
// the version's author, and a tag in meta.tag. The edit is made on the JSON
// itself: untouched members keep their exact bytes (decimals, contained
// resources, primitive extensions), unlike a re-encoding of samply structs.
package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// Origin tag every write by the hub carries. OriginSystem is the one
// system of origin tags everywhere: the vendor mappings tag what they make
// from a vendor's data under it (code: the vendor), and loop prevention
// depends on all of them agreeing, so they take it from here.
const (
	OriginSystem = "https://switchboard.health/origin"
	OriginCode   = "switchboard"
)

// OriginTag is the meta.tag that marks FHIR as made by the hub (code
// OriginCode) or from a vendor's data (code: the vendor), as JSON: the one
// shape of the origin mark every mapping writes.
func OriginTag(code string) map[string]any {
	return map[string]any{"system": OriginSystem, "code": code}
}

// OriginSource is the meta.source of every version the hub writes. It is
// what MadeByHub reads, not the tag: meta.source describes one version,
// whereas many servers carry tags forward to the next version, so a
// clinician's later edit of a record the hub wrote keeps the tag but not
// the source.
const OriginSource = OriginSystem

// Outbound returns the resource to send: resource with meta.source set to
// OriginSource (replacing a client's own source: this version is the hub's
// write) and the origin tag in meta.tag (added once). A resource that
// already carries both is returned as it is.
func Outbound(resource []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(resource, &obj); err != nil {
		return nil, fmt.Errorf("fhir mapping: resource is not a JSON object")
	}
	var meta map[string]json.RawMessage
	if raw, ok := obj["meta"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("fhir mapping: meta is not an object")
		}
	} else {
		meta = map[string]json.RawMessage{}
	}
	var tags []json.RawMessage
	if raw, ok := meta["tag"]; ok {
		if err := json.Unmarshal(raw, &tags); err != nil {
			return nil, fmt.Errorf("fhir mapping: meta.tag is not an array")
		}
	}
	tagged := false
	for _, t := range tags {
		var c struct{ System, Code string }
		if json.Unmarshal(t, &c) == nil && c.System == OriginSystem && c.Code == OriginCode {
			tagged = true
			break
		}
	}
	var source string
	sourced := meta["source"] != nil && json.Unmarshal(meta["source"], &source) == nil && isOriginSource(source)
	if tagged && sourced {
		return resource, nil
	}
	if !tagged {
		tag, _ := json.Marshal(map[string]string{"system": OriginSystem, "code": OriginCode})
		meta["tag"], _ = json.Marshal(append(tags, tag))
	}
	if !sourced {
		meta["source"], _ = json.Marshal(OriginSource)
	}
	obj["meta"], _ = json.Marshal(meta)
	return marshalResource(obj)
}

// MadeByHub reports whether the version resource is was written by the hub:
// its meta.source is OriginSource, or OriginSource#… (servers such as HAPI
// append the request id after a #). The origin tag alone does not count, as
// it may be a previous version's carried forward.
func MadeByHub(resource []byte) bool {
	var r struct {
		Meta struct {
			Source string `json:"source"`
		} `json:"meta"`
	}
	return json.Unmarshal(resource, &r) == nil && isOriginSource(r.Meta.Source)
}

func isOriginSource(s string) bool {
	return s == OriginSource || strings.HasPrefix(s, OriginSource+"#")
}

// marshalResource writes resourceType first, as FHIR examples do.
func marshalResource(obj map[string]json.RawMessage) ([]byte, error) {
	rt := obj["resourceType"]
	delete(obj, "resourceType")
	rest, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"resourceType":`)
	b.Write(rt)
	if len(rest) > 2 {
		b.WriteByte(',')
		b.Write(rest[1:])
	} else {
		b.WriteByte('}')
	}
	return b.Bytes(), nil
}

// ConditionalCreate returns the If-None-Exist value for a create:
// identifier=system|value of the first identifier with both, or "".
func ConditionalCreate(resource []byte) string {
	var r struct {
		Identifier []struct{ System, Value string } `json:"identifier"`
	}
	if json.Unmarshal(resource, &r) != nil {
		return ""
	}
	for _, id := range r.Identifier {
		if id.System != "" && id.Value != "" {
			return "identifier=" + url.QueryEscape(id.System+"|"+id.Value)
		}
	}
	return ""
}

// WithID returns resource with its id set to id: an update (PUT
// /{type}/{id}) must carry the id of its URL, and a change a vendor
// reported, applied to the record found by identifier, comes without one.
func WithID(resource []byte, id string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(resource, &obj); err != nil {
		return nil, fmt.Errorf("fhir mapping: resource is not a JSON object")
	}
	raw, _ := json.Marshal(id)
	if string(obj["id"]) == string(raw) {
		return resource, nil
	}
	obj["id"] = raw
	return marshalResource(obj)
}
