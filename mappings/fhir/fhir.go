// Package fhir maps FHIR R4 to a FHIR R4 server (the EHR): the resource goes
// as accepted, with the hub's origin tag added to meta.tag so the change can
// be recognised if it comes back (loop prevention). The edit is made on the
// JSON itself: untouched members keep their exact bytes (decimals, contained
// resources, primitive extensions), unlike a re-encoding of samply structs.
package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
)

// Origin tag every write by the hub carries.
const (
	OriginSystem = "https://switchboard.health/origin"
	OriginCode   = "switchboard"
)

// Outbound returns the resource to send: resource with the origin tag in
// meta.tag (added once).
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
	for _, t := range tags {
		var c struct{ System, Code string }
		if json.Unmarshal(t, &c) == nil && c.System == OriginSystem && c.Code == OriginCode {
			return resource, nil
		}
	}
	tag, _ := json.Marshal(map[string]string{"system": OriginSystem, "code": OriginCode})
	tags = append(tags, tag)
	meta["tag"], _ = json.Marshal(tags)
	obj["meta"], _ = json.Marshal(meta)
	return marshalResource(obj)
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
