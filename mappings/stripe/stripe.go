// Package stripe maps FHIR R4 to Stripe's API shapes. A Patient becomes a
// Customer with contact fields only (name, email, phone, address): Stripe
// needs nothing clinical or demographic beyond that. The Customer's
// metadata carries the FHIR reference and the hub's origin, so "who is this
// in the EHR" can be answered from Stripe without a crosswalk table.
//
// A Patient that already has a Stripe customer id carries it as an
// identifier with system IdentifierSystem; the connector then updates that
// customer instead of creating one.
package stripe

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// IdentifierSystem is the FHIR identifier system of a Stripe customer id.
const IdentifierSystem = "https://switchboard.health/id/stripe-customer"

// Customer maps a Patient to Stripe Customer form parameters.
func Customer(patient []byte, transferID string) (url.Values, error) {
	p, err := fhir.UnmarshalPatient(patient)
	if err != nil {
		return nil, fmt.Errorf("stripe mapping: not a Patient")
	}
	v := url.Values{}
	if name := displayName(p.Name); name != "" {
		v.Set("name", name)
	}
	for _, cp := range p.Telecom {
		if cp.System == nil || cp.Value == nil || *cp.Value == "" {
			continue
		}
		switch *cp.System {
		case fhir.ContactPointSystemEmail:
			if v.Get("email") == "" {
				v.Set("email", *cp.Value)
			}
		case fhir.ContactPointSystemPhone:
			if v.Get("phone") == "" {
				v.Set("phone", *cp.Value)
			}
		}
	}
	if a := pickAddress(p.Address); a != nil {
		if len(a.Line) > 0 {
			v.Set("address[line1]", a.Line[0])
		}
		if len(a.Line) > 1 {
			v.Set("address[line2]", strings.Join(a.Line[1:], ", "))
		}
		set := func(k string, s *string) {
			if s != nil && *s != "" {
				v.Set(k, *s)
			}
		}
		set("address[city]", a.City)
		set("address[state]", a.State)
		set("address[postal_code]", a.PostalCode)
		set("address[country]", a.Country)
	}
	if p.Id != nil && *p.Id != "" {
		v.Set("metadata[fhir_resource]", "Patient/"+*p.Id)
	}
	if transferID != "" {
		v.Set("metadata[switchboard_transfer]", transferID)
	}
	v.Set("metadata[switchboard_origin]", "switchboard")
	return v, nil
}

// CustomerID returns the Stripe customer id the Patient carries, or "".
func CustomerID(patient []byte) string {
	p, err := fhir.UnmarshalPatient(patient)
	if err != nil {
		return ""
	}
	for _, id := range p.Identifier {
		if id.System != nil && *id.System == IdentifierSystem && id.Value != nil {
			return *id.Value
		}
	}
	return ""
}

func displayName(names []fhir.HumanName) string {
	var pick *fhir.HumanName
	for i := range names {
		if names[i].Use != nil && *names[i].Use == fhir.NameUseOfficial {
			pick = &names[i]
			break
		}
	}
	if pick == nil && len(names) > 0 {
		pick = &names[0]
	}
	if pick == nil {
		return ""
	}
	if pick.Text != nil && *pick.Text != "" {
		return *pick.Text
	}
	parts := append([]string{}, pick.Given...)
	if pick.Family != nil {
		parts = append(parts, *pick.Family)
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

func pickAddress(as []fhir.Address) *fhir.Address {
	for i := range as {
		if as[i].Use != nil && *as[i].Use == fhir.AddressUseHome {
			return &as[i]
		}
	}
	if len(as) > 0 {
		return &as[0]
	}
	return nil
}
