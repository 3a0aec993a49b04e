package candid

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Provider is a billing or rendering provider as Candid takes it. The
// connector's configuration fills one as the default billing provider,
// used when the Claim does not reference an Organization with an NPI.
type Provider struct {
	NPI              string
	TaxID            string
	OrganizationName string
	Address1         string
	Address2         string
	City             string
	State            string
	Zip              string
	ZipPlusFour      string
}

// Options are the connector's defaults for what a Claim may not carry.
type Options struct {
	// BillingProvider is used when Claim.provider does not resolve to an
	// Organization with an NPI; it is also the rendering provider when the
	// Claim names no Practitioner in its careTeam.
	BillingProvider Provider
	// PlaceOfServiceCode (CMS POS, e.g. "11" office) is used when no
	// Claim.item.locationCodeableConcept carries one; the spec requires it.
	PlaceOfServiceCode string
	// ExternalID is the encounter's external_id when the Claim has neither
	// an id nor an identifier (a new Claim in a transaction Bundle): the
	// connector passes the transfer and entry, stable across retries and
	// replays, so Candid's de-duplication on external_id still holds.
	ExternalID string
}

// The EncounterCreate body. Only what is sent; field names are the spec's.
type encounterCreate struct {
	ExternalID                 string          `json:"external_id"`
	DateOfService              string          `json:"date_of_service,omitempty"`
	PatientAuthorizedRelease   bool            `json:"patient_authorized_release"`
	BenefitsAssignedToProvider bool            `json:"benefits_assigned_to_provider"`
	ProviderAcceptsAssignment  bool            `json:"provider_accepts_assignment"`
	BillableStatus             string          `json:"billable_status"`
	ResponsibleParty           string          `json:"responsible_party"`
	Patient                    patientCreate   `json:"patient"`
	SubscriberPrimary          *subscriber     `json:"subscriber_primary,omitempty"`
	BillingProvider            billingProvider `json:"billing_provider"`
	RenderingProvider          provider        `json:"rendering_provider"`
	Diagnoses                  []diagnosis     `json:"diagnoses"`
	PlaceOfServiceCode         string          `json:"place_of_service_code"`
	ServiceLines               []serviceLine   `json:"service_lines"`
}

type shortAddress struct {
	Address1        string `json:"address1"`
	Address2        string `json:"address2,omitempty"`
	City            string `json:"city"`
	State           string `json:"state"`
	ZipCode         string `json:"zip_code"`
	ZipPlusFourCode string `json:"zip_plus_four_code,omitempty"`
}

// longAddress is StreetAddressLongZip: the spec requires the +4 code.
type longAddress struct {
	Address1        string `json:"address1"`
	Address2        string `json:"address2,omitempty"`
	City            string `json:"city"`
	State           string `json:"state"`
	ZipCode         string `json:"zip_code"`
	ZipPlusFourCode string `json:"zip_plus_four_code"`
}

type patientCreate struct {
	ExternalID  string       `json:"external_id"`
	FirstName   string       `json:"first_name"`
	LastName    string       `json:"last_name"`
	Gender      string       `json:"gender"`
	DateOfBirth string       `json:"date_of_birth"`
	Address     shortAddress `json:"address"`
}

type subscriber struct {
	FirstName    string        `json:"first_name"`
	LastName     string        `json:"last_name"`
	Gender       string        `json:"gender"`
	DateOfBirth  string        `json:"date_of_birth,omitempty"`
	Address      *shortAddress `json:"address,omitempty"`
	Relationship string        `json:"patient_relationship_to_subscriber_code"`
	Card         insuranceCard `json:"insurance_card"`
}

type insuranceCard struct {
	MemberID    string `json:"member_id"`
	PayerName   string `json:"payer_name"`
	PayerID     string `json:"payer_id"`
	GroupNumber string `json:"group_number,omitempty"`
}

type billingProvider struct {
	OrganizationName string      `json:"organization_name,omitempty"`
	NPI              string      `json:"npi"`
	TaxID            string      `json:"tax_id"`
	Address          longAddress `json:"address"`
}

type provider struct {
	FirstName        string       `json:"first_name,omitempty"`
	LastName         string       `json:"last_name,omitempty"`
	OrganizationName string       `json:"organization_name,omitempty"`
	NPI              string       `json:"npi"`
	Address          *longAddress `json:"address,omitempty"`
}

type diagnosis struct {
	CodeType string `json:"code_type"`
	Code     string `json:"code"`
}

