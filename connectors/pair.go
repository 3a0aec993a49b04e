package connectors

import "errors"

// Pairer is implemented by a connector whose records the drift repair
// (hub/reconcile) pairs with the EHR's copies of them: a scheduling tool
// whose bookings the EHR holds as Appointments carrying the booking's id.
// The connector alone knows how its records are named on both sides; the
// hub compares and routes through this interface and names no vendor
// (docs/decisions/0014-the-hub-names-no-vendor.md).
type Pairer interface {
	// Pair reads how resource, a FHIR resource of resourceType listed by
	// this connector or by the EHR, pairs. A resource it cannot read pairs
	// with nothing (the zero Pairing).
	Pair(resourceType string, resource []byte) Pairing
	// PairMatch is the conditional match, "system|value" as in
	// Delivery.Match, that addresses at another destination the record
	// paired under key.
	PairMatch(resourceType, key string) string
}

// Pairing is how one record pairs; it holds ids, never PHI.
type Pairing struct {
	// Key pairs the record with its copy on the other side: the
	// connector's id for it, which the EHR's copy carries; "" for a record
	// the connector never made.
	Key string
	// Replaced lists the keys of records this one replaced (a rescheduled
	// booking's predecessors): an EHR copy still under one of them is
	// this record's copy, not a record missing at the connector.
	Replaced []string
	// Superseded marks a record another one replaced. It is never
	// repaired in either direction: its successor carries the appointment
	// and the replacement's own change moves the EHR's copy.
	Superseded bool
}

// PairerOf is c as a Pairer, or an error saying that it cannot pair its
// records with the EHR's: a routing file's drift rule names a scheduling
// destination whose connector must have this capability.
func PairerOf(c Connector) (Pairer, error) {
	p, ok := c.(Pairer)
	if !ok {
		return nil, errors.New("cannot pair its records with the EHR's")
	}
	return p, nil
}
