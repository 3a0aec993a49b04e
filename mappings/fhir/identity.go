package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Identifier is a FHIR identifier's system and value.
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Identifiers lists a resource's identifiers whose system starts with
// prefix ("" for all) and that have both a system and a value.
func Identifiers(resource []byte, prefix string) []Identifier {
	var r struct {
		Identifier []Identifier `json:"identifier"`
	}
	if json.Unmarshal(resource, &r) != nil {
		return nil
	}
	var out []Identifier
	for _, id := range r.Identifier {
		if id.System != "" && id.Value != "" && strings.HasPrefix(id.System, prefix) {
			out = append(out, id)
		}
	}
	return out
}

// MergeIdentifiers adds to resource each of add whose system the resource
// has no identifier of; replace makes add win over an identifier of the same
// system with another value instead. It reports whether anything changed;
// unchanged, the resource's bytes are returned as they were.
func MergeIdentifiers(resource []byte, add []Identifier, replace bool) ([]byte, bool, error) {
	if len(add) == 0 {
		return resource, false, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(resource, &obj); err != nil {
		return nil, false, fmt.Errorf("fhir mapping: resource is not a JSON object")
	}
	var list []json.RawMessage
	if raw, ok := obj["identifier"]; ok {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, false, fmt.Errorf("fhir mapping: identifier is not an array")
		}
	}
	changed := false
	for _, a := range add {
		found := false
		for i, raw := range list {
			var have Identifier
			if json.Unmarshal(raw, &have) != nil || have.System != a.System {
				continue
			}
			found = true
			if replace && have.Value != a.Value {
				var full map[string]json.RawMessage
				if json.Unmarshal(raw, &full) == nil {
					full["value"], _ = json.Marshal(a.Value)
					list[i], _ = json.Marshal(full)
					changed = true
				}
			}
			break
		}
		if !found {
			raw, _ := json.Marshal(a)
			list = append(list, raw)
			changed = true
		}
	}
	if !changed {
		return resource, false, nil
	}
	obj["identifier"], _ = json.Marshal(list)
	out, err := marshalResource(obj)
	return out, err == nil, err
}

// RewriteReferences replaces every Reference.reference that is a key of
// refs ("urn:uuid:…", the fullUrl of another entry of the same transaction
// Bundle) with its value ("Patient/123", the EHR's own id), and lists the
// urn:uuid references left unresolved. Numbers keep their exact text.
func RewriteReferences(resource []byte, refs map[string]string) (out []byte, unresolved []string, err error) {
	if !bytes.Contains(resource, []byte("urn:uuid:")) {
		return resource, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(resource))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, fmt.Errorf("fhir mapping: resource is not JSON")
	}
	var walk func(x any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, e := range t {
				if s, ok := e.(string); ok && k == "reference" && strings.HasPrefix(s, "urn:uuid:") {
					if to, ok := refs[s]; ok {
						t[k] = to
					} else {
						unresolved = append(unresolved, s)
					}
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("fhir mapping: resource is not a JSON object")
	}
	raw := make(map[string]json.RawMessage, len(obj))
	for k, e := range obj {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, nil, fmt.Errorf("fhir mapping: re-encode %s: %w", k, err)
		}
		raw[k] = b
	}
	out, err = marshalResource(raw)
	return out, unresolved, err
}

// VersionID reads meta.versionId, "" when absent.
func VersionID(resource []byte) string {
	var r struct {
		Meta struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
	}
	_ = json.Unmarshal(resource, &r)
	return r.Meta.VersionID
}

// References lists every Reference.reference in a resource, in no
// particular order.
func References(resource []byte) []string {
	var v any
	if json.Unmarshal(resource, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, e := range t {
				if s, ok := e.(string); ok && k == "reference" {
					out = append(out, s)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
