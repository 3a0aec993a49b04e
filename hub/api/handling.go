package api

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/outcome"
)

// A passthrough search never claims a filter its source did not apply
// (FHIR: the self link states the parameters the server used; a client
// trusts it to know whose data it shows). What was applied comes from the
// source (connectors.Unapplied): a FHIR server's own self link, or the
// parameters a connector declares for the type. FHIR's Prefer header
// chooses what happens to a parameter that was not applied:
//
//	Prefer: handling=strict   (the default) 400, one issue per parameter, its name in expression
//	Prefer: handling=lenient  the search is answered; its self link leaves the parameter out
//
// The default is strict because the lenient answer is only safe for a
// client that reads the self link, and most do not.

// handling reads the Prefer header's handling preference: lenient or not,
// and whether the client expressed one at all.
func handling(h http.Header) (lenient, asked bool) {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "handling") {
				continue
			}
			switch strings.ToLower(strings.Trim(strings.TrimSpace(val), `"`)) {
			case "lenient":
				lenient, asked = true, true
			case "strict":
				lenient, asked = false, true
			}
		}
	}
	return lenient, asked
}

// preferenceApplied is the Preference-Applied header (RFC 7240) for the
// handling used.
func preferenceApplied(lenient bool) string {
	if lenient {
		return "handling=lenient"
	}
	return "handling=strict"
}

// notApplied is strict handling's answer: one issue per parameter the
// source does not apply, each named in expression.
func notApplied(typ string, names []string) *outcome.Error {
	oe := &outcome.Error{Status: http.StatusBadRequest}
	for _, n := range names {
		oe.Issues = append(oe.Issues, outcome.Issue{Severity: "error", Code: "not-supported", Expression: paramExpression(n),
			Diagnostics: "the source of " + typ + " searches does not apply this search parameter (GET " + FHIRBase +
				"/metadata lists those it does); with Prefer: handling=lenient the search is answered without it"})
	}
	return oe
}

// paramName is what a search parameter's name looks like (a code, with a
// chain or a modifier): only such a name is echoed in an OperationOutcome.
// Anything else a client put in a query's name is not repeated back.
var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)

func paramExpression(name string) string {
	if paramName.MatchString(name) {
		return name
	}
	return ""
}

// checkCount checks the page size the client asked: one whole number, zero
// or more (FHIR _count). The source may lower it; it never filters.
func checkCount(q url.Values) *outcome.Error {
	vals, ok := q[connectors.CountParam]
	if !ok {
		return nil
	}
	if len(vals) == 1 {
		if n, err := strconv.Atoi(vals[0]); err == nil && n >= 0 && !strings.HasPrefix(vals[0], "+") {
			return nil
		}
	}
	return outcome.New(http.StatusBadRequest, "invalid", connectors.CountParam, "_count must be one whole number, zero or more")
}

// statesApplied reports whether s states what it applied on every page.
func statesApplied(s connectors.Searcher) bool {
	d, ok := s.(connectors.SearchDeclarer)
	return ok && d.StatesApplied()
}

// withoutParam returns a copy of q without the names given.
func withoutParam(q url.Values, names ...string) url.Values {
	out := url.Values{}
	for k, v := range q {
		if !slices.Contains(names, k) {
			out[k] = slices.Clone(v)
		}
	}
	return out
}

func cloneValues(q url.Values) url.Values { return withoutParam(q) }

// sameValues reports whether a and b hold the same parameters and values,
// in any order of names (values keep theirs).
func sameValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
