package hubsim

import (
	"encoding/json"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hubTime is how HubSpot writes timestamps.
const hubTime = "2006-01-02T15:04:05.000Z"

// contact is one stored contact; its properties map is replaced, never
// mutated, once stored.
type contact struct {
	id      string
	props   map[string]string
	created time.Time
	updated time.Time
}

// properties returns the contact's properties with HubSpot's read-only ones;
// only those named in want (and the read-only ones) when want is not empty,
// with null for a named property the contact lacks, as HubSpot answers.
func (c *contact) properties(want []string) map[string]any {
	out := map[string]any{"hs_object_id": c.id, "createdate": c.created.UTC().Format(hubTime),
		"lastmodifieddate": c.updated.UTC().Format(hubTime)}
	if len(want) == 0 {
		for k, v := range c.props {
			out[k] = v
		}
		return out
	}
	for _, k := range want {
		if v, ok := c.props[k]; ok {
			out[k] = v
		} else if _, ro := out[k]; !ro {
			out[k] = nil
		}
	}
	return out
}

func (c *contact) object(want []string) map[string]any {
	return map[string]any{"id": c.id, "properties": c.properties(want), "archived": false,
		"createdAt": c.created.UTC().Format(hubTime), "updatedAt": c.updated.UTC().Format(hubTime)}
}

// store is the in-memory portal. One mutex guards it.
type store struct {
	mu      sync.Mutex
	byID    map[string]*contact
	byEmail map[string]*contact // lower-cased email
	nextID  int64
}

// firstID is where contact ids start; HubSpot's are opaque numbers.
const firstID = 101

func newStore() *store {
	return &store{byID: map[string]*contact{}, byEmail: map[string]*contact{}, nextID: firstID}
}

func (s *store) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID, s.byEmail, s.nextID = map[string]*contact{}, map[string]*contact{}, firstID
}

type upsertInput struct {
	ID                 string            `json:"id"`
	IDProperty         string            `json:"idProperty"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
	Properties         map[string]string `json:"properties"`
}

// maxBatch is HubSpot's batch size limit.
const maxBatch = 100

// upsert is the batch upsert keyed by email: an input whose email a contact
// already has updates it (new false), any other creates one (new true).
// Emails match case-insensitively, as in HubSpot. The batch is validated
// whole before anything is written, so a refused batch writes nothing.
func (s *Server) upsert(body []byte) answer {
	var in struct {
		Inputs []upsertInput `json:"inputs"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return invalid("Invalid input JSON: the body is not a batch of upsert inputs")
	}
	if len(in.Inputs) == 0 || len(in.Inputs) > maxBatch {
		return invalid("inputs must hold 1 to 100 objects")
	}
	for _, x := range in.Inputs {
		if x.IDProperty != "email" {
			// The connector always upserts by email; other unique
			// properties are not modelled.
			return invalid("idProperty must be email in this sandbox")
		}
		if !strings.Contains(x.ID, "@") {
			return invalid("Property values were not valid: INVALID_EMAIL")
		}
		if e, ok := x.Properties["email"]; ok && !strings.EqualFold(e, x.ID) {
			return invalid("the email property differs from the upsert id")
		}
		for k := range x.Properties {
			if !s.known[k] {
				// HubSpot names the property, never the value.
				return invalid("Property values were not valid: PROPERTY_DOESNT_EXIST " + strconv.Quote(k))
			}
		}
	}
	started := s.opts.Now()
	s.store.mu.Lock()
	results := make([]any, 0, len(in.Inputs))
	effect, firstID := EffectUnchanged, ""
	for _, x := range in.Inputs {
		props := maps.Clone(x.Properties)
		if props == nil {
			props = map[string]string{}
		}
		props["email"] = strings.ToLower(strings.TrimSpace(x.ID))
		key := props["email"]
		now := s.opts.Now()
		c, isNew := s.store.byEmail[key], false
		switch {
		case c == nil:
			c = &contact{id: strconv.FormatInt(s.store.nextID, 10), props: props, created: now, updated: now}
			s.store.nextID++
			s.store.byID[c.id], s.store.byEmail[key] = c, c
			isNew, effect = true, EffectCreated
		default:
			merged := maps.Clone(c.props)
			maps.Copy(merged, props)
			if !maps.Equal(merged, c.props) {
				nc := *c
				nc.props, nc.updated = merged, now
				c = &nc
				s.store.byID[c.id], s.store.byEmail[key] = c, c
				if effect != EffectCreated {
					effect = EffectUpdated
				}
			}
		}
		if firstID == "" {
			firstID = c.id
		}
		obj := c.object(nil)
		obj["new"] = isNew
		if x.ObjectWriteTraceID != "" {
			obj["objectWriteTraceId"] = x.ObjectWriteTraceID
		}
		results = append(results, obj)
	}
	s.store.mu.Unlock()
	done := s.opts.Now()
	return answer{status: http.StatusOK, effect: effect, id: firstID, body: map[string]any{
		"status": "COMPLETE", "results": results,
		"requestedAt": started.UTC().Format(hubTime), "startedAt": started.UTC().Format(hubTime), "completedAt": done.UTC().Format(hubTime)}}
}

