package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
)

// Searches pass through to the server: every parameter is sent as the
// client wrote it, and the server states in its searchset's self link the
// parameters it used (FHIR: "the server SHALL return the parameters that
// were actually used to process a search"). A server ignores a parameter
// it does not support; the connector reports what the self link states
// (SearchPage.Applied), so the hub can tell.

// Search implements connectors.Searcher: GET {base}/{Type}?{params}, then
// the server's own next links (the cursor is the next URL, accepted only
// under this connector's base, see underBase). Entries of the searchset
// become the page's resources; the self link's query becomes Applied.
// Nothing is kept. A 400 to a first page is the client's search (its
// parameters were passed on as written): a BadSearch, naming the parameter
// when the server's OperationOutcome does.
func (c *Connector) Search(ctx context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	u := c.base + "/" + q.ResourceType
	if len(q.Params) > 0 {
		u += "?" + q.Params.Encode()
	}
	if q.Cursor != "" {
		if !c.underBase(q.Cursor) {
			return connectors.SearchPage{}, connectors.PermanentError("cursor", errors.New("the next link is not under the server's base"))
		}
		u = q.Cursor
	}
	resp, err := c.Client.Do(ctx, outbound.Request{Method: http.MethodGet, URL: u, PathTemplate: "/" + q.ResourceType, Header: c.header()})
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Status == http.StatusBadRequest && q.Cursor == "" && resp != nil {
			bad := connectors.BadSearch(refusedParam(resp.Body, q.Params), "the source refused the search (status 400)")
			bad.Status = ce.Status
			return connectors.SearchPage{}, bad
		}
		return connectors.SearchPage{}, err
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Link         []struct{ Relation, URL string }
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(resp.Body, &b); err != nil || b.ResourceType != "Bundle" {
		return connectors.SearchPage{}, connectors.PermanentError("not_a_bundle", errors.New("the search answer is not a FHIR Bundle"))
	}
	page := connectors.SearchPage{Applied: url.Values{}}
	for _, e := range b.Entry {
		if len(e.Resource) > 0 {
			page.Resources = append(page.Resources, e.Resource)
		}
	}
	for _, l := range b.Link {
		switch l.Relation {
		case "next":
			page.Next = l.URL
		case "self":
			// No self link, or one that does not parse, states nothing:
			// every parameter counts as not applied.
			if su, err := url.Parse(l.URL); err == nil {
				page.Applied = su.Query()
			}
		}
	}
	return page, nil
}

// refusedParam returns the parameter of q a server's OperationOutcome names
// in an issue's expression (or location), "" when none does. Only a name the
// client sent is returned, never anything else the server wrote.
func refusedParam(body []byte, q url.Values) string {
	var oo struct {
		Issue []struct {
			Expression []string `json:"expression"`
			Location   []string `json:"location"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil {
		return ""
	}
	for _, is := range oo.Issue {
		for _, e := range append(is.Expression, is.Location...) {
			if _, sent := q[e]; sent {
				return e
			}
		}
	}
	return ""
}

// StatesApplied implements connectors.SearchDeclarer: every page carries
// the server's own statement of what it applied.
func (c *Connector) StatesApplied() bool { return true }

// SearchParams implements connectors.SearchDeclarer with the parameters the
// server's CapabilityStatement (GET {base}/metadata) lists for the type. It
// is read at the first need and kept for capabilitiesTTL (after a failure,
// tried again after capabilitiesRetry, the last good list kept meanwhile).
// The list is what the hub advertises; what a search applied is still what
// the server states on the page.
func (c *Connector) SearchParams(ctx context.Context, resourceType string) ([]connectors.SearchParam, error) {
	c.caps.mu.Lock()
	defer c.caps.mu.Unlock()
	if now := time.Now(); !now.Before(c.caps.until) {
		params, err := c.readCapabilities(ctx)
		if err != nil {
			c.caps.err, c.caps.until = err, now.Add(capabilitiesRetry)
		} else {
			c.caps.params, c.caps.err, c.caps.until = params, nil, now.Add(capabilitiesTTL)
		}
	}
	if c.caps.params == nil && c.caps.err != nil {
		return nil, c.caps.err
	}
	return slices.Clone(c.caps.params[resourceType]), nil
}

const (
	capabilitiesTTL   = 10 * time.Minute
	capabilitiesRetry = 30 * time.Second
)

// capabilities keeps the search parameters of the server's
// CapabilityStatement, per resource type.
type capabilities struct {
	mu     sync.Mutex
	params map[string][]connectors.SearchParam
	err    error
	until  time.Time
}

func (c *Connector) readCapabilities(ctx context.Context) (map[string][]connectors.SearchParam, error) {
	resp, err := c.Client.Do(ctx, outbound.Request{Method: http.MethodGet, URL: c.base + "/metadata", PathTemplate: "/metadata", Header: c.header()})
	if err != nil {
		return nil, err
	}
	var cs struct {
		ResourceType string `json:"resourceType"`
		Rest         []struct {
			Mode     string `json:"mode"`
			Resource []struct {
				Type        string `json:"type"`
				SearchParam []struct {
					Name string `json:"name"`
					Type string `json:"type"`
				} `json:"searchParam"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(resp.Body, &cs); err != nil || cs.ResourceType != "CapabilityStatement" {
		return nil, connectors.PermanentError("not_a_capability_statement", errors.New("the server's metadata is not a CapabilityStatement"))
	}
	out := map[string][]connectors.SearchParam{}
	for _, r := range cs.Rest {
		if r.Mode != "" && r.Mode != "server" {
			continue
		}
		for _, res := range r.Resource {
			for _, p := range res.SearchParam {
				if p.Name != "" && !connectors.Declared(out[res.Type], p.Name) {
					out[res.Type] = append(out[res.Type], connectors.SearchParam{Name: p.Name, Type: p.Type})
				}
			}
		}
	}
	return out, nil
}

// lookup runs one of the connector's own searches (a record by its
// identifier) and fails when the server did not apply every parameter: a
// server that ignored identifier= answers with all its records, and the
// connector would update, or refer to, the wrong one.
func (c *Connector) lookup(ctx context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	page, err := c.Search(ctx, q)
	if err != nil {
		return page, err
	}
	if missing, _ := connectors.Unapplied(ctx, c, q, page); len(missing) > 0 {
		return connectors.SearchPage{}, connectors.PermanentError("search_param_ignored",
			fmt.Errorf("the server did not apply the search parameter %s to %s", strings.Join(missing, ", "), q.ResourceType))
	}
	return page, nil
}
