package hubspot

import (
	"encoding/json"
	"errors"
	"strings"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Contact is the part of HubSpot's SimplePublicObject this package reads.
type Contact struct {
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
}

// The FHIR Patient built from a contact. Only these elements exist, so
// nothing else HubSpot holds can come through.
type patient struct {
	ResourceType string       `json:"resourceType"`
	Meta         meta         `json:"meta"`
	Identifier   []identifier `json:"identifier"`
	Name         []humanName  `json:"name,omitempty"`
	Telecom      []telecom    `json:"telecom,omitempty"`
}

type meta struct {
	Tag []coding `json:"tag"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type humanName struct {
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

type telecom struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Patient maps a HubSpot contact (SimplePublicObject JSON) to a minimal FHIR
// R4 Patient: name, email, phone, the contact id as an identifier
// (IdentifierSystem) and the origin tag. Its errors hold no PHI.
func Patient(contact []byte) (json.RawMessage, error) {
	var c Contact
	if err := json.Unmarshal(contact, &c); err != nil {
		return nil, errors.New("hubspot mapping: the contact is not JSON")
	}
	return PatientOf(c)
}

// PatientOf is Patient for a decoded contact.
func PatientOf(c Contact) (json.RawMessage, error) {
	if c.ID == "" {
		return nil, errors.New("hubspot mapping: the contact has no id")
	}
	p := patient{
		ResourceType: "Patient",
		Meta:         meta{Tag: []coding{{System: fhirjson.OriginSystem, Code: OriginCode}}},
		Identifier:   []identifier{{System: IdentifierSystem, Value: c.ID}},
	}
	prop := func(k string) string { return strings.TrimSpace(c.Properties[k]) }
	n := humanName{Family: prop(PropLastName)}
	if g := prop(PropFirstName); g != "" {
		n.Given = []string{g}
	}
	if n.Family != "" || len(n.Given) > 0 {
		p.Name = []humanName{n}
	}
	if v := prop(PropEmail); v != "" {
		p.Telecom = append(p.Telecom, telecom{System: "email", Value: v})
	}
	if v := prop(PropPhone); v != "" {
		p.Telecom = append(p.Telecom, telecom{System: "phone", Value: v})
	}
	return json.Marshal(p)
}

// SearchRequest is the body of POST /crm/v3/objects/contacts/search
// (PublicObjectSearchRequest).
//
// HubSpot's published OpenAPI marks after, filterGroups, limit, properties
// and sorts all required, while its guides show them optional; we follow
// the spec and always send all five (after "" for the first page, sorts
// empty).
type SearchRequest struct {
	After        string        `json:"after"`
	FilterGroups []FilterGroup `json:"filterGroups"`
	Limit        int           `json:"limit"`
	Properties   []string      `json:"properties"`
	Sorts        []string      `json:"sorts"`
}

// FilterGroup is a HubSpot search filter group (filters are ANDed).
type FilterGroup struct {
	Filters []Filter `json:"filters"`
}

// Filter is one HubSpot search filter.
type Filter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value"`
}

// SearchByEmail builds the search for contacts whose email equals email,
// starting at the opaque cursor after ("" for the first page).
func SearchByEmail(email, after string, limit int) SearchRequest {
	return SearchRequest{
		After:        after,
		FilterGroups: []FilterGroup{{Filters: []Filter{{PropertyName: PropEmail, Operator: "EQ", Value: email}}}},
		Limit:        limit,
		Properties:   Properties(),
		Sorts:        []string{},
	}
}

// SearchResults maps a search answer (CollectionResponseWithTotalSimplePublicObject)
// to FHIR Patients and the cursor of the next page ("" on the last).
func SearchResults(body []byte) (patients []json.RawMessage, next string, err error) {
	var r struct {
		Results []Contact `json:"results"`
		Paging  struct {
			Next struct {
				After string `json:"after"`
			} `json:"next"`
		} `json:"paging"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, "", errors.New("hubspot mapping: the search answer is not JSON")
	}
	patients = make([]json.RawMessage, 0, len(r.Results))
	for _, c := range r.Results {
		p, err := PatientOf(c)
		if err != nil {
			return nil, "", err
		}
		patients = append(patients, p)
	}
	return patients, r.Paging.Next.After, nil
}
