package ehrsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds a request body; larger ones answer 413.
const maxBody = 8 << 20

var (
	typeRE = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
	idRE   = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
)

// fhir handles one FHIR request and returns its answer, or nil when the
// client left during the injected latency.
func (s *Server) fhir(w http.ResponseWriter, r *http.Request, key string) *answer {
	if s.faults.sleep(r.Context()) != nil {
		return nil
	}
	write := r.Method == http.MethodPost || r.Method == http.MethodPut
	if inj, ok := s.faults.take(write); ok {
		drain(r)
		if inj.reject {
			return outcome(http.StatusBadRequest, "invalid", "sandbox: the resource was rejected by fault injection (reject_next)")
		}
		why := "sandbox: injected failure (fail_next)"
		if inj.mode != "" {
			why = "sandbox: injected failure (mode " + inj.mode + ")"
		}
		a := outcome(inj.status, "transient", why)
		if inj.retryAfter > 0 {
			a.retryAfter = strconv.Itoa(inj.retryAfter)
		}
		return a
	}

	seg := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, s.base), "/"), "/")
	if len(seg) == 1 && seg[0] == "metadata" {
		if r.Method != http.MethodGet {
			return notAllowed("GET")
		}
		return s.metadata(r)
	}
	if seg[0] == "" || !typeRE.MatchString(seg[0]) {
		return outcome(http.StatusNotFound, "not-supported", "the URL does not name a resource type")
	}
	typ := seg[0]
	switch {
	case len(seg) == 1:
		switch r.Method {
		case http.MethodGet:
			return s.search(r, typ)
		case http.MethodPost:
			return s.writeOnce(w, r, key, func(body []byte) *answer { return s.create(r, typ, body) })
		}
		return notAllowed("GET, POST")
	case len(seg) == 2 && idRE.MatchString(seg[1]):
		switch r.Method {
		case http.MethodGet:
			return s.read(r, typ, seg[1], 0)
		case http.MethodPut:
			return s.writeOnce(w, r, key, func(body []byte) *answer { return s.update(r, typ, seg[1], body) })
		}
		return notAllowed("GET, PUT")
	case len(seg) == 4 && idRE.MatchString(seg[1]) && seg[2] == "_history":
		if r.Method != http.MethodGet {
			return notAllowed("GET")
		}
		vid, err := strconv.Atoi(seg[3])
		if err != nil || vid < 1 {
			return outcome(http.StatusNotFound, "not-found", "no such version")
		}
		return s.read(r, typ, seg[1], vid)
	}
	return outcome(http.StatusNotFound, "not-supported", "this sandbox does not serve that URL")
}

// writeOnce reads and checks a write's body and runs do at most once per
// Idempotency-Key: a repeated key replays the stored answer.
func (s *Server) writeOnce(w http.ResponseWriter, r *http.Request, key string, do func(body []byte) *answer) *answer {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/fhir+json" && mt != "application/json" {
		drain(r)
		return outcome(http.StatusUnsupportedMediaType, "not-supported", "send application/fhir+json (or application/json)")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return outcome(http.StatusRequestEntityTooLarge, "too-costly", fmt.Sprintf("the body exceeds %d bytes", maxBody))
		}
		return outcome(http.StatusBadRequest, "structure", "the body could not be read")
	}
	if key == "" || s.opts.IgnoreIdempotencyKeys {
		return do(body)
	}
	e, oc := s.keys.claim(r.Context(), key, fingerprint(r, body), s.opts.IdempotencyWait)
	switch oc {
	case claimMismatch:
		return outcome(http.StatusUnprocessableEntity, "conflict",
			"the Idempotency-Key was already used for a different request (method, URL, conditions or body)")
	case claimBusy:
		a := outcome(http.StatusConflict, "conflict", "a request with this Idempotency-Key is still being processed")
		a.retryAfter = "1"
		return a
	case claimReplay:
		a := *e.resp
		a.effect, a.replayed = EffectReplayed, true
		return &a
	}
	finished := false
	defer func() {
		if !finished {
			s.keys.abandon(key, e)
		}
	}()
	a := do(body)
	if a.status >= 500 {
		return a // not remembered: a retry may succeed
	}
	s.keys.finish(e, a)
	finished = true
	return a
}