type serviceLine struct {
	ProcedureCode     string   `json:"procedure_code"`
	Modifiers         []string `json:"modifiers,omitempty"`
	Quantity          string   `json:"quantity"`
	Units             string   `json:"units"`
	ChargeAmountCents *int64   `json:"charge_amount_cents,omitempty"`
	DiagnosisPointers []int    `json:"diagnosis_pointers"`
	DateOfService     string   `json:"date_of_service,omitempty"`
}

type claim struct {
	ResourceType   string            `json:"resourceType"`
	ID             string            `json:"id"`
	Identifier     []identifier      `json:"identifier"`
	Contained      []json.RawMessage `json:"contained"`
	Patient        *reference        `json:"patient"`
	Provider       *reference        `json:"provider"`
	BillablePeriod struct {
		Start string `json:"start"`
	} `json:"billablePeriod"`
	CareTeam []struct {
		Provider *reference `json:"provider"`
	} `json:"careTeam"`
	Diagnosis []struct {
		Sequence                 int     `json:"sequence"`
		DiagnosisCodeableConcept concept `json:"diagnosisCodeableConcept"`
	} `json:"diagnosis"`
	Insurance []struct {
		Sequence int        `json:"sequence"`
		Focal    bool       `json:"focal"`
		Coverage *reference `json:"coverage"`
	} `json:"insurance"`
	Item []struct {
		Sequence          int          `json:"sequence"`
		DiagnosisSequence []int        `json:"diagnosisSequence"`
		ProductOrService  concept      `json:"productOrService"`
		Modifier          []concept    `json:"modifier"`
		ServicedDate      string       `json:"servicedDate"`
		Location          concept      `json:"locationCodeableConcept"`
		Quantity          *quantity    `json:"quantity"`
		UnitPrice         *money       `json:"unitPrice"`
		Net               *money       `json:"net"`
		Encounter         []*reference `json:"encounter"`
	} `json:"item"`
}

type quantity struct {
	Value json.Number `json:"value"`
	Unit  string      `json:"unit"`
	Code  string      `json:"code"`
}

type money struct {
	Value    json.Number `json:"value"`
	Currency string      `json:"currency"`
}