// search is POST …/contacts/search: filter groups are ORed, the filters of
// a group ANDed; only the EQ operator is modelled (emails compare
// case-insensitively). Results are sorted by id; after is the offset of
// the next page, as HubSpot's cursor is for this endpoint.
func (s *Server) search(body []byte) answer {
	var in struct {
		After        string `json:"after"`
		Limit        int    `json:"limit"`
		Properties   []string
		FilterGroups []struct {
			Filters []struct {
				PropertyName string `json:"propertyName"`
				Operator     string `json:"operator"`
				Value        string `json:"value"`
			} `json:"filters"`
		} `json:"filterGroups"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return invalid("Invalid input JSON: the body is not a search request")
	}
	if in.Limit == 0 {
		in.Limit = 10
	}
	if in.Limit < 0 || in.Limit > 200 {
		return invalid("limit must be between 1 and 200")
	}
	offset := 0
	if in.After != "" {
		n, err := strconv.Atoi(in.After)
		if err != nil || n < 0 {
			return invalid("after is not a cursor this portal gave")
		}
		offset = n
	}
	for _, g := range in.FilterGroups {
		for _, f := range g.Filters {
			if f.Operator != "EQ" {
				return invalid("only the EQ operator is modelled by this sandbox")
			}
		}
	}
	s.store.mu.Lock()
	var hits []*contact
	for _, c := range s.store.byID {
		match := len(in.FilterGroups) == 0
		for _, g := range in.FilterGroups {
			all := true
			for _, f := range g.Filters {
				v := c.props[f.PropertyName]
				if f.PropertyName == "hs_object_id" {
					v = c.id
				}
				if !strings.EqualFold(v, f.Value) {
					all = false
					break
				}
			}
			if all {
				match = true
				break
			}
		}
		if match {
			hits = append(hits, c)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		a, _ := strconv.ParseInt(hits[i].id, 10, 64)
		b, _ := strconv.ParseInt(hits[j].id, 10, 64)
		return a < b
	})
	results := []any{}
	for i := offset; i < len(hits) && len(results) < in.Limit; i++ {
		results = append(results, hits[i].object(in.Properties))
	}
	s.store.mu.Unlock()
	out := map[string]any{"total": len(hits), "results": results}
	if next := offset + len(results); next < len(hits) {
		out["paging"] = map[string]any{"next": map[string]any{"after": strconv.Itoa(next), "link": "?after=" + strconv.Itoa(next)}}
	}
	return answer{status: http.StatusOK, effect: EffectSearch, body: out}
}

// read is GET …/contacts/{id}, by hs_object_id or, with idProperty=email,
// by email; 404 OBJECT_NOT_FOUND when none. A read by email is logged under
// a placeholder path, since the path holds the email.
func (s *Server) read(r *http.Request, id string) answer {
	q := r.URL.Query()
	var want []string
	for _, p := range q["properties"] {
		for _, k := range strings.Split(p, ",") {
			if k = strings.TrimSpace(k); k != "" {
				want = append(want, k)
			}
		}
	}
	a := answer{}
	s.store.mu.Lock()
	var c *contact
	switch idp := q.Get("idProperty"); idp {
	case "", "hs_object_id":
		c = s.store.byID[id]
	case "email":
		c = s.store.byEmail[strings.ToLower(id)]
		a.logPath = contactsPrefix + "/{idProperty value}"
	default:
		s.store.mu.Unlock()
		a2 := invalid("idProperty must be email or hs_object_id in this sandbox")
		a2.logPath = contactsPrefix + "/{idProperty value}"
		return a2
	}
	if c == nil {
		s.store.mu.Unlock()
		a.status, a.effect, a.body = http.StatusNotFound, EffectRejected, hubError("OBJECT_NOT_FOUND", "Object not found.")
		return a
	}
	a.status, a.effect, a.id, a.body = http.StatusOK, EffectRead, c.id, c.object(want)
	s.store.mu.Unlock()
	return a
}
