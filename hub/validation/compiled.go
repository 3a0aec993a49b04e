package validation

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// compiled validates a resource in one pass over its bytes with the tables
// of tables.go, reporting what the parser, the walker and google's
// unmarshaller together report on the same body (the differential test
// holds it to that), without building a tree or a proto.
//
// Its findings come in the classes the current path reports in turn: the
// strict JSON rules and unknown elements (400, reported alone when any);
// then what google's parse refuses (JSON types, codes, dates, choices:
// 400, alone when any); then what google's validation refuses (required
// elements and reference targets, 422; formats of ids, codes and strings,
// 400); then, only when google found nothing, malformed references (422).
type compiled struct {
	b    []byte
	i    int
	path []byte
	// keys are the keys of the objects being read, for duplicate keys;
	// each object's start in it is on the Go stack.
	keys [][]byte
	// strict holds the JSON rules' findings in document order (the
	// parser's); structure the unknown elements and contained resources
	// without a type, and refs the malformed references, each sorted at
	// the end into the walker's order (walk.go: keys sorted at each level).
	strict    []outcome.Issue
	structure ordered
	refs      ordered
	scratch   []byte // base64OK's
	// gmarks are where google names the path otherwise (see googlePath).
	gmarks []gmark
	// steps is the JSON path as sent (keys and indexes), for that order.
	steps []step
	parse []outcome.Issue
	valid []outcome.Issue
	// valid400 tells whether a validation finding is a malformed value.
	valid400 bool
	// inAny counts the contained resources being read (see addValid).
	inAny int
	// quiet counts the values being read that google does not read (a
	// field given the wrong cardinality): only the JSON rules, the
	// unknown elements and the reference formats count there.
	quiet int
	// badNumber marks a number beyond float64, which google's JSON decoder
	// refuses outright.
	badNumber bool
	// hollow tells, after each value, whether it holds nothing (parse.go);
	// lastNulls, after an array, whether it holds a null item.
	hollow    bool
	lastNulls bool
	lastLen   int // after an array, its length
	err       *syntaxError
}

var compiledPool = sync.Pool{New: func() any {
	return &compiled{path: make([]byte, 0, 128), keys: make([][]byte, 0, 64), steps: make([]step, 0, 32)}
}}

// validateCompiled checks body as Resource does and returns the resource
// type and id.
func validateCompiled(body []byte, wantType string) (rt, id string, err error) {
	rt, id, early, late := compileCheck(body)
	switch {
	case early != nil:
		return "", "", early
	case wantType != "" && rt != wantType:
		return "", "", outcome.New(http.StatusBadRequest, "invalid", wantType+".resourceType",
			"the resource type in the body differs from the one in the URL")
	case late != nil:
		return "", "", late
	}
	return rt, id, nil
}

// compileCheck reads body once. early is what makes it no resource at all
// (invalid JSON, no object, no known resourceType), which the caller
// reports before its own checks of the type; late is what the resource
// breaks.
func compileCheck(body []byte) (rt, id string, early, late *outcome.Error) {
	if !utf8.Valid(body) {
		_, _, perr := parse(body) // the offset, as the parser reports it
		return "", "", syntaxOutcome(body, perr.(*syntaxError)), nil
	}
	c := compiledPool.Get().(*compiled)
	defer func() {
		*c = compiled{path: c.path[:0], keys: c.keys[:0], steps: c.steps[:0], scratch: c.scratch[:0], gmarks: c.gmarks[:0]}
		compiledPool.Put(c)
	}()
	c.b = body
	c.space()
	isObject := c.i < len(c.b) && c.b[c.i] == '{'
	var table *mtable
	rtOK := false
	var rtErr *outcome.Error
	if isObject {
		rt, id, rtOK = skimResource(body[c.i:])
		switch {
		case !rtOK && rt == "":
			rtErr = outcome.New(http.StatusBadRequest, "required", "resourceType", "missing resourceType")
		case !rtOK || resourceTable(rt) == nil:
			rtErr = outcome.New(http.StatusBadRequest, "not-supported", "resourceType", "not a FHIR R4 resource type")
		default:
			table = resourceTable(rt)
		}
	}
	if table != nil {
		c.path = append(c.path, rt...)
	}
	c.value(table, nil, nil, false, 0)
	if c.err == nil {
		c.space()
		if c.i < len(c.b) {
			c.fail("trailing data after the JSON value")
		}
	}
	switch {
	case c.err != nil:
		return "", "", syntaxOutcome(body, c.err), nil
	case !isObject:
		return "", "", outcome.New(http.StatusBadRequest, "structure", "", "the body must be a JSON object (a FHIR resource)"), nil
	case rtErr != nil:
		return "", "", rtErr, nil
	case len(c.strict)+len(c.structure.issues) > 0:
		late = &outcome.Error{Status: http.StatusBadRequest, Issues: append(c.strict, c.structure.sorted(len(c.strict))...)}
	case c.badNumber:
		late = outcome.New(http.StatusBadRequest, "structure", "", "invalid JSON")
	case len(c.parse) > 0:
		late = &outcome.Error{Status: http.StatusBadRequest, Issues: c.parse}
	case len(c.valid) > 0:
		st := http.StatusUnprocessableEntity
		if c.valid400 {
			st = http.StatusBadRequest
		}
		late = &outcome.Error{Status: st, Issues: c.valid}
	case len(c.refs.issues) > 0:
		late = &outcome.Error{Status: http.StatusUnprocessableEntity, Issues: c.refs.sorted(0)}
	}
	return rt, id, nil, late
}

