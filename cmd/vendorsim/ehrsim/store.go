package ehrsim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"
)

// lastUpdatedLayout is meta.lastUpdated: RFC 3339 in UTC with milliseconds.
const lastUpdatedLayout = "2006-01-02T15:04:05.000Z07:00"

// ident is one identifier of a resource.
type ident struct{ system, value string }

func (i ident) key() string { return i.system + "|" + i.value }

// version is one stored version. body is the full JSON as served, with id and
// meta stamped in; it is never mutated after it is stored, so readers may
// share it without the lock.
type version struct {
	vid     int
	updated time.Time
	body    []byte
}

// record is one logical resource with its history and the search fields of
// its current version.
type record struct {
	typ, id  string
	versions []version
	idents   []ident
	patients []string  // references the type's patient parameter matches
	subjects []string  // references the type's subject parameter matches
	start    time.Time // Appointment.start of the current version, zero if none
}

func (r *record) current() version { return r.versions[len(r.versions)-1] }

// typeStore holds one resource type.
type typeStore struct {
	byID    map[string]*record
	byIdent map[string]map[string]*record // "system|value" -> id -> record
}

// store is the in-memory vendor database. One RWMutex guards it; nothing
// slow (latency, network I/O) ever happens while it is held.
type store struct {
	mu    sync.RWMutex
	types map[string]*typeStore
	last  time.Time // the last lastUpdated handed out; see stamp
	now   func() time.Time
}

func newStore(now func() time.Time) *store {
	return &store{types: map[string]*typeStore{}, now: now}
}

func (s *store) typeLocked(typ string) *typeStore {
	ts := s.types[typ]
	if ts == nil {
		ts = &typeStore{byID: map[string]*record{}, byIdent: map[string]map[string]*record{}}
		s.types[typ] = ts
	}
	return ts
}

// stamp returns the next lastUpdated: now at millisecond resolution, but
// always at least a millisecond after the previous one, so that every version
// has a distinct, increasing time and keyset paging is exact. Callers hold mu.
func (s *store) stamp() time.Time {
	t := s.now().UTC().Truncate(time.Millisecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Millisecond)
	}
	s.last = t
	return t
}

// incoming is a parsed request body ready to be stored.
type incoming struct {
	fields   map[string]any
	idents   []ident
	patients []string
	subjects []string
	start    time.Time
}

var errNotObject = errors.New("the body is not a JSON object")

// parseResource decodes a request body. Numbers are kept as written (1.50
// stays 1.50) because FHIR decimals carry precision.
func parseResource(body []byte) (*incoming, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	in := &incoming{fields: m}
	if ids, ok := m["identifier"].([]any); ok {
		for _, x := range ids {
			o, _ := x.(map[string]any)
			sys, _ := o["system"].(string)
			val, _ := o["value"].(string)
			if val != "" {
				in.idents = append(in.idents, ident{sys, val})
			}
		}
	}
	rt, _ := m["resourceType"].(string)
	if path, ok := patientPaths[rt]; ok {
		for _, ref := range refsAt(m, path) {
			if path == "participant.actor" || path == "subject" {
				if !isPatientRef(ref) {
					continue
				}
			}
			in.patients = append(in.patients, ref)
		}
	}
	if hasSubject[rt] {
		in.subjects = refsAt(m, "subject")
	}
	if rt == "Appointment" {
		// An unparseable start is kept as sent but matches no date search.
		if s, _ := m["start"].(string); s != "" {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				in.start = t.UTC()
			}
		}
	}
	return in, nil
}

// newID returns an opaque server-assigned id: 16 hex characters.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// putLocked stores a new version of typ/id (a new record when rec is nil).
// Callers hold mu for writing.
func (s *store) putLocked(typ, id string, rec *record, in *incoming) (*record, version, error) {
	v := version{vid: 1, updated: s.stamp()}
	if rec != nil {
		v.vid = len(rec.versions) + 1
	}
	body, err := encodeResource(typ, id, v, in.fields)
	if err != nil {
		return nil, version{}, err
	}
	v.body = body
	ts := s.typeLocked(typ)
	if rec == nil {
		rec = &record{typ: typ, id: id}
		ts.byID[id] = rec
	}
	for _, i := range rec.idents {
		if m := ts.byIdent[i.key()]; m != nil {
			delete(m, id)
			if len(m) == 0 {
				delete(ts.byIdent, i.key())
			}
		}
	}
	rec.versions = append(rec.versions, v)
	rec.idents, rec.patients, rec.subjects, rec.start = in.idents, in.patients, in.subjects, in.start
	for _, i := range rec.idents {
		m := ts.byIdent[i.key()]
		if m == nil {
			m = map[string]*record{}
			ts.byIdent[i.key()] = m
		}
		m[id] = rec
	}
	return rec, v, nil
}

