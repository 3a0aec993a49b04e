package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/outbound"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// The EHR has no webhooks the hub can rely on, so the hub polls it
// (docs/decisions/0007-reconcilers-and-loops.md): a _lastUpdated=ge search per
// resource type from the hub's cursor, oldest first, paged by the server's own
// next links.

var _ connectors.Poller = (*Connector)(nil)

// defaultPollTypes are the resource types polled when poll_types is not set.
var defaultPollTypes = []string{"Patient", "Appointment"}

// sinceLayout is _lastUpdated's value: UTC with milliseconds. A value in
// whole seconds would cover the whole second (FHIR's precision rule) and
// make ge miss changes later in the second of the cursor.
const sinceLayout = "2006-01-02T15:04:05.000Z"

// resourceTypeRE is a FHIR resource type name; it is put in URLs and logs.
var resourceTypeRE = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

// pollTypes checks the configured poll_types.
func pollTypes(b outbound.Base, types []string) ([]string, error) {
	if len(types) == 0 {
		return slices.Clone(defaultPollTypes), nil
	}
	seen := map[string]bool{}
	for _, t := range types {
		if !resourceTypeRE.MatchString(t) {
			return nil, b.Errorf("poll_types lists %q, which is not a FHIR resource type", t)
		}
		if seen[t] {
			return nil, b.Errorf("poll_types lists %s twice", t)
		}
		seen[t] = true
	}
	return slices.Clone(types), nil
}

// PollTypes implements connectors.Poller.
func (c *Connector) PollTypes() []string { return slices.Clone(c.pollTypes) }

// Poll implements connectors.Poller: GET
// {base}/{type}?_lastUpdated=ge{since}&_sort=_lastUpdated&_count={count},
// then the server's next links (followed only under base_url). Each entry
// of the type becomes a Change; Ours is read from meta.source, the one mark
// that belongs to a version (fhirjson.MadeByHub).
func (c *Connector) Poll(ctx context.Context, q connectors.PollQuery) (connectors.PollPage, error) {
	if !resourceTypeRE.MatchString(q.ResourceType) {
		return connectors.PollPage{}, connectors.PermanentError("resource_type", errors.New("the polled type is not a FHIR resource type"))
	}
	u := c.base + "/" + q.ResourceType
	if q.Page == "" {
		params := url.Values{
			"_lastUpdated": {"ge" + q.Since.UTC().Format(sinceLayout)},
			"_sort":        {"_lastUpdated"},
		}
		if q.Count > 0 {
			params.Set("_count", strconv.Itoa(q.Count))
		}
		u += "?" + params.Encode()
	} else {
		if !c.underBase(q.Page) {
			return connectors.PollPage{}, connectors.PermanentError("next_link", errors.New("the next link is not under the server's base"))
		}
		u = q.Page
	}
	resp, err := c.Client.Do(ctx, outbound.Request{Method: http.MethodGet, URL: u, PathTemplate: "/" + q.ResourceType, Header: c.header()})
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) && resp != nil {
			if code := issueCode(resp.Body); code != "" {
				ce.Code += ":" + code
			}
		}
		return connectors.PollPage{}, err
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Link         []struct {
			Relation string `json:"relation"`
			URL      string `json:"url"`
		} `json:"link"`
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
			Search   struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(resp.Body, &b); err != nil || b.ResourceType != "Bundle" {
		return connectors.PollPage{}, connectors.PermanentError("not_a_bundle", errors.New("the poll answer is not a FHIR Bundle"))
	}
	var page connectors.PollPage
	for _, e := range b.Entry {
		if e.Search.Mode != "" && e.Search.Mode != "match" {
			continue // an OperationOutcome (outcome) or an _include
		}
		var r struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Meta         struct {
				VersionID   string `json:"versionId"`
				LastUpdated string `json:"lastUpdated"`
			} `json:"meta"`
		}
		if json.Unmarshal(e.Resource, &r) != nil || r.ResourceType != q.ResourceType || r.ID == "" {
			// Another type, or no id to name the change by (nothing a
			// searchset of this type should hold).
			continue
		}
		ch := connectors.Change{
			ResourceType: r.ResourceType,
			ID:           r.ID,
			Version:      r.Meta.VersionID,
			Resource:     e.Resource,
			Ours:         fhirjson.MadeByHub(e.Resource),
		}
		if r.Meta.LastUpdated != "" {
			// An instant the server cannot write is left zero, as a
			// missing one is: the cursor does not move over it.
			if t, err := time.Parse(time.RFC3339Nano, r.Meta.LastUpdated); err == nil {
				ch.Updated = t.UTC()
			}
		}
		page.Changes = append(page.Changes, ch)
	}
	for _, l := range b.Link {
		if l.Relation == "next" {
			page.Next = l.URL
		}
	}
	return page, nil
}

// underBase reports whether link is a URL at this connector's server: the
// same scheme and host as base_url, no user info, and a path that is the
// base's own or under it, with no dot segments to climb out. Servers put
// their next links under the type ({base}/Patient?…) or at the base itself
// (HAPI's {base}?_getpages=…); nothing else is followed, since the link
// comes from the server's answer and the request carries the bearer token.
func (c *Connector) underBase(link string) bool {
	base, err := url.Parse(c.base)
	if err != nil {
		return false
	}
	u, err := url.Parse(link)
	if err != nil || u.User != nil || u.Opaque != "" || !u.IsAbs() ||
		!strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return false
	}
	p, bp := u.EscapedPath(), strings.TrimRight(base.EscapedPath(), "/")
	if p != bp && !strings.HasPrefix(p, bp+"/") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if s, err := url.PathUnescape(seg); err != nil || s == "." || s == ".." {
			return false
		}
	}
	return true
}
