// Package candid maps FHIR R4 Claims to Candid Health encounters (POST
// /api/encounters/v4, EncounterCreate) and Candid encounters back to FHIR
// ClaimResponses. Pure functions, no I/O. Errors never quote the input:
// they name the element that was wrong, not its value.
package candid

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// FHIR code systems read here.
const (
	SystemICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
	SystemCPT     = "http://www.ama-assn.org/go/cpt"
	SystemHCPCS   = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
	SystemNPI     = "http://hl7.org/fhir/sid/us-npi"
	// SystemTIN is the US federal employer identification number (EIN/TIN).
	SystemTIN = "urn:oid:2.16.840.1.113883.4.4"
	// SystemPOS is CMS's place of service code set.
	SystemPOS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
	// SystemEncounter identifies a Candid encounter id on a ClaimResponse.
	SystemEncounter = "https://switchboard.health/id/candid-encounter"
	// SystemPayer identifies a payer by its Candid/clearinghouse payer id
	// on ClaimResponse.insurer (and, in the test data, on Coverage.payor).
	SystemPayer = "https://switchboard.health/id/payer"
)

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type concept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text"`
}

func (c concept) code(systems ...string) string {
	for _, cd := range c.Coding {
		for _, s := range systems {
			if cd.System == s && cd.Code != "" {
				return cd.Code
			}
		}
	}
	return ""
}

type identifier struct {
	System string  `json:"system"`
	Value  string  `json:"value"`
	Type   concept `json:"type"`
}

type reference struct {
	Reference  string     `json:"reference"`
	Display    string     `json:"display"`
	Identifier identifier `json:"identifier"`
}

type humanName struct {
	Use    string   `json:"use"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

type address struct {
	Use        string   `json:"use"`
	Line       []string `json:"line"`
	City       string   `json:"city"`
	State      string   `json:"state"`
	PostalCode string   `json:"postalCode"`
}

// person is the shape shared by Patient, RelatedPerson and Practitioner.
type person struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []identifier `json:"identifier"`
	Name         []humanName  `json:"name"`
	Gender       string       `json:"gender"`
	BirthDate    string       `json:"birthDate"`
	Address      []address    `json:"address"`
}

type organization struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []identifier `json:"identifier"`
	Name         string       `json:"name"`
	Address      []address    `json:"address"`
}

type coverage struct {
	ResourceType string       `json:"resourceType"`
	Identifier   []identifier `json:"identifier"`
	SubscriberID string       `json:"subscriberId"`
	Subscriber   *reference   `json:"subscriber"`
	Relationship concept      `json:"relationship"`
	Payor        []reference  `json:"payor"`
	Class        []struct {
		Type  concept `json:"type"`
		Value string  `json:"value"`
		Name  string  `json:"name"`
	} `json:"class"`
}

type encounter struct {
	ResourceType string `json:"resourceType"`
	Period       struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"period"`
}

// resolver finds the resources a Claim refers to: contained ("#id") or in
// the same transaction Bundle (Delivery.Related, keyed as written).
type resolver struct{ fhirjson.Resolver }

func newResolver(contained []json.RawMessage, related map[string][]byte) resolver {
	return resolver{fhirjson.NewResolver(contained, related)}
}

// errNotFound means the reference is absent or could not be resolved.
var errNotFound = errors.New("not found")

// get decodes the resource ref points to into v, checking its type.
func (r resolver) get(ref *reference, wantType string, v any) error {
	if ref == nil {
		return errNotFound
	}
	raw := r.Resolve(ref.Reference)
	if raw == nil {
		return errNotFound
	}
	var h struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("the referenced %s is not valid JSON", wantType)
	}
	if wantType != "" && h.ResourceType != wantType {
		return errNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("the referenced %s does not decode", wantType)
	}
	return nil
}

func identifierValue(ids []identifier, system string) string {
	for _, id := range ids {
		if id.System == system && id.Value != "" {
			return id.Value
		}
	}
	return ""
}

// pickName prefers the official name, then the first.
func pickName(names []humanName) (humanName, bool) {
	if i := fhirjson.OfficialName(names, func(n humanName) string { return n.Use }); i >= 0 {
		return names[i], true
	}
	return humanName{}, false
}

// pickAddress prefers home (patients) or work/billing, then the first.
func pickAddress(as []address) (address, bool) {
	for _, a := range as {
		if a.Use == "home" || a.Use == "billing" || a.Use == "work" {
			return a, true
		}
	}
	if len(as) > 0 {
		return as[0], true
	}
	return address{}, false
}

// zip splits a US postal code into its 5 and 4 digit parts.
func zip(postal string) (string, string) {
	p := strings.ReplaceAll(strings.TrimSpace(postal), "-", "")
	if len(p) == 9 {
		return p[:5], p[5:]
	}
	return p, ""
}
