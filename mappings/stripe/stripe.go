// Package stripe maps FHIR R4 to Stripe's API shapes. It is pure: no I/O.
//
// A Patient becomes a Customer with contact fields only, as form parameters:
//
//	name                  the official name (else the first): given names and family joined by spaces, else its text
//	email                 the first telecom with system email
//	phone                 the first telecom with system phone
//	address[line1]        the home address (else the first): first line
//	address[line2]        the remaining lines, joined by ", "
//	address[city], address[state], address[postal_code], address[country]
//	metadata[fhir_resource]         Patient/{id}, when the Patient has an id
//	metadata[switchboard_transfer]  the hub's transfer id
//	metadata[switchboard_origin]    "switchboard" (loop prevention: docs/decisions/0007-reconcilers-and-loops.md)
//
// Nothing else: Stripe needs nothing clinical or demographic (no birth date,
// no gender). The metadata lets "who is this in the EHR" be answered from
// Stripe without a crosswalk table
// (docs/decisions/0001-stateless-about-patients.md).
//
// A Patient that already has a Stripe customer carries its id as an
// identifier with system https://switchboard.health/id/stripe-customer
// (IdentifierSystem); CustomerID reads it, and the connector then updates
// that customer instead of creating one.
//
// # Billing
//
// A FHIR Invoice becomes one Stripe invoice item per line, then one
// invoice that gathers them; a ChargeItem alone becomes one invoice item
// (pay as you go: it joins the customer's next invoice).
//
// Each invoice item (POST /v1/invoiceitems):
//
//	customer                        the Stripe customer (see below)
//	currency                        the lines' currency, lower case
//	amount                          in the currency's minor units (MinorUnits)
//	description                     BillingOptions.Description, a generic text: never the
//	                                line's code or its display, which would put clinical
//	                                content at the payment gateway
//	metadata[fhir_invoice_id]       the Invoice's id, when it has one
//	metadata[fhir_line]             the line's sequence (else its position from 1)
//	metadata[fhir_charge_item_id]   the ChargeItem's id (ChargeItem alone)
//	metadata[switchboard_transfer]  the hub's transfer id
//	metadata[switchboard_origin]    "switchboard"
//
// A line's amount is its priceComponent of type base (one at most); without
// one, the priceOverride of the ChargeItem it refers to (contained, or in
// the delivery's related resources). Components of type surcharge,
// deduction, discount or tax are refused rather than guessed at (a wrong
// sign would over- or under-charge); informational ones are ignored.
// Amounts are converted exactly (MinorUnits: the decimal as written, no
// float), and refused with CodeAmount when they hold a fraction of a minor
// unit or the invoice's total is negative (a negative line, a credit, is
// allowed). Every amount, totalNet and totalGross included, must be in one
// currency (CodeCurrency); an amount without one takes the invoice's.
//
// The invoice (POST /v1/invoices): customer, currency, collection_method,
// days_until_due (send_invoice only), auto_advance,
// pending_invoice_items_behavior=include (so that the items just created
// are on it; the parameter's default is exclude), and the metadata above
// but fhir_line.
//
// The Stripe customer is the value of an identifier with system
// IdentifierSystem found on, in order: Invoice.recipient, then
// Invoice.subject (ChargeItem.subject), each as the reference's own
// identifier, a contained resource ("#id") or a resource of the same
// transaction Bundle (related, keyed by the reference as written). The
// Patient must therefore have reached Stripe first: the Customer mapping's
// id is written back to the Patient as that identifier. Without one the
// mapping fails with CodeNoCustomer.
//
// Only invoices with status issued, and charge items with status billable,
// are billed (CodeStatus). All errors are *Error,
// PHI-free (they name lines by position, never by content).
package stripe

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Identifier systems of the Stripe ids written back to the EHR.
const (
	// IdentifierSystem is a Stripe customer id's (on a Patient).
	IdentifierSystem = "https://switchboard.health/id/stripe-customer"
	// InvoiceSystem is a Stripe invoice id's (on an Invoice).
	InvoiceSystem = "https://switchboard.health/id/stripe-invoice"
	// InvoiceItemSystem is a Stripe invoice item id's (on a ChargeItem).
	InvoiceItemSystem = "https://switchboard.health/id/stripe-invoice-item"
)

// Customer maps a Patient to Stripe Customer form parameters; the caller
// sends v.Encode(), which sorts the keys. Its errors hold no PHI.
func Customer(patient []byte, transferID string) (url.Values, error) {
	p, err := readPatient(patient)
	if err != nil {
		return nil, err
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
	p, err := readPatient(patient)
	if err != nil {
		return ""
	}
	for _, id := range p.Identifier {
		if id.System != nil && *id.System == IdentifierSystem && id.Value != nil && *id.Value != "" {
			return *id.Value
		}
	}
	return ""
}

// readPatient decodes a Patient for reading. samply's decoder accepts any
// resourceType, so the type is checked here.
func readPatient(resource []byte) (fhir.Patient, error) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(resource, &head); err != nil {
		return fhir.Patient{}, errors.New("stripe mapping: the resource is not JSON")
	}
	if head.ResourceType != "Patient" {
		return fhir.Patient{}, errors.New("stripe mapping: the resource is not a Patient")
	}
	p, err := fhir.UnmarshalPatient(resource)
	if err != nil {
		return fhir.Patient{}, errors.New("stripe mapping: the Patient does not decode")
	}
	return p, nil
}

func displayName(names []fhir.HumanName) string {
	i := fhirjson.OfficialName(names, func(n fhir.HumanName) string {
		if n.Use == nil {
			return ""
		}
		return n.Use.Code()
	})
	if i < 0 {
		return ""
	}
	pick := &names[i]
	var parts []string
	for _, g := range pick.Given {
		if g = strings.TrimSpace(g); g != "" {
			parts = append(parts, g)
		}
	}
	if pick.Family != nil && strings.TrimSpace(*pick.Family) != "" {
		parts = append(parts, strings.TrimSpace(*pick.Family))
	}
	if len(parts) == 0 && pick.Text != nil {
		return strings.TrimSpace(*pick.Text)
	}
	return strings.Join(parts, " ")
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