// encodeResource writes the resource with resourceType, id and meta first, as
// FHIR servers customarily do, and the client's other elements after them.
// The client's meta (tags, profiles, security labels) is kept; versionId and
// lastUpdated are the server's.
func encodeResource(typ, id string, v version, fields map[string]any) ([]byte, error) {
	meta := map[string]any{}
	if m, ok := fields["meta"].(map[string]any); ok {
		for k, x := range m {
			meta[k] = x
		}
	}
	meta["versionId"] = strconv.Itoa(v.vid)
	meta["lastUpdated"] = v.updated.Format(lastUpdatedLayout)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	put := func(k string, x any) error {
		if b.Len() == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		if err := enc.Encode(k); err != nil {
			return err
		}
		trimNewline(&b)
		b.WriteByte(':')
		if err := enc.Encode(x); err != nil {
			return fmt.Errorf("encode element %q: %w", k, err)
		}
		trimNewline(&b)
		return nil
	}
	if err := put("resourceType", typ); err != nil {
		return nil, err
	}
	if err := put("id", id); err != nil {
		return nil, err
	}
	if err := put("meta", meta); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "resourceType" && k != "id" && k != "meta" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := put(k, fields[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func trimNewline(b *bytes.Buffer) {
	if n := b.Len(); n > 0 && b.Bytes()[n-1] == '\n' {
		b.Truncate(n - 1)
	}
}

// get returns the current version of typ/id, or a specific one when vid > 0.
func (s *store) get(typ, id string, vid int) (version, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ts := s.types[typ]
	if ts == nil {
		return version{}, false
	}
	rec := ts.byID[id]
	if rec == nil {
		return version{}, false
	}
	if vid == 0 {
		return rec.current(), true
	}
	if vid < 1 || vid > len(rec.versions) {
		return version{}, false
	}
	return rec.versions[vid-1], true
}

// hit is one search match: enough to sort, page and serve it.
type hit struct {
	id      string
	updated time.Time
	body    []byte
}

// after reports whether h sorts after the cursor (updated, id).
func (h hit) after(updated time.Time, id string) bool {
	return h.updated.After(updated) || (h.updated.Equal(updated) && h.id > id)
}

// search returns every current resource of typ matching c, sorted by
// lastUpdated then id.
func (s *store) search(typ string, c *criteria) []hit {
	s.mu.RLock()
	var hits []hit
	if ts := s.types[typ]; ts != nil {
		for _, rec := range s.candidatesLocked(ts, c) {
			if c.matches(rec) {
				v := rec.current()
				hits = append(hits, hit{rec.id, v.updated, v.body})
			}
		}
	}
	s.mu.RUnlock()
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].updated.Equal(hits[j].updated) {
			return hits[i].updated.Before(hits[j].updated)
		}
		return hits[i].id < hits[j].id
	})
	return hits
}

// candidatesLocked narrows a search through the identifier index when the
// criteria name an exact system|value, and returns every record otherwise.
func (s *store) candidatesLocked(ts *typeStore, c *criteria) []*record {
	if key, ok := c.exactIdent(); ok {
		out := make([]*record, 0, len(ts.byIdent[key]))
		for _, r := range ts.byIdent[key] {
			out = append(out, r)
		}
		return out
	}
	out := make([]*record, 0, len(ts.byID))
	for _, r := range ts.byID {
		out = append(out, r)
	}
	return out
}

// storeStats are the store's counters for /_sandbox/stats.
type storeStats struct {
	resources, versions, dupIdents int
	byType                         map[string]int
}

func (s *store) stats() storeStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := storeStats{byType: map[string]int{}}
	for typ, ts := range s.types {
		st.resources += len(ts.byID)
		st.byType[typ] = len(ts.byID)
		for _, r := range ts.byID {
			st.versions += len(r.versions)
		}
		for _, m := range ts.byIdent {
			if len(m) > 1 {
				st.dupIdents++
			}
		}
	}
	return st
}

// typeNames lists the resource types that hold data.
func (s *store) typeNames() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.types))
	for t := range s.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
