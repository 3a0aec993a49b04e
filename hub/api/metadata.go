package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/connectors"
)

// metadataTimeout bounds the wait for a source's search parameters (a FHIR
// connector asks its server's own CapabilityStatement, then keeps it).
const metadataTimeout = 5 * time.Second

// metadata answers GET /fhir/R4/metadata with a CapabilityStatement built
// from the routing table, so it always says exactly what is routed: the
// write interactions of every routed type, and for every `reads:` type the
// search-type interaction with the search parameters its source declares.
func (s *Server) metadata(c echo.Context) error {
	caps := s.Routes.Capabilities()
	reads := map[string]string{} // type -> destination
	for _, r := range s.Routes.Reads {
		if dest, ok := s.Routes.ReadFrom(r.Resource); ok && s.Searchers[dest] != nil {
			reads[r.Resource] = dest
		}
	}
	types := make([]string, 0, len(caps)+len(reads))
	for t := range caps {
		types = append(types, t)
	}
	for t := range reads {
		if _, dup := caps[t]; !dup {
			types = append(types, t)
		}
	}
	sort.Strings(types)
	type code struct {
		Code string `json:"code"`
	}
	type searchParam struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	type resource struct {
		Type        string        `json:"type"`
		Interaction []code        `json:"interaction"`
		Versioning  string        `json:"versioning"`
		CondCreate  bool          `json:"conditionalCreate"`
		SearchParam []searchParam `json:"searchParam,omitempty"`
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), metadataTimeout)
	defer cancel()
	res := make([]resource, 0, len(types))
	for _, t := range types {
		r := resource{Type: t, Versioning: "no-version"}
		for _, in := range caps[t] {
			r.Interaction = append(r.Interaction, code{string(in)})
		}
		if dest, ok := reads[t]; ok {
			r.Interaction = append(r.Interaction, code{"search-type"})
			if d, ok := s.Searchers[dest].(connectors.SearchDeclarer); ok {
				params, err := d.SearchParams(ctx, t)
				if err != nil {
					// The type is still searched; only its list is missing.
					s.Logger.Warn("search parameters unavailable for the CapabilityStatement",
						slog.String("destination", dest), slog.String("resource_type", t), slog.String("error_code", errorCode(err)))
				}
				for _, p := range params {
					r.SearchParam = append(r.SearchParam, searchParam{p.Name, p.Type})
				}
			}
		}
		res = append(res, r)
	}
	version := s.Version
	if version == "" {
		version = "dev"
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         time.Now().UTC().Format("2006-01-02"),
		"publisher":    "Switchboard",
		"kind":         "instance",
		"software":     map[string]any{"name": "Switchboard", "version": version},
		"implementation": map[string]any{
			"description": "Switchboard integration hub: writes are accepted asynchronously (202 Accepted, Content-Location to the transfer status)",
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"application/fhir+json"},
		"rest": []map[string]any{{
			"mode":          "server",
			"documentation": searchDocumentation,
			"resource":      res,
			"interaction": []map[string]string{
				{"code": "batch", "documentation": s.bundleDocumentation()},
				{"code": "transaction", "documentation": s.bundleDocumentation()},
			},
		}},
	}
	b, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/fhir+json", b)
}

// searchDocumentation states the hub's search rule in the
// CapabilityStatement (rest.documentation).
const searchDocumentation = "Searches (search-type) are passed through to the source the routing file names and never " +
	"claim a filter the source did not apply. Prefer: handling=strict (the default) answers a parameter the source " +
	"does not apply with 400 naming it; Prefer: handling=lenient answers without it, and the Bundle's self link lists " +
	"only the parameters applied. _count is a page size the source may lower."

// bundleDocumentation states the size limits of a batch or transaction.
func (s *Server) bundleDocumentation() string {
	return fmt.Sprintf("At most %d entries per Bundle and %d bytes per request body; above either the answer is 413 "+
		"with an OperationOutcome, and the Bundle is to be split.", s.bundleLimit(), s.bodyLimit())
}

// errorCode is the PHI-free code of a connector's error, for logs.
func errorCode(err error) string {
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return "unclassified"
}