// EncounterCreate maps a FHIR Claim, with the Patient, Coverage, Encounter,
// Organization and Practitioner it refers to (contained or in related,
// keyed by the reference as written), to the body of Candid's POST
// /api/encounters/v4. The answer is the JSON body.
//
// Choices, all from EncounterCreate's required fields:
//   - external_id is Claim.id (else its first identifier value): an
//     opaque id, not PHI. Candid deduplicates encounters on it.
//   - patient is the Claim's Patient: official name, gender, birthDate and
//     home address, which Candid needs to bill; patient.external_id is
//     the Patient's logical id.
//   - responsible_party is INSURANCE_PAY and subscriber_primary is the
//     focal (else first) Coverage: member id from subscriberId (else an
//     identifier typed MB), payer from Coverage.payor (display and
//     identifier, else the referenced Organization's name and identifier),
//     group number from class "group". A Claim without coverage is refused:
//     this connector submits insurance claims, not self-pay bills.
//   - billable_status BILLABLE; patient_authorized_release,
//     benefits_assigned_to_provider and provider_accepts_assignment true:
//     a Claim sent for submission implies the signatures on file (CMS-1500
//     boxes 12, 13, 27). A practice that bills otherwise needs another route.
//   - diagnoses from Claim.diagnosis in sequence order, ICD-10-CM only;
//     the first is the principal (code_type ABK), the others ABF. Candid
//     wants codes without the dot (J06.9 -> J069).
//   - service_lines from Claim.item: procedure_code the CPT or HCPCS code,
//     modifiers from item.modifier, quantity (default 1) in units UN (MJ,
//     minutes, when quantity.code is "min"), charge_amount_cents from
//     item.net, else unitPrice x quantity, in USD cents (a fraction of a
//     cent is an error, never rounded); diagnosis_pointers are the
//     zero-based positions in diagnoses of item.diagnosisSequence.
//   - date_of_service is billablePeriod.start, else the first item's
//     servicedDate, else the Encounter's period.start (date part).
//   - place_of_service_code from the first item.locationCodeableConcept
//     in the CMS POS code set, else Options.PlaceOfServiceCode.
//   - billing_provider from Claim.provider when it is an Organization with
//     an NPI (TIN, name, address from it), else Options.BillingProvider.
//     rendering_provider is the first careTeam Practitioner with an NPI,
//     else the billing provider's NPI and organization name.
func EncounterCreate(src []byte, related map[string][]byte, o Options) ([]byte, error) {
	var c claim
	if err := json.Unmarshal(src, &c); err != nil {
		return nil, errors.New("the Claim is not valid JSON")
	}
	if c.ResourceType != "Claim" {
		return nil, errors.New("the resource is not a Claim")
	}
	r := newResolver(c.Contained, related)
	e := encounterCreate{
		PatientAuthorizedRelease:   true,
		BenefitsAssignedToProvider: true,
		ProviderAcceptsAssignment:  true,
		BillableStatus:             "BILLABLE",
		ResponsibleParty:           "INSURANCE_PAY",
	}
	e.ExternalID = c.ID
	if e.ExternalID == "" && len(c.Identifier) > 0 {
		e.ExternalID = c.Identifier[0].Value
	}
	if e.ExternalID == "" {
		e.ExternalID = o.ExternalID
	}
	if e.ExternalID == "" {
		return nil, errors.New("the Claim has neither id nor identifier for external_id")
	}

	var pat person
	if err := r.get(c.Patient, "Patient", &pat); err != nil {
		return nil, fmt.Errorf("Claim.patient: %w (contained or in the same Bundle)", err)
	}
	p, err := patientOf(pat)
	if err != nil {
		return nil, err
	}
	e.Patient = p

	sub, err := subscriberOf(c, r, pat)
	if err != nil {
		return nil, err
	}
	e.SubscriberPrimary = sub

	pos, err := diagnosesOf(c, &e)
	if err != nil {
		return nil, err
	}
	if err := serviceLinesOf(c, pos, &e); err != nil {
		return nil, err
	}

	e.DateOfService = c.BillablePeriod.Start
	if e.DateOfService == "" && len(c.Item) > 0 {
		e.DateOfService = c.Item[0].ServicedDate
	}
	if e.DateOfService == "" && len(c.Item) > 0 && len(c.Item[0].Encounter) > 0 {
		var enc encounter
		if r.get(c.Item[0].Encounter[0], "Encounter", &enc) == nil {
			e.DateOfService = enc.Period.Start
		}
	}
	e.DateOfService = datePart(e.DateOfService)
	if e.DateOfService == "" {
		return nil, errors.New("no date of service: set Claim.billablePeriod.start or item.servicedDate")
	}

	for _, it := range c.Item {
		if pos := it.Location.code(SystemPOS); pos != "" {
			e.PlaceOfServiceCode = pos
			break
		}
	}
	if e.PlaceOfServiceCode == "" {
		e.PlaceOfServiceCode = o.PlaceOfServiceCode
	}
	if e.PlaceOfServiceCode == "" {
		return nil, errors.New("no place of service: set item.locationCodeableConcept or the connector's place_of_service_code")
	}

	bp, err := billingOf(c, r, o.BillingProvider)
	if err != nil {
		return nil, err
	}
	e.BillingProvider = bp
	e.RenderingProvider = renderingOf(c, r, bp)
	return json.Marshal(e)
}

func datePart(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}

func patientOf(p person) (patientCreate, error) {
	n, ok := pickName(p.Name)
	if !ok || n.Family == "" || len(n.Given) == 0 {
		return patientCreate{}, errors.New("the Patient needs a family and a given name")
	}
	if p.BirthDate == "" {
		return patientCreate{}, errors.New("the Patient needs a birthDate")
	}
	a, ok := pickAddress(p.Address)
	if !ok || len(a.Line) == 0 || a.City == "" || a.State == "" || a.PostalCode == "" {
		return patientCreate{}, errors.New("the Patient needs an address with line, city, state and postalCode")
	}
	// The practice's own id for the patient: the resource id, else (a new
	// Patient in a transaction Bundle) its first business identifier.
	ext := p.ID
	for _, id := range p.Identifier {
		if ext == "" && id.Value != "" {
			ext = id.Value
		}
	}
	if ext == "" {
		return patientCreate{}, errors.New("the Patient needs an id or an identifier (patient.external_id)")
	}
	return patientCreate{
		ExternalID:  ext,
		FirstName:   n.Given[0],
		LastName:    n.Family,
		Gender:      gender(p.Gender),
		DateOfBirth: p.BirthDate,
		Address:     shortAddr(a),
	}, nil
}

