package connectors

// System implements Identified for a connector whose ids are written back
// under one identifier system whatever the resource type; a connector
// embeds it:
//
//	type Connector struct {
//		connectors.System
//		...
//	}
//	&Connector{System: mapping.BookingSystem, ...}
type System string

// IdentifierSystem implements Identified.
func (s System) IdentifierSystem(string) string { return string(s) }

// Systems implements Identified for a connector whose identifier system
// depends on the resource type; a type it does not list has none ("").
type Systems map[string]string

// IdentifierSystem implements Identified.
func (s Systems) IdentifierSystem(resourceType string) string { return s[resourceType] }
