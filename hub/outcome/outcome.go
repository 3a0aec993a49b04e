// Package outcome renders errors as FHIR R4 OperationOutcomes. Every error a
// client can cause is one: a status, and issues that each name the element
// at fault in `expression` (a FHIRPath such as Patient.name[0].family).
//
// Diagnostics must never carry a value from the request: they say what rule
// failed ("invalid date"), not what was sent, because what was sent may be
// PHI and errors end up in client logs.
package outcome

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Issue is one OperationOutcome.issue.
type Issue struct {
	// Severity is fatal, error, warning or information.
	Severity string
	// Code is a FHIR IssueType code: structure, invalid, required, value,
	// not-supported, too-long, conflict, not-found, transient, ...
	Code string
	// Expression is the FHIRPath of the element at fault, "" when none.
	Expression string
	// Diagnostics explains the rule that failed, without input values.
	Diagnostics string
}

// Error is an HTTP status with the issues that explain it.
type Error struct {
	Status int
	Issues []Issue
}

// New returns an Error with one issue of severity error.
func New(status int, code, expression, diagnostics string) *Error {
	return &Error{Status: status, Issues: []Issue{{Severity: "error", Code: code, Expression: expression, Diagnostics: diagnostics}}}
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		if is.Expression != "" {
			parts[i] = fmt.Sprintf("%s at %s: %s", is.Code, is.Expression, is.Diagnostics)
		} else {
			parts[i] = fmt.Sprintf("%s: %s", is.Code, is.Diagnostics)
		}
	}
	return fmt.Sprintf("status %d: %s", e.Status, strings.Join(parts, "; "))
}

// OperationOutcome renders the error.
func (e *Error) OperationOutcome() []byte { return JSON(e.Issues...) }

type issueJSON struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// JSON renders issues as a FHIR R4 OperationOutcome.
func JSON(issues ...Issue) []byte {
	out := struct {
		ResourceType string      `json:"resourceType"`
		Issue        []issueJSON `json:"issue"`
	}{ResourceType: "OperationOutcome"}
	for _, is := range issues {
		sev := is.Severity
		if sev == "" {
			sev = "error"
		}
		code := is.Code
		if code == "" {
			code = "invalid"
		}
		ij := issueJSON{Severity: sev, Code: code, Diagnostics: is.Diagnostics}
		if is.Expression != "" {
			ij.Expression = []string{is.Expression}
		}
		out.Issue = append(out.Issue, ij)
	}
	if len(out.Issue) == 0 {
		out.Issue = []issueJSON{{Severity: "error", Code: "exception", Diagnostics: "unspecified error"}}
	}
	b, _ := json.Marshal(out)
	return b
}
