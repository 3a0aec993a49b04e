package api

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"
)

// metadata answers GET /fhir/R4/metadata with a CapabilityStatement built
// from the routing table, so it always says exactly what is routed.
func (s *Server) metadata(c echo.Context) error {
	caps := s.Routes.Capabilities()
	types := make([]string, 0, len(caps))
	for t := range caps {
		types = append(types, t)
	}
	sort.Strings(types)
	type code struct {
		Code string `json:"code"`
	}
	type resource struct {
		Type        string `json:"type"`
		Interaction []code `json:"interaction"`
		Versioning  string `json:"versioning"`
		CondCreate  bool   `json:"conditionalCreate"`
	}
	res := make([]resource, 0, len(types))
	for _, t := range types {
		r := resource{Type: t, Versioning: "no-version"}
		for _, in := range caps[t] {
			r.Interaction = append(r.Interaction, code{string(in)})
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
			"mode":        "server",
			"resource":    res,
			"interaction": []code{{"batch"}, {"transaction"}},
		}},
	}
	b, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/fhir+json", b)
}