// parseBody checks what this sandbox validates: a JSON object whose
// resourceType is the URL's. Messages never quote the body (PHI).
func parseBody(typ string, body []byte) (*incoming, *answer) {
	in, err := parseResource(body)
	if err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			return nil, outcome(http.StatusBadRequest, "structure", fmt.Sprintf("the body is not valid JSON (at byte %d)", syn.Offset))
		case errors.Is(err, errNotObject):
			return nil, outcome(http.StatusBadRequest, "structure", "the body must be a JSON object (a FHIR resource)")
		}
		return nil, outcome(http.StatusBadRequest, "structure", "the body is not valid JSON")
	}
	rt, _ := in.fields["resourceType"].(string)
	switch {
	case rt == "":
		return nil, outcome(http.StatusBadRequest, "required", "resourceType is missing")
	case rt != typ && typeRE.MatchString(rt):
		return nil, outcome(http.StatusBadRequest, "invalid", fmt.Sprintf("resourceType %s does not match the URL's %s", rt, typ))
	case rt != typ:
		return nil, outcome(http.StatusBadRequest, "invalid", "resourceType does not match the URL")
	}
	return in, nil
}

func (s *Server) create(r *http.Request, typ string, body []byte) *answer {
	in, bad := parseBody(typ, body)
	if bad != nil {
		return bad
	}
	var cond *criteria
	if h := r.Header.Get("If-None-Exist"); h != "" {
		c, err := parseConditions(h)
		if err != nil {
			return outcome(http.StatusBadRequest, "invalid", err.Error())
		}
		cond = c
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if cond != nil {
		// Checked under the write lock with the create: two concurrent
		// conditional creates cannot both miss.
		ts := s.store.typeLocked(typ)
		var found []*record
		for _, rec := range s.store.candidatesLocked(ts, cond) {
			if cond.matches(rec) {
				found = append(found, rec)
			}
		}
		switch {
		case len(found) == 1:
			a := s.resourceAnswer(r, http.StatusOK, found[0], found[0].current())
			a.effect = EffectMatched
			a.location = ""
			return a
		case len(found) > 1:
			return outcome(http.StatusPreconditionFailed, "duplicate",
				fmt.Sprintf("If-None-Exist matches %d %s resources", len(found), typ))
		}
	}
	id := newID()
	for s.store.typeLocked(typ).byID[id] != nil {
		id = newID()
	}
	rec, v, err := s.store.putLocked(typ, id, nil, in)
	if err != nil {
		return outcome(http.StatusInternalServerError, "exception", "the resource could not be stored")
	}
	a := s.resourceAnswer(r, http.StatusCreated, rec, v)
	a.effect = EffectCreated
	return a
}

func (s *Server) update(r *http.Request, typ, id string, body []byte) *answer {
	in, bad := parseBody(typ, body)
	if bad != nil {
		return bad
	}
	switch bodyID, _ := in.fields["id"].(string); {
	case bodyID == "":
		return outcome(http.StatusBadRequest, "required", "an update must carry the resource id in the body")
	case bodyID != id:
		return outcome(http.StatusBadRequest, "invalid", "the id in the body differs from the id in the URL")
	}
	wantVersion := 0
	if m := r.Header.Get("If-Match"); m != "" {
		n, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(m, "W/"), `"`))
		if err != nil || n < 1 {
			return outcome(http.StatusBadRequest, "invalid", `If-Match must be a version ETag such as W/"3"`)
		}
		wantVersion = n
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	rec := s.store.typeLocked(typ).byID[id]
	if wantVersion != 0 && (rec == nil || rec.current().vid != wantVersion) {
		return outcome(http.StatusPreconditionFailed, "conflict", "If-Match does not name the current version")
	}
	existed := rec != nil
	rec, v, err := s.store.putLocked(typ, id, rec, in)
	if err != nil {
		return outcome(http.StatusInternalServerError, "exception", "the resource could not be stored")
	}
	if existed {
		a := s.resourceAnswer(r, http.StatusOK, rec, v)
		a.effect, a.location = EffectUpdated, ""
		return a
	}
	a := s.resourceAnswer(r, http.StatusCreated, rec, v)
	a.effect = EffectCreated
	return a
}

