package apiclient

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxErrorBody bounds the error body read: an OperationOutcome is small.
const maxErrorBody = 64 << 10

// Issue is one OperationOutcome issue: the FHIR issue type code, the
// element at fault (a FHIRPath or a parameter name, "" when none) and the
// rule that failed.
type Issue struct {
	Severity    string
	Code        string
	Expression  string
	Diagnostics string
}

// APIError is a non-2xx answer. Issues come from the FHIR OperationOutcome
// every Switchboard error is; they are empty when something else answered
// (a proxy, an older hub).
type APIError struct {
	Status int
	Issues []Issue
	// TokenFrom is the Client's TokenFrom: where the token sent came from.
	TokenFrom string
}

// Error reads like "403 forbidden: the admin role is required (token from
// SWITCHBOARD_TOKEN)". A 401 without a token says how to give one, since
// that is nearly always the fix; a 401 or 403 with one says where it came
// from, since the usual cause is another role's token.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, strings.ToLower(http.StatusText(e.Status)))
	for i, is := range e.Issues {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep)
		if is.Expression != "" {
			b.WriteString(is.Expression + ": ")
		}
		switch {
		case is.Diagnostics != "":
			b.WriteString(is.Diagnostics)
		case is.Code != "":
			b.WriteString(is.Code)
		}
	}
	switch {
	case e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden:
	case e.TokenFrom != "":
		b.WriteString(" (token from " + e.TokenFrom + ")")
	case e.Status == http.StatusUnauthorized:
		b.WriteString(" (pass --token, or set " + EnvToken + " or the role's " + RoleTokenEnv("admin") + " / " +
			RoleTokenEnv("auditor") + ": `source var/dev.env` on a make-run hub)")
	}
	return b.String()
}

// readError reads a non-2xx answer. Bodies that are not OperationOutcomes
// are not echoed: they may be long, or HTML from a proxy.
func readError(res *http.Response) *APIError {
	e := &APIError{Status: res.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string   `json:"severity"`
			Code        string   `json:"code"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
		// Message is what echo answers for routes it does not have.
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &oo) != nil {
		return e
	}
	for _, is := range oo.Issue {
		e.Issues = append(e.Issues, Issue{Severity: is.Severity, Code: is.Code, Diagnostics: is.Diagnostics,
			Expression: strings.Join(is.Expression, ", ")})
	}
	if len(e.Issues) == 0 && oo.Message != "" && len(oo.Message) < 200 && !strings.EqualFold(oo.Message, http.StatusText(e.Status)) {
		e.Issues = []Issue{{Diagnostics: oo.Message}}
	}
	return e
}