func syntaxOutcome(body []byte, se *syntaxError) *outcome.Error {
	return outcome.New(http.StatusBadRequest, "structure", "", "invalid JSON: "+se.reason+" "+position(body, se.offset))
}

func (c *compiled) fail(reason string) {
	if c.err == nil {
		c.err = &syntaxError{c.i, reason}
	}
}

func (c *compiled) space() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// add appends an issue at the current path (plus suffix) to list; the
// cap counts the strict findings with the list's own, as the walker does.
func (c *compiled) add(list *[]outcome.Issue, code, suffix, diag string) {
	if len(*list) >= maxIssues || c.quiet > 0 && (list == &c.parse || list == &c.valid) {
		return
	}
	expr := ""
	switch {
	case len(c.gmarks) > 0 && list == &c.parse:
		expr = c.googlePath(false) + suffix
	case len(c.gmarks) > 0 && list == &c.valid:
		expr = c.googlePath(true) + suffix
	default:
		expr = string(c.path) + suffix
	}
	*list = append(*list, outcome.Issue{Severity: "error", Code: code, Expression: expr, Diagnostics: diag})
}

// gmark is a stretch of the path google names otherwise: c.path[pos:pos+cut]
// reads parse in google's parse errors and valid in its validation errors
// (keep: as is). A resource held in another field than Bundle.entry.resource
// and contained (Bundle.entry.response.outcome) keeps its type as a segment
// (.OperationOutcome, .operationOutcome); a choice key is .value.string in
// validation errors.
type gmark struct {
	pos, cut     int
	parse, valid string
	keepParse    bool
}

func (c *compiled) googlePath(valid bool) string {
	out := make([]byte, 0, len(c.path)+32)
	at := 0
	for _, m := range c.gmarks {
		if m.pos < at || m.pos+m.cut > len(c.path) {
			continue
		}
		out = append(out, c.path[at:m.pos]...)
		switch {
		case valid:
			out = append(out, m.valid...)
		case m.keepParse:
			out = append(out, c.path[m.pos:m.pos+m.cut]...)
		default:
			out = append(out, m.parse...)
		}
		at = m.pos + m.cut
	}
	return string(append(out, c.path[at:]...))
}

// addOrdered adds an issue to a list sorted into the walker's order; extra
// is the key the walker finds it at below the current path, if any.
func (c *compiled) addOrdered(list *ordered, code, suffix, diag string, extra []byte) {
	at := make([]step, len(c.steps), len(c.steps)+1)
	copy(at, c.steps)
	if extra != nil {
		at = append(at, step{key: string(extra), index: -1})
	}
	list.issues = append(list.issues, outcome.Issue{Severity: "error", Code: code, Expression: string(c.path) + suffix, Diagnostics: diag})
	list.at = append(list.at, at)
}

// ordered is a list of issues with the JSON path each is found at.
type ordered struct {
	issues []outcome.Issue
	at     [][]step
}

// sorted returns the issues in the walker's order, as many as the cap
// leaves beside before earlier ones.
func (o *ordered) sorted(before int) []outcome.Issue {
	idx := make([]int, len(o.issues))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return compareSteps(o.at[a], o.at[b]) })
	out := make([]outcome.Issue, 0, len(idx))
	for _, i := range idx {
		if before+len(out) >= maxIssues {
			break
		}
		out = append(out, o.issues[i])
	}
	return out
}

func compareSteps(a, b []step) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		switch {
		case x.index >= 0 && y.index >= 0:
			if x.index != y.index {
				return x.index - y.index
			}
		case x.index < 0 && y.index < 0:
			if x.key != y.key {
				return strings.Compare(x.key, y.key)
			}
		default:
			return x.index - y.index
		}
	}
	return len(a) - len(b)
}

// keySuffix is ".k" when k is an element of t (so an issue may name it),
// else "": a key FHIR does not define is never repeated.
func keySuffix(t *mtable, resource bool, k []byte) string {
	if t == nil {
		return ""
	}
	if resource && string(k) == "resourceType" {
		return ".resourceType"
	}
	base := bytes.TrimPrefix(k, []byte("_"))
	f := t.keys[string(base)]
	if f == nil || len(base) != len(k) && f.kind != kindPrimitive && f.kind != kindReference {
		return ""
	}
	return "." + string(k)
}

func (c *compiled) pushIndex(i int) int {
	n := len(c.path)
	c.path = append(c.path, '[')
	c.path = strconv.AppendInt(c.path, int64(i), 10)
	c.path = append(c.path, ']')
	return n
}