func (s *Server) read(r *http.Request, typ, id string, vid int) *answer {
	v, ok := s.store.get(typ, id, vid)
	if !ok {
		a := outcome(http.StatusNotFound, "not-found", fmt.Sprintf("%s/%s is not known", typ, id))
		if vid > 0 {
			a = outcome(http.StatusNotFound, "not-found", fmt.Sprintf("%s/%s/_history/%d is not known", typ, id, vid))
		}
		a.effect = EffectRead
		return a
	}
	a := s.resourceAnswer(r, http.StatusOK, &record{typ: typ, id: id}, v)
	a.effect, a.location = EffectRead, ""
	return a
}

// resourceAnswer serves one version of a resource with FHIR's headers.
func (s *Server) resourceAnswer(r *http.Request, status int, rec *record, v version) *answer {
	return &answer{
		status:       status,
		body:         v.body,
		location:     fmt.Sprintf("%s/%s/%s/_history/%d", s.baseURL(r), rec.typ, rec.id, v.vid),
		etag:         fmt.Sprintf(`W/"%d"`, v.vid),
		lastModified: v.updated.Format(http.TimeFormat),
		id:           rec.id,
	}
}

func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.base
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Search   struct {
		Mode string `json:"mode"`
	} `json:"search"`
}

type bundle struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
	Type  string        `json:"type"`
	Total int           `json:"total"`
	Link  []bundleLink  `json:"link"`
	Entry []bundleEntry `json:"entry,omitempty"`
}

func (s *Server) search(r *http.Request, typ string) *answer {
	strict := strings.Contains(r.Header.Get("Prefer"), "handling=strict")
	c, err := parseSearch(typ, r.URL.Query(), strict)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, errUnknownParam) {
			msg = "the search parameter is not supported on " + typ + " (GET /metadata lists those that are; _count, _page and _sort=_lastUpdated are too)"
		}
		a := outcomeAt(http.StatusBadRequest, "not-supported", paramOf(err), msg)
		a.effect = EffectSearch
		return a
	}
	hits := s.store.search(typ, c)
	from := 0
	if c.cursor != nil {
		cur := *c.cursor
		from = sort.Search(len(hits), func(i int) bool { return hits[i].after(cur.updated, cur.id) })
	}
	to := min(from+c.count, len(hits))
	page := hits[from:to]

	base := s.baseURL(r)
	b := bundle{ResourceType: "Bundle", ID: newID(), Type: "searchset", Total: len(hits)}
	b.Meta.LastUpdated = time.Now().UTC().Format(lastUpdatedLayout)
	self := c.canon
	if c.cursor != nil {
		self = cloneValues(c.canon)
		self.Set("_page", c.cursor.token())
	}
	b.Link = append(b.Link, bundleLink{"self", linkURL(base, typ, self)})
	if c.count > 0 && to < len(hits) {
		last := page[len(page)-1]
		next := cloneValues(c.canon)
		next.Set("_count", strconv.Itoa(c.count))
		next.Set("_page", cursor{last.updated, last.id}.token())
		b.Link = append(b.Link, bundleLink{"next", linkURL(base, typ, next)})
	}
	for _, h := range page {
		e := bundleEntry{FullURL: base + "/" + typ + "/" + h.id, Resource: h.body}
		e.Search.Mode = "match"
		b.Entry = append(b.Entry, e)
	}
	body, err := json.Marshal(b)
	if err != nil {
		return outcome(http.StatusInternalServerError, "exception", "the search result could not be encoded")
	}
	return &answer{status: http.StatusOK, body: body, effect: EffectSearch}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, x := range v {
		out[k] = append([]string(nil), x...)
	}
	return out
}

