// Package hubspot maps FHIR R4 to HubSpot's CRM contacts v3 API and back. It
// is pure: no I/O.
//
// HubSpot is a marketing destination, the one that must receive the least
// (docs/decisions/0004-routing-is-data.md): a Patient becomes a contact with
// contact fields only, built from an allow-list, never by copying the input:
//
//	email      the telecom with system email and use home, else the first email
//	firstname  the first given name of the official name (else the first name)
//	lastname   the family name of that same name
//	phone      the first telecom with system phone (omitted when there is none)
//	<fhir_id_property>  the Patient's logical id (default property switchboard_fhir_id)
//
// Nothing else: no birth date, gender, address, identifiers, extensions,
// contained resources, narrative or any other element. The contact is
// upserted keyed by email (idProperty "email"), so a Patient without an email
// cannot go to HubSpot (ErrNoEmail).
//
// The FHIR id property is a custom contact property: it must be created in
// the HubSpot portal (Settings > Properties, single-line text, internal name
// as configured) before the first delivery, or HubSpot rejects the upsert
// with a VALIDATION_ERROR. An empty property name leaves the id out.
//
// Back from HubSpot, a contact becomes a minimal Patient: name, email, phone,
// an identifier with system IdentifierSystem holding the contact id, and the
// meta.tag fhirjson.OriginSystem|OriginCode that marks it as coming from HubSpot (loop
// prevention, docs/decisions/0007-reconcilers-and-loops.md).
package hubspot

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

const (
	// IdentifierSystem is the FHIR identifier system of a HubSpot contact id
	// (the contact's hs_object_id). It is a Switchboard URI, not HubSpot's.
	IdentifierSystem = "https://switchboard.health/id/hubspot-contact"
	// OriginCode tags a Patient that came from HubSpot (meta.tag, system
	// fhirjson.OriginSystem).
	OriginCode = "hubspot"
	// IDProperty is the unique contact property upserts and reads are keyed by.
	IDProperty = "email"
	// DefaultFHIRIDProperty is the default name of the custom contact
	// property holding the Patient's FHIR id.
	DefaultFHIRIDProperty = "switchboard_fhir_id"
)

// Contact properties this package writes and reads.
const (
	PropEmail     = "email"
	PropFirstName = "firstname"
	PropLastName  = "lastname"
	PropPhone     = "phone"
)

// ErrNoEmail is returned for a Patient without an email: HubSpot contacts
// are keyed by email here. It holds no PHI.
var ErrNoEmail = errors.New("hubspot mapping: the Patient has no email telecom")

// BatchUpsert is the body of POST /crm/v3/objects/contacts/batch/upsert
// (HubSpot's BatchInputSimplePublicObjectBatchInputUpsert).
type BatchUpsert struct {
	Inputs []UpsertInput `json:"inputs"`
}

// UpsertInput is one contact of a batch upsert
// (SimplePublicObjectBatchInputUpsert).
type UpsertInput struct {
	// ID is the value of IDProperty: the email.
	ID         string `json:"id"`
	IDProperty string `json:"idProperty"`
	// ObjectWriteTraceID is a PHI-free trace id (the hub's transfer id).
	ObjectWriteTraceID string            `json:"objectWriteTraceId,omitempty"`
	Properties         map[string]string `json:"properties"`
}

// Options are the mapping's parameters.
type Options struct {
	// FHIRIDProperty names the contact property holding the Patient's id;
	// "" leaves the id out.
	FHIRIDProperty string
	// TraceID is sent as objectWriteTraceId; "" omits it. Must hold no PHI.
	TraceID string
}

// Upsert maps a validated FHIR Patient to a one-contact batch upsert. Its
// errors hold no PHI; a Patient without an email gives ErrNoEmail.
func Upsert(patient []byte, o Options) (BatchUpsert, error) {
	p, err := readPatient(patient)
	if err != nil {
		return BatchUpsert{}, err
	}
	email := pickEmail(p.Telecom)
	if email == "" {
		return BatchUpsert{}, ErrNoEmail
	}
	props := map[string]string{PropEmail: email}
	if n := pickName(p.Name); n != nil {
		for _, g := range n.Given {
			if g = strings.TrimSpace(g); g != "" {
				props[PropFirstName] = g
				break
			}
		}
		if n.Family != nil && strings.TrimSpace(*n.Family) != "" {
			props[PropLastName] = strings.TrimSpace(*n.Family)
		}
	}
	for _, cp := range p.Telecom {
		if cp.System != nil && *cp.System == fhir.ContactPointSystemPhone && value(cp) != "" {
			props[PropPhone] = value(cp)
			break
		}
	}
	if o.FHIRIDProperty != "" && p.Id != nil && *p.Id != "" {
		props[o.FHIRIDProperty] = *p.Id
	}
	return BatchUpsert{Inputs: []UpsertInput{{
		ID:                 email,
		IDProperty:         IDProperty,
		ObjectWriteTraceID: o.TraceID,
		Properties:         props,
	}}}, nil
}

// Properties lists the contact properties to ask HubSpot for when reading
// contacts back (searches, reads): only those Patient maps, so nothing else
// the portal holds about a person is fetched.
func Properties() []string {
	return []string{PropEmail, PropFirstName, PropLastName, PropPhone}
}

// value is a telecom's trimmed value.
func value(cp fhir.ContactPoint) string {
	if cp.Value == nil {
		return ""
	}
	return strings.TrimSpace(*cp.Value)
}

func pickEmail(tel []fhir.ContactPoint) string {
	first := ""
	for _, cp := range tel {
		if cp.System == nil || *cp.System != fhir.ContactPointSystemEmail || value(cp) == "" {
			continue
		}
		if cp.Use != nil && *cp.Use == fhir.ContactPointUseHome {
			return value(cp)
		}
		if first == "" {
			first = value(cp)
		}
	}
	return first
}

func pickName(names []fhir.HumanName) *fhir.HumanName {
	if i := fhirjson.OfficialName(names, nameUse); i >= 0 {
		return &names[i]
	}
	return nil
}

func nameUse(n fhir.HumanName) string {
	if n.Use == nil {
		return ""
	}
	return n.Use.Code()
}

// readPatient decodes a Patient for reading. samply's decoder accepts any
// resourceType, so the type is checked here.
func readPatient(resource []byte) (fhir.Patient, error) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(resource, &head); err != nil {
		return fhir.Patient{}, errors.New("hubspot mapping: the resource is not JSON")
	}
	if head.ResourceType != "Patient" {
		return fhir.Patient{}, errors.New("hubspot mapping: the resource is not a Patient")
	}
	p, err := fhir.UnmarshalPatient(resource)
	if err != nil {
		return fhir.Patient{}, errors.New("hubspot mapping: the Patient does not decode")
	}
	return p, nil
}
