package connectors

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
)

// Searches: the hub's passthrough reads (GET /fhir/R4/{type}?…) and its own
// lookups (the consent gate, identity) ask a connector to search a vendor.
//
// A search must never claim a filter it did not apply: a Bundle that says
// "patient=X" but holds every patient's appointments puts other patients'
// data on one patient's screen. FHIR's rule is that a server states, in the
// searchset's self link, the parameters it actually used. So every
// searching connector says what it applies, in one of two ways:
//
//   - A connector that translates FHIR search parameters into a vendor's
//     own API (Cal.com, Candid, HubSpot) declares them per resource type
//     (SearchParams). The hub sends it only those (and _count), and the
//     connector applies every one it receives, or fails with BadSearch.
//   - A connector that passes parameters through to a FHIR server
//     (StatesApplied) reports, on every page, the parameters the server
//     stated it applied (SearchPage.Applied, from the server's self link).
//     The hub compares them with what it sent.
//
// A Searcher that implements neither declares nothing: the hub's API sends
// it no parameters at all, so it cannot drop one silently.

// CountParam is FHIR's page size parameter. It is the one parameter that is
// never a filter: a source may return fewer per page than asked (servers
// cap it), so it is passed on to every connector and never counted as
// unapplied.
const CountParam = "_count"

// SearchQuery is a FHIR search the hub routes to a connector (a
// passthrough read: nothing is cached or logged).
type SearchQuery struct {
	// ResourceType is the FHIR type searched, e.g. "Slot".
	ResourceType string
	// Params are the FHIR search parameters as sent (_count included). They
	// can hold PHI (patient=…): never log them.
	Params url.Values
	// Cursor is the vendor's opaque cursor from a previous page's Next; ""
	// asks for the first page.
	Cursor string
}

// SearchPage is one page of search results, mapped to FHIR.
type SearchPage struct {
	// Resources are FHIR R4 resources as JSON. PHI.
	Resources []json.RawMessage
	// Next is the opaque cursor of the next page, "" on the last one.
	Next string
	// Applied is, for a connector that StatesApplied, the parameters the
	// source stated it applied to this page, in its own words (the query of
	// a FHIR server's self link; nil or empty: none). Other connectors leave
	// it nil. It can hold PHI, like the query.
	Applied url.Values
}

// Searcher is implemented by connectors that answer FHIR searches. Failures
// are *Error, classified as for deliveries; a search the client asked
// wrongly is BadSearch.
type Searcher interface {
	Search(ctx context.Context, q SearchQuery) (SearchPage, error)
}

// SearchParam is one search parameter a connector supports for a resource
// type, as a CapabilityStatement lists it (rest.resource.searchParam).
type SearchParam struct {
	// Name as a client writes it: "patient", "date", "patient.email".
	Name string
	// Type is FHIR's search parameter type: number, date, string, token,
	// reference, composite, quantity, uri or special.
	Type string
}

// SearchDeclarer is implemented by Searchers that say which search
// parameters they support; see the package's notes on searches above.
type SearchDeclarer interface {
	// SearchParams lists the parameters supported for resourceType (none:
	// the type is not searched here). The hub's CapabilityStatement lists
	// them; unless StatesApplied, they are the only ones the hub sends.
	// A FHIR connector reads them from its server's CapabilityStatement,
	// hence ctx and the error.
	SearchParams(ctx context.Context, resourceType string) ([]SearchParam, error)
	// StatesApplied reports that the source states on every page which
	// parameters it applied (SearchPage.Applied): the hub then passes every
	// parameter on and checks the statement instead of the declaration.
	StatesApplied() bool
}

// Unapplied returns the names of the parameters of q that the search did
// not apply, sorted; _count is never among them. For a source that
// StatesApplied, a parameter is applied when page.Applied states it at
// least as often as q sent it (each of date=ge…&date=lt… must be there);
// otherwise when s declares it for the type. A Searcher that is not a
// SearchDeclarer applied nothing. The hub's own lookups call it on a first
// page (q.Cursor ""): a source that ignored a filter must not decide
// anything (whose Consents these are).
func Unapplied(ctx context.Context, s Searcher, q SearchQuery, page SearchPage) ([]string, error) {
	d, _ := s.(SearchDeclarer)
	var declared []SearchParam
	if d != nil && !d.StatesApplied() {
		var err error
		if declared, err = d.SearchParams(ctx, q.ResourceType); err != nil {
			return nil, err
		}
	}
	var out []string
	for name, vals := range q.Params {
		if name == CountParam {
			continue
		}
		var applied bool
		switch {
		case d == nil:
		case d.StatesApplied():
			applied = len(page.Applied[name]) >= len(vals)
		default:
			applied = Declared(declared, name)
		}
		if !applied {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Declared reports whether params holds name.
func Declared(params []SearchParam, name string) bool {
	for _, p := range params {
		if p.Name == name {
			return true
		}
	}
	return false
}

// SearchParamError says a search cannot run as asked because of one of its
// parameters (Param), or of their combination (Param ""): the client's
// error, which the hub answers with 400 and Param as the expression. Reason
// says which rule failed and is shown to the client: never a value from
// the query, which may be PHI.
type SearchParamError struct {
	Param  string
	Reason string
}

func (e *SearchParamError) Error() string {
	if e.Param == "" {
		return "bad search: " + e.Reason
	}
	return "bad search parameter " + e.Param + ": " + e.Reason
}

// BadSearch returns the permanent failure (code "bad_search") of a search
// the client asked wrongly: a parameter's value the connector cannot
// translate, a required one missing, a combination it cannot apply whole.
// The hub answers it with 400, not as the vendor's failure.
func BadSearch(param, reason string) *Error {
	return &Error{Class: Permanent, Code: "bad_search", Err: &SearchParamError{Param: param, Reason: reason}}
}
