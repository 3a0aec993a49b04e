package calcom

import (
	"encoding/json"

	"github.com/switchboard-health/switchboard/connectors"
	mapping "github.com/switchboard-health/switchboard/mappings/calcom"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Pair implements connectors.Pairer: a booking and the EHR's Appointment
// pair by the booking uid, identifier mapping.BookingSystem, which the
// mapping puts on the Appointment it makes and the EHR keeps. An
// identifier with use "old" names a booking a reschedule replaced; an
// Appointment tagged mapping.RescheduledTag is such a replaced booking.
func (c *Connector) Pair(resourceType string, resource []byte) connectors.Pairing {
	if resourceType != "Appointment" {
		return connectors.Pairing{}
	}
	var v struct {
		Meta struct {
			Tag []struct{ System, Code string }
		} `json:"meta"`
		Identifier []struct{ Use, System, Value string }
	}
	if json.Unmarshal(resource, &v) != nil {
		return connectors.Pairing{}
	}
	var p connectors.Pairing
	for _, t := range v.Meta.Tag {
		if t.System == fhirjson.OriginSystem && t.Code == mapping.RescheduledTag {
			p.Superseded = true
		}
	}
	for _, id := range v.Identifier {
		switch {
		case id.System != mapping.BookingSystem || id.Value == "":
		case id.Use == "old":
			p.Replaced = append(p.Replaced, id.Value)
		case p.Key == "":
			p.Key = id.Value
		}
	}
	return p
}

// PairMatch implements connectors.Pairer: the EHR's Appointment of a
// booking is found by the booking uid.
func (c *Connector) PairMatch(_, key string) string {
	return mapping.BookingSystem + "|" + key
}
