package route

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/hub/projection"
)

// ProjectionSpec is a destination's projection as the routing file writes
// it: a preset's name,
//
//	projection: contact
//
// or the FHIR R4 elements kept per resource type, dotted paths from the
// resource, checked against the type's elements when the file is loaded:
//
//	projection:
//	  Patient: [id, name.given, telecom.system, telecom.value]
type ProjectionSpec struct {
	// Preset is the preset's name ("" for the default, full).
	Preset string
	// Fields is the declared field list (nil for a preset).
	Fields projection.Fields
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *ProjectionSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&p.Preset)
	case yaml.MappingNode:
		if err := n.Decode(&p.Fields); err != nil {
			return err
		}
		if p.Fields == nil {
			p.Fields = projection.Fields{}
		}
		return nil
	}
	return fmt.Errorf("line %d: projection: a preset's name or a list of elements per resource type", n.Line)
}

func (p ProjectionSpec) build() (projection.Projection, error) {
	if p.Fields != nil {
		return projection.Declared(p.Fields)
	}
	return projection.Named(p.Preset)
}