func shortAddr(a address) shortAddress {
	z, z4 := zip(a.PostalCode)
	s := shortAddress{Address1: a.Line[0], City: a.City, State: strings.ToUpper(a.State), ZipCode: z, ZipPlusFourCode: z4}
	if len(a.Line) > 1 {
		s.Address2 = strings.Join(a.Line[1:], ", ")
	}
	return s
}

// gender maps FHIR administrative gender to Candid's Gender enum.
func gender(g string) string {
	switch g {
	case "male", "female", "other", "unknown":
		return g
	}
	return "not_given"
}

// relationship maps FHIR subscriber-relationship codes to X12
// patient-relationship-to-insured codes.
func relationship(code string) string {
	switch code {
	case "", "self":
		return "18"
	case "spouse":
		return "01"
	case "child":
		return "19"
	case "parent":
		return "G8" // X12 has no parent code in Candid's list; "other relationship"
	case "common":
		return "53" // life partner
	case "injured":
		return "41" // injured plaintiff
	default:
		return "G8"
	}
}

func subscriberOf(c claim, r resolver, pat person) (*subscriber, error) {
	var ref *reference
	for _, in := range c.Insurance {
		if in.Coverage != nil && (in.Focal || ref == nil) {
			ref = in.Coverage
		}
	}
	var cov coverage
	if err := r.get(ref, "Coverage", &cov); err != nil {
		return nil, fmt.Errorf("Claim.insurance.coverage: %w (contained or in the same Bundle)", err)
	}
	card := insuranceCard{MemberID: cov.SubscriberID}
	if card.MemberID == "" {
		for _, id := range cov.Identifier {
			if id.Type.code("http://terminology.hl7.org/CodeSystem/v2-0203") == "MB" {
				card.MemberID = id.Value
			}
		}
	}
	for _, cl := range cov.Class {
		if cl.Type.code("http://terminology.hl7.org/CodeSystem/coverage-class") == "group" {
			card.GroupNumber = cl.Value
		}
	}
	if len(cov.Payor) > 0 {
		py := cov.Payor[0]
		card.PayerName, card.PayerID = py.Display, py.Identifier.Value
		var org organization
		if r.get(&py, "Organization", &org) == nil {
			if card.PayerName == "" {
				card.PayerName = org.Name
			}
			if card.PayerID == "" && len(org.Identifier) > 0 {
				card.PayerID = org.Identifier[0].Value
			}
		}
	}
	if card.MemberID == "" || card.PayerName == "" || card.PayerID == "" {
		return nil, errors.New("the Coverage needs a member id (subscriberId) and a payor with name and identifier")
	}
	rel := relationship(cov.Relationship.code("http://terminology.hl7.org/CodeSystem/subscriber-relationship"))
	who := pat
	if rel != "18" {
		who = person{} // decode afresh: nothing of the patient's may leak into the subscriber
		if err := r.get(cov.Subscriber, "", &who); err != nil {
			return nil, errors.New("Coverage.subscriber is not the patient and was not found (contained or in the same Bundle)")
		}
	}
	n, ok := pickName(who.Name)
	if !ok || n.Family == "" || len(n.Given) == 0 {
		return nil, errors.New("the subscriber needs a family and a given name")
	}
	s := &subscriber{FirstName: n.Given[0], LastName: n.Family, Gender: gender(who.Gender),
		DateOfBirth: who.BirthDate, Relationship: rel, Card: card}
	if a, ok := pickAddress(who.Address); ok && len(a.Line) > 0 && a.City != "" && a.State != "" && a.PostalCode != "" {
		sa := shortAddr(a)
		s.Address = &sa
	}
	return s, nil
}

func diagnosesOf(c claim, e *encounterCreate) (map[int]int, error) {
	pos := map[int]int{}
	for _, d := range c.Diagnosis {
		code := d.DiagnosisCodeableConcept.code(SystemICD10CM)
		if code == "" {
			return nil, fmt.Errorf("Claim.diagnosis %d has no ICD-10-CM code (system %s)", d.Sequence, SystemICD10CM)
		}
		typ := "ABF"
		if len(e.Diagnoses) == 0 {
			typ = "ABK"
		}
		pos[d.Sequence] = len(e.Diagnoses)
		e.Diagnoses = append(e.Diagnoses, diagnosis{CodeType: typ, Code: strings.ReplaceAll(code, ".", "")})
	}
	if len(e.Diagnoses) == 0 {
		return nil, errors.New("the Claim has no diagnosis: Candid needs at least one")
	}
	return pos, nil
}