func linkURL(base, typ string, q url.Values) string {
	if len(q) == 0 {
		return base + "/" + typ
	}
	return base + "/" + typ + "?" + q.Encode()
}

// commonTypes are listed in the CapabilityStatement even before they hold data.
var commonTypes = []string{"Appointment", "Consent", "Coverage", "Encounter", "Observation", "Patient", "QuestionnaireResponse"}

func (s *Server) metadata(r *http.Request) *answer {
	seen := map[string]bool{}
	var types []string
	for _, t := range append(append([]string(nil), commonTypes...), s.store.typeNames()...) {
		if !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	sort.Strings(types)
	type param struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	type interaction struct {
		Code string `json:"code"`
	}
	type resource struct {
		Type              string        `json:"type"`
		Interaction       []interaction `json:"interaction"`
		Versioning        string        `json:"versioning"`
		ReadHistory       bool          `json:"readHistory"`
		UpdateCreate      bool          `json:"updateCreate"`
		ConditionalCreate bool          `json:"conditionalCreate"`
		SearchParam       []param       `json:"searchParam"`
	}
	var res []resource
	for _, t := range types {
		// Exactly what criteria.add serves for the type (params.go).
		params := []param{{"identifier", "token"}, {"_lastUpdated", "date"}, {"_id", "token"}}
		if _, ok := patientPaths[t]; ok {
			params = append(params, param{"patient", "reference"})
		}
		if hasSubject[t] {
			params = append(params, param{"subject", "reference"})
		}
		if t == "Appointment" {
			params = append(params, param{"date", "date"})
		}
		res = append(res, resource{
			Type:        t,
			Interaction: []interaction{{"read"}, {"vread"}, {"update"}, {"create"}, {"search-type"}},
			Versioning:  "versioned", ReadHistory: true, UpdateCreate: true, ConditionalCreate: true,
			SearchParam: params,
		})
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         time.Now().UTC().Format("2006-01-02"),
		"publisher":    "Switchboard",
		"kind":         "instance",
		"software":     map[string]string{"name": "Switchboard EHR sandbox (cmd/vendorsim)"},
		"implementation": map[string]string{
			"description": "In-memory FHIR R4 sandbox standing in for a vendor EHR; no authentication",
			"url":         s.baseURL(r),
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"application/fhir+json", "json"},
		"rest":        []map[string]any{{"mode": "server", "resource": res}},
	}
	body, _ := json.Marshal(cs)
	return &answer{status: http.StatusOK, body: body, effect: EffectRead}
}

// outcome is an error answer: an OperationOutcome with one issue.
func outcome(status int, code, diagnostics string) *answer {
	return outcomeAt(status, code, "", diagnostics)
}

// outcomeAt is outcome with the issue's expression (a search parameter's
// name, as servers report it), "" for none.
func outcomeAt(status int, code, expression, diagnostics string) *answer {
	issue := map[string]any{"severity": "error", "code": code, "diagnostics": diagnostics}
	if expression != "" {
		issue["expression"] = []string{expression}
	}
	body, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": []any{issue}})
	return &answer{status: status, body: body, effect: EffectRejected}
}

// paramOf is the parameter a search failure names, "" for none.
func paramOf(err error) string {
	var se *searchError
	if errors.As(err, &se) {
		return se.param
	}
	return ""
}

func notAllowed(allow string) *answer {
	return outcome(http.StatusMethodNotAllowed, "not-supported", "method not allowed here; allowed: "+allow)
}
