package validation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

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

// token kinds, by a value's first byte.
const (
	tokString = iota
	tokNumber
	tokBool
	tokNull
	tokObject
	tokArray
)

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

// value reads one value at the current path. t is the type an object
// here has (nil when unknown: then only the JSON rules apply); f is the
// field the value belongs to (nil at the root and when unknown); refTypes
// are the targets a Reference object here allows. inArray tells that the
// value is an item of f's array.
func (c *compiled) value(t *mtable, f *ftable, refTypes []string, inArray bool, depth int) {
	if c.err != nil {
		return
	}
	if c.i >= len(c.b) {
		c.fail("unexpected end of JSON")
		return
	}
	tok := tokenOf(c.b[c.i])
	if f != nil {
		mismatch := false
		if f.repeated && !inArray && tok != tokArray && tok != tokNull {
			c.add(&c.parse, "structure", "", "wrong JSON type: expected array")
			mismatch = true
		} else if (!f.repeated || inArray) && tok == tokArray {
			c.add(&c.parse, "structure", "", "wrong JSON type: expected "+expected(f))
			mismatch = true
		}
		if mismatch {
			// google stops at the field; the walker goes on into it
			// whatever the cardinality, so only its findings count there.
			c.quiet++
			c.token(tok, t, f, refTypes, depth)
			c.quiet--
			return
		}
	}
	c.token(tok, t, f, refTypes, depth)
}

// token reads the value at c.i, a tok.
func (c *compiled) token(tok int, t *mtable, f *ftable, refTypes []string, depth int) {
	switch tok {
	case tokObject:
		if f != nil && (f.kind == kindPrimitive || f.kind == kindReference) && f.md != nil {
			// google reads an object here as the primitive's own message
			// (id, extension; its scalar fields are invalid), the walker
			// as an object of that type; google's validation then finds
			// the missing value of an id or code malformed.
			if f.md.Name() == "Xhtml" {
				// google refuses an xhtml with extensions and names no path.
				if c.quiet == 0 && len(c.parse) < maxIssues {
					c.parse = append(c.parse, outcome.Issue{Severity: "error", Code: "invalid", Diagnostics: "invalid element"})
				}
				c.quiet++
				c.object(f.target(), nil, depth+1)
				c.quiet--
				return
			}
			c.object(f.target(), nil, depth+1)
			c.emptyValue(f, "")
			return
		}
		if f != nil && (f.kind == kindPrimitive || f.kind == kindReference) {
			c.add(&c.parse, "structure", "", "wrong JSON type: expected "+expected(f))
			f, t = nil, nil
		}
		if f != nil && f.kind == kindContained {
			c.contained(depth+1, f)
			return
		}
		c.object(t, refTypes, depth+1)
	case tokArray:
		c.array(f, refTypes, depth+1)
	case tokString:
		s, escaped, lone := c.str()
		if c.err != nil {
			return
		}
		c.hollow = false
		switch {
		case lone:
			c.add(&c.strict, "value", "", diagSurrogate)
		case len(s) == 0:
			c.add(&c.strict, "value", "", diagEmptyStr)
		case len(bytes.TrimSpace(s)) == 0:
			c.add(&c.strict, "value", "", diagBlankStr)
		}
		if f != nil {
			c.stringValue(f, refTypes, s, escaped)
		}
	case tokNumber:
		start := c.i
		c.number()
		c.hollow = false
		if c.err == nil {
			raw := c.b[start:c.i]
			if _, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64); err != nil {
				c.badNumber = true
			}
			if f != nil {
				c.numberValue(f, raw)
			}
		}
	case tokBool:
		if c.b[c.i] == 't' {
			c.literal("true")
		} else {
			c.literal("false")
		}
		c.hollow = false
		if f != nil && (f.kind != kindPrimitive || f.prim != primBool) {
			c.add(&c.parse, "structure", "", "wrong JSON type: expected "+expected(f))
		}
	case tokNull:
		c.literal("null")
		c.hollow = true
	default:
		c.fail("unexpected character")
	}
}

func tokenOf(b byte) int {
	switch {
	case b == '"':
		return tokString
	case b == '{':
		return tokObject
	case b == '[':
		return tokArray
	case b == 't' || b == 'f':
		return tokBool
	case b == 'n':
		return tokNull
	case b == '-' || (b >= '0' && b <= '9'):
		return tokNumber
	}
	return -1
}

// expected names the JSON a field takes, for a diagnostic.
func expected(f *ftable) string {
	switch {
	case f.kind == kindMessage || f.kind == kindContained:
		return "JSON object"
	case f.prim == primBool:
		return "boolean"
	case f.prim == primInteger || f.prim == primPositiveInt || f.prim == primUnsignedInt:
		return "integer"
	case f.prim == primDecimal:
		return "decimal"
	}
	return "string"
}

// stringValue checks a string where f belongs; escaped tells that s was
// unquoted (the raw bytes had escapes).
func (c *compiled) stringValue(f *ftable, refTypes []string, s []byte, escaped bool) {
	if f.kind == kindMessage || f.kind == kindContained {
		c.add(&c.parse, "structure", "", "wrong JSON type: expected JSON object")
		return
	}
	switch f.prim {
	case primBool, primInteger, primPositiveInt, primUnsignedInt, primDecimal:
		c.add(&c.parse, "structure", "", "wrong JSON type: expected "+expected(f))
	case primEnumCode:
		if !f.codeOK(s) {
			c.add(&c.parse, "value", "", "code not in the required value set")
		}
	case primDate, primDateTime, primInstant, primTime:
		if !validTime(f.prim, s) {
			c.add(&c.parse, "value", "", timeDiag[f.prim])
		}
	case primID:
		c.format(&c.valid, f, s, "invalid Id format")
	case primOID:
		c.format(&c.valid, f, s, "invalid Oid format")
	case primUUID:
		c.format(&c.valid, f, s, "invalid Uuid format")
	case primCode:
		c.format(&c.valid, f, s, "invalid Code format")
	case primBase64:
		if escaped || !c.base64OK(s) {
			c.add(&c.parse, "value", "", "expected binary data")
		}
	case primURI:
		c.uri(s)
	case primString:
		if f.kind == kindReference {
			c.reference(refTypes, s) // a String in google's Reference: no url.Parse
		}
		suffix := ""
		if f.kind == kindReference {
			// google keeps Type/id as a typed id (no String), #id as the
			// fragment and the rest as the uri, and names those fields.
			if typ, ok := referenceType(s); ok && IsResourceType(string(typ)) {
				return
			}
			mark := bytes.LastIndexByte(c.path, '.')
			saved := c.path
			c.path = c.path[:mark]
			defer func() { c.path = saved }()
			suffix = ".uri"
			if len(s) > 0 && s[0] == '#' {
				s, suffix = s[1:], ".fragment"
			}
		}
		if len(s) > 1<<20 {
			c.addValid("value", suffix, "string exceeds maximum size of 1 MB", true)
		}
		if escaped && bytes.ContainsFunc(s, badChar) {
			c.addValid("value", suffix, "string contains characters FHIR does not allow", true)
		}
	}
}

// uri checks a uri as google does (url.Parse), skipping the parse (and its
// allocations) for the plain shapes it cannot refuse.
func (c *compiled) uri(s []byte) {
	if plainURI(s) {
		return
	}
	if _, err := url.Parse(string(s)); err != nil {
		c.addValid("invalid", "", "invalid element", true)
	}
}

// plainURI reports whether url.Parse certainly accepts s: only unreserved
// and a few sub-delimiter characters, and either no colon at all or a
// scheme, then (after //) a host with at most a numeric port.
func plainURI(s []byte) bool {
	colon := -1
	for i, b := range s {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case b == '-', b == '.', b == '_', b == '~', b == '/', b == '#', b == '?', b == '=', b == '&', b == '+', b == ',', b == ';':
		case b == ':':
			if colon < 0 {
				colon = i
			}
		default:
			return false
		}
	}
	if colon < 0 {
		return true
	}
	if colon == 0 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, b := range s[1:colon] {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '+' || b == '-' || b == '.') {
			return false
		}
	}
	rest := s[colon+1:]
	if !bytes.HasPrefix(rest, []byte("//")) {
		return true // an opaque URI (urn:oid:1.2): no authority to parse
	}
	auth := rest[2:]
	if i := bytes.IndexAny(auth, "/?#"); i >= 0 {
		auth = auth[:i]
	}
	if i := bytes.IndexByte(auth, ':'); i >= 0 {
		for _, b := range auth[i+1:] {
			if b < '0' || b > '9' {
				return false
			}
		}
	}
	return true
}

var timeDiag = map[prim]string{primDate: "expected date", primDateTime: "expected dateTime", primInstant: "expected instant", primTime: "invalid time"}

// google's own patterns and layouts (jsonformat/internal/jsonpbhelper),
// which are not the value_regex annotations: google accepts year 0000 and
// checks days against the month with time.Parse.
var (
	dateRe     = regexp.MustCompile(`^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[0-9]|[1-2][0-9]|3[0-1]))?)?$`)
	dateTimeRe = regexp.MustCompile(`^-?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[0-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	timeRe     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?$`)
	instantRe  = regexp.MustCompile(`^-?[0-9]{4}-(0[1-9]|1[0-2])-(0[0-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`)
)

// validTime checks a date, dateTime, instant or time as google parses it.
func validTime(p prim, b []byte) bool {
	var re *regexp.Regexp
	var layouts []string
	switch p {
	case primDate:
		re, layouts = dateRe, []string{"2006-01-02", "2006-01", "2006"}
	case primDateTime:
		re, layouts = dateTimeRe, []string{"2006-01-02T15:04:05-07:00", "2006-01-02T15:04:05Z", "2006-01-02", "2006-01", "2006"}
	case primInstant:
		re, layouts = instantRe, []string{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05-07:00"}
	default:
		re, layouts = timeRe, []string{"15:04:05"}
	}
	if !re.Match(b) {
		return false
	}
	s := unsafe.String(unsafe.SliceData(b), len(b)) // read only, not kept
	for _, l := range layouts {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}

// base64OK decodes base64 as google does (jsonformat/primitive.go): runs
// of spaces are allowed between chunks of one length, all runs of one
// length; the rest is standard base64. The raw string is copied into a
// scratch buffer, not decoded in place.
func (c *compiled) base64OK(p []byte) bool {
	c.scratch = append(c.scratch[:0], p...)
	q := c.scratch
	nn, stride, sep, chunkStart := 0, 0, 0, 0
	for i := 0; i < len(q); i++ {
		if q[i] != ' ' {
			q[nn] = q[i]
			nn++
			continue
		}
		cur := i - chunkStart
		if stride == 0 {
			stride = cur
		}
		if cur != stride {
			return false
		}
		chunkStart = i
		for i < len(q) && q[i] == ' ' {
			i++
		}
		if cur := i - chunkStart; sep == 0 {
			sep = cur
		} else if cur != sep {
			return false
		}
		chunkStart = i
		i--
	}
	q = q[:nn]
	_, err := base64.StdEncoding.Decode(q, q)
	return err == nil
}

func badChar(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r'
}

func (c *compiled) format(list *[]outcome.Issue, f *ftable, s []byte, diag string) {
	if f.re != nil && !f.re.Match(s) {
		if list == &c.valid {
			c.addValid("value", "", diag, true)
			return
		}
		c.add(list, "value", "", diag)
	}
}

// emptyValue reports, as google's validation does, an id, oid, uuid or
// code that holds no value (sent as an object or a null placeholder).
func (c *compiled) emptyValue(f *ftable, suffix string) {
	switch f.prim {
	case primID:
		c.addValid("value", suffix, "invalid Id format", true)
	case primOID:
		c.addValid("value", suffix, "invalid Oid format", true)
	case primUUID:
		c.addValid("value", suffix, "invalid Uuid format", true)
	case primCode:
		c.addValid("value", suffix, "invalid Code format", true)
	}
}

// addValid adds what google's validation step finds (malformed tells a
// 400 from a 422). google validates no resource in contained: they are
// google.protobuf.Any values its walk does not enter.
func (c *compiled) addValid(code, suffix, diag string, malformed bool) {
	if c.inAny > 0 || c.quiet > 0 || len(c.valid) >= maxIssues {
		return
	}
	c.valid400 = c.valid400 || malformed
	c.add(&c.valid, code, suffix, diag)
}

// reference checks Reference.reference: its target type, as google does
// (Type/id and Type/id/_history/v name a type), then its format.
func (c *compiled) reference(refTypes []string, b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		return // the JSON rules report it
	}
	if typ, ok := referenceType(b); ok && refTypes != nil {
		if md, known := resources()[string(typ)]; known {
			allowed := false
			for _, r := range refTypes {
				allowed = allowed || r == string(md.Name())
			}
			if !allowed {
				c.addValid("value", "", "reference to a resource type this element does not allow", false)
				return
			}
		}
	}
	if !validReferenceBytes(b) {
		c.addOrdered(&c.refs, "value", "", "malformed reference: want Type/id, an absolute URL, urn:uuid:, urn:oid: or #contained-id", nil)
	}
}

// validReferenceBytes is validReference without a string for the common
// Type/id shape.
func validReferenceBytes(b []byte) bool {
	typ, id, ok := bytes.Cut(b, []byte("/"))
	if ok && len(id) >= 1 && len(id) <= 64 && len(typ) > 1 && typ[0] >= 'A' && typ[0] <= 'Z' {
		plain := true
		for _, c := range id {
			plain = plain && (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.')
		}
		if _, known := resources()[string(typ)]; plain && known {
			return true
		}
	}
	return validReference(string(b))
}

// referenceType is the type google reads in a relative reference.
func referenceType(s []byte) ([]byte, bool) {
	typ, rest, ok := bytes.Cut(s, []byte("/"))
	if !ok || bytes.HasPrefix(s, []byte("#")) {
		return nil, false
	}
	switch bytes.Count(rest, []byte("/")) {
	case 0:
		return typ, true
	case 2:
		if _, after, _ := bytes.Cut(rest, []byte("/")); bytes.HasPrefix(after, []byte("_history/")) {
			return typ, true
		}
	}
	return nil, false
}

// numberValue checks a number where f belongs.
func (c *compiled) numberValue(f *ftable, raw []byte) {
	if f.kind != kindPrimitive {
		c.add(&c.parse, "structure", "", "wrong JSON type: expected "+expected(f))
		return
	}
	switch f.prim {
	case primDecimal:
		if f.re != nil && !f.re.Match(raw) {
			c.add(&c.parse, "structure", "", "wrong JSON type: expected decimal")
		}
	case primInteger:
		if _, err := strconv.ParseInt(string(raw), 10, 32); err != nil {
			c.add(&c.parse, "structure", "", "wrong JSON type: expected integer")
		}
	case primPositiveInt, primUnsignedInt:
		digits := len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9'
		for _, b := range raw {
			digits = digits && b >= '0' && b <= '9'
		}
		if f.prim == primPositiveInt && (!digits || raw[0] == '0') {
			c.add(&c.parse, "value", "", "expected positive integer")
			return
		}
		if !digits {
			c.add(&c.parse, "value", "", "invalid non-negative integer")
			return
		}
		v, err := strconv.ParseUint(string(raw), 10, 32)
		if err != nil {
			c.add(&c.parse, "value", "", "invalid positive integer")
			return
		}
		if v > math.MaxInt32 {
			c.addValid("value", "", "non-negative integer out of range 0..2,147,483,647", true)
		}
	default:
		c.add(&c.parse, "structure", "", "wrong JSON type: expected "+expected(f))
	}
}

// contained reads a whole resource: Bundle.entry.resource or contained.
func (c *compiled) contained(depth int, f *ftable) {
	if f.md.FullName() == "google.protobuf.Any" {
		c.inAny++
		defer func() { c.inAny-- }()
	}
	rt, _, ok := skimResource(c.b[c.i:])
	t := resourceTable(rt)
	if t != nil && f.name != "resource" && f.name != "contained" {
		marks := len(c.gmarks)
		c.gmarks = append(c.gmarks, gmark{pos: len(c.path), parse: "." + rt, valid: "." + lowerFirst(rt)})
		defer func() { c.gmarks = c.gmarks[:marks] }()
	}
	switch {
	case !ok && rt == "":
		c.addOrdered(&c.structure, "required", ".resourceType", "missing resourceType", nil)
	case t == nil:
		c.addOrdered(&c.structure, "not-supported", ".resourceType", "not a FHIR R4 resource type", nil)
	}
	c.object(t, nil, depth)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// skimResource finds an object's resourceType (and id) without validating
// it: ok is false when resourceType is missing (rt "") or not a string or
// not a type (rt "?").
func skimResource(b []byte) (rt, id string, ok bool) {
	s := skimmer{b: b}
	s.i++ // {
	found := false
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return rt, id, found
		}
		k := s.rawString()
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return rt, id, found
		}
		s.i++
		s.space()
		start := s.i
		if !s.skip() {
			return rt, id, found
		}
		v := s.b[start:s.i]
		isStr := len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"'
		switch {
		case string(k) == "resourceType" && !found:
			if !isStr {
				return "?", id, false
			}
			md, known := resources()[string(v[1:len(v)-1])]
			if !known {
				return "?", id, false
			}
			rt, found = string(md.Name()), true
		case string(k) == "id" && id == "" && isStr:
			if u, err := strconv.Unquote(string(v)); err == nil {
				id = u
			}
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		return rt, id, found
	}
}

// topString is the first value of key in body's top-level object when it
// is a string, else "" (the Bundle's type, read before its validation is
// reported, as the map the google path decodes into keeps the first).
func topString(body []byte, key string) string {
	s := skimmer{b: body}
	s.space()
	s.i++ // {
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return ""
		}
		kstart := s.i
		s.rawString()
		k := s.b[kstart:s.i]
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return ""
		}
		s.i++
		s.space()
		start := s.i
		if !s.skip() {
			return ""
		}
		var name string
		if json.Unmarshal(k, &name) == nil && name == key {
			var v string
			if json.Unmarshal(s.b[start:s.i], &v) != nil {
				return ""
			}
			return v
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ',' {
			return ""
		}
		s.i++
	}
}

type skimmer struct {
	b []byte
	i int
}

func (s *skimmer) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// rawString returns a string token's raw content (escapes not read: the
// keys this looks for have none).
func (s *skimmer) rawString() []byte {
	start := s.i + 1
	s.i++
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return s.b[start : s.i-1]
		default:
			s.i++
		}
	}
	return nil
}

// skip passes over one value, nesting and strings only.
func (s *skimmer) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		s.rawString()
		return true
	case '{', '[':
	default: // a scalar: up to the next delimiter
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return true
			}
			s.i++
		}
		return true
	}
	depth := 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			s.rawString()
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return true
			}
		}
		s.i++
	}
	return false
}

// object reads an object of type t (nil: unknown, JSON rules only).
func (c *compiled) object(t *mtable, refTypes []string, depth int) {
	if depth > maxDepth {
		c.fail("JSON nested too deeply")
		return
	}
	open := c.i
	c.i++
	c.space()
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		if depth > 1 {
			c.add(&c.strict, "structure", "", diagEmptyObj)
		}
		if t != nil && depth > 1 {
			c.hollow = true
			return
		}
		c.required(t, 0, nil)
		c.hollow = true
		return
	}
	keys0 := len(c.keys)
	defer func() { c.keys = c.keys[:keys0] }()
	var seen uint64 // required elements present
	var chosen [24]*ftable
	var unknown []byte // the first unknown key in sorted order
	// lens holds the lengths of the primitive arrays read (given, _given):
	// google merges both into one list and refuses two lengths.
	var lens [8]struct {
		f *ftable
		n int
	}
	hollow := true
	nulls := false
	resource := t != nil && t.resource
	for {
		c.space()
		if c.i >= len(c.b) || c.b[c.i] != '"' {
			c.fail("expected an object key")
			return
		}
		keyAt := c.i
		k, _, lone := c.str()
		if c.err != nil {
			return
		}
		dup := false
		for _, prev := range c.keys[keys0:] {
			dup = dup || bytes.Equal(prev, k)
		}
		if dup {
			c.add(&c.strict, "structure", keySuffix(t, resource, k), diagDuplicate+" "+position(c.b, keyAt))
		}
		if lone {
			c.add(&c.strict, "structure", keySuffix(t, resource, k), diagSurrogate+" (an object key)")
		}
		c.keys = append(c.keys, k)
		c.space()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			c.fail("expected ':' after an object key")
			return
		}
		c.i++
		c.space()
		isNull := c.i < len(c.b) && c.b[c.i] == 'n'
		isArr := c.i < len(c.b) && c.b[c.i] == '['
		var f *ftable
		var sub *mtable
		var subRefs []string
		element := false
		known := true
		if t != nil && !(resource && string(k) == "resourceType") {
			base := bytes.TrimPrefix(k, []byte("_"))
			f = t.keys[string(base)]
			switch {
			case f == nil || len(base) != len(k) && f.kind != kindPrimitive && f.kind != kindReference:
				known, f = false, nil
				if unknown == nil || bytes.Compare(k, unknown) < 0 {
					unknown = k
				}
			default:
				if f.required >= 0 && f.required < 64 {
					seen |= 1 << f.required
				}
				if f.choice >= 0 && f.choice < len(chosen) {
					if prev := chosen[f.choice]; prev != nil && prev != f {
						c.add(&c.parse, "structure", "."+f.choiceName+"[x]", "more than one type given for a choice element")
					}
					chosen[f.choice] = f
				}
				if len(base) != len(k) {
					element = true
				} else if f.kind == kindMessage {
					sub = f.target()
					if sub.reference {
						subRefs = f.refTypes
					}
				}
			}
		}
		mark := len(c.path)
		c.steps = append(c.steps, step{key: unsafe.String(unsafe.SliceData(k), len(k)), index: -1})
		marks := len(c.gmarks)
		if known && t != nil {
			c.path = append(append(c.path, '.'), k...)
			switch {
			case f != nil && f.googlePath != "":
				c.gmarks = append(c.gmarks, gmark{pos: mark, cut: 1 + len(k), valid: f.googlePath, keepParse: true})
			case element:
				// google merges _gender into gender and validates it there.
				c.gmarks = append(c.gmarks, gmark{pos: mark, cut: 1 + len(k), valid: "." + f.name, keepParse: true})
			}
		}
		if f != nil && f.kind == kindReference {
			subRefs = refTypes
		}
		if f != nil && f.kind == kindInvalid {
			// A primitive's own scalar field (value, valueUs) sent in JSON.
			c.add(&c.parse, "invalid", "", "invalid element")
			f, sub = nil, nil
		}
		if dup {
			// The first value counts; the repeat is read for its syntax.
			saved := c.snapshot()
			c.value(nil, nil, nil, false, depth)
			c.restore(saved)
		} else if element {
			c.element(f, refTypes, depth)
		} else {
			c.value(sub, f, subRefs, false, depth)
		}
		c.path = c.path[:mark]
		c.gmarks = c.gmarks[:marks]
		c.steps = c.steps[:len(c.steps)-1]
		if c.err != nil {
			return
		}
		hollow = hollow && c.hollow
		if isNull {
			c.add(&c.strict, "structure", keySuffix(t, resource, k), diagNull)
		}
		if isArr && f != nil && f.repeated && !dup && (f.kind == kindPrimitive || f.kind == kindReference) {
			for j := range lens {
				if lens[j].f == nil {
					lens[j].f, lens[j].n = f, c.lastLen
					break
				}
				if lens[j].f == f {
					if lens[j].n != c.lastLen {
						c.add(&c.parse, "structure", keySuffix(t, resource, k), "wrong JSON type: array length mismatch")
					}
					break
				}
			}
		}
		if isArr && c.lastNulls {
			nulls = true
		}
		c.space()
		if c.i >= len(c.b) {
			c.fail("unexpected end of JSON")
			return
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case '}':
			c.i++
			if nulls {
				c.pairNulls(open, t)
			}
			if hollow && depth > 1 {
				c.add(&c.strict, "structure", "", diagHollowObj)
			}
			if unknown != nil {
				c.addOrdered(&c.structure, "structure", "", "unknown element (this element holds a key FHIR R4 does not define for its type)", unknown)
			}
			c.required(t, seen, chosen[:])
			c.hollow = hollow
			return
		default:
			c.fail("expected ',' or '}' in an object")
			return
		}
	}
}

// snapshot and restore keep a duplicate key's value from counting twice
// for anything but the JSON rules.
type snap struct{ parse, valid, structure, refs int }

func (c *compiled) snapshot() snap {
	return snap{len(c.parse), len(c.valid), len(c.structure.issues), len(c.refs.issues)}
}

func (c *compiled) restore(s snap) {
	c.parse, c.valid = c.parse[:s.parse], c.valid[:s.valid]
	c.structure.issues, c.structure.at = c.structure.issues[:s.structure], c.structure.at[:s.structure]
	c.refs.issues, c.refs.at = c.refs.issues[:s.refs], c.refs.at[:s.refs]
}

func (c *compiled) required(t *mtable, seen uint64, chosen []*ftable) {
	if t == nil {
		return
	}
	for i, name := range t.required {
		if i < 64 && seen&(1<<i) == 0 {
			c.addValid("required", "."+name, "missing required element", false)
		}
	}
}

// element reads a primitive's `_name` sibling: an Element (id, extension)
// or an array of them and nulls.
func (c *compiled) element(f *ftable, refTypes []string, depth int) {
	if c.i >= len(c.b) {
		c.value(nil, nil, nil, false, depth)
		return
	}
	switch c.b[c.i] {
	case '[':
		if !f.repeated {
			c.add(&c.parse, "structure", "", "invalid JSON")
			c.quiet++ // google reads no further
			c.elementArray(f, refTypes, depth+1)
			c.quiet--
			return
		}
		c.elementArray(f, refTypes, depth+1)
	case '{':
		if f.repeated {
			c.add(&c.parse, "structure", "", "wrong JSON type: expected array")
		}
		c.object(elementTable(), nil, depth+1)
	case 'n':
		c.value(nil, nil, nil, false, depth)
	default:
		// google reads a scalar here as the primitive's value.
		c.value(nil, f, refTypes, false, depth)
	}
}

func (c *compiled) elementArray(f *ftable, refTypes []string, depth int) {
	if depth > maxDepth {
		c.fail("JSON nested too deeply")
		return
	}
	open := c.i
	_ = open
	c.i++
	c.space()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		c.add(&c.strict, "structure", "", diagEmptyArray)
		c.hollow, c.lastNulls = true, false
		return
	}
	hollow, nulls := true, false
	for n := 0; ; n++ {
		c.space()
		mark := c.pushIndex(n)
		c.steps = append(c.steps, step{index: n})
		switch {
		case c.i < len(c.b) && c.b[c.i] == '{':
			c.object(elementTable(), nil, depth+1)
		case c.i < len(c.b) && c.b[c.i] == 'n':
			nulls = true
			c.value(nil, nil, nil, false, depth)
		default:
			c.value(nil, f, refTypes, f.repeated, depth)
		}
		c.path = c.path[:mark]
		c.steps = c.steps[:len(c.steps)-1]
		if c.err != nil {
			return
		}
		hollow = hollow && c.hollow
		c.space()
		if c.i >= len(c.b) {
			c.fail("unexpected end of JSON")
			return
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case ']':
			c.i++
			c.hollow, c.lastNulls, c.lastLen = hollow, nulls, n+1
			return
		default:
			c.fail("expected ',' or ']' in an array")
			return
		}
	}
}

// elementTable is an Element's: id and extension.
var elementTable = sync.OnceValue(func() *mtable {
	ext := tableOf(extensionDescriptor())
	return &mtable{md: ext.md, keys: map[string]*ftable{
		"id":        {name: "id", kind: kindPrimitive, prim: primString, required: -1, choice: -1},
		"extension": ext.keys["extension"],
	}}
})

// array reads an array of f's items.
func (c *compiled) array(f *ftable, refTypes []string, depth int) {
	if depth > maxDepth {
		c.fail("JSON nested too deeply")
		return
	}
	c.i++
	c.space()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		c.add(&c.strict, "structure", "", diagEmptyArray)
		c.hollow, c.lastNulls = true, false
		return
	}
	var t *mtable
	if f != nil && f.kind == kindMessage {
		t = f.target()
	}
	hollow, nulls := true, false
	for n := 0; ; n++ {
		c.space()
		mark := c.pushIndex(n)
		c.steps = append(c.steps, step{index: n})
		isNull := c.i < len(c.b) && c.b[c.i] == 'n'
		isArr := c.i < len(c.b) && c.b[c.i] == '['
		if isNull {
			nulls = true
		}
		c.value(t, f, refTypes, f != nil, depth)
		if isArr && c.lastNulls {
			// An array in an array: FHIR has none to pair with.
			c.lastNulls = false
			c.nestedNulls(depth)
		}
		c.path = c.path[:mark]
		c.steps = c.steps[:len(c.steps)-1]
		if c.err != nil {
			return
		}
		hollow = hollow && c.hollow
		c.space()
		if c.i >= len(c.b) {
			c.fail("unexpected end of JSON")
			return
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case ']':
			c.i++
			c.hollow, c.lastNulls, c.lastLen = hollow, nulls, n+1
			return
		default:
			c.fail("expected ',' or ']' in an array")
			return
		}
	}
}

// nestedNulls reports the null items of the array that just ended.
func (c *compiled) nestedNulls(_ int) {
	end := c.i
	start := openOf(c.b, end)
	for i, isNull := range itemsNull(c.b[start:end]) {
		if isNull {
			c.add(&c.strict, "structure", "["+strconv.Itoa(i)+"]", diagNull)
		}
	}
}

// openOf finds the '[' matching the ']' just before end.
func openOf(b []byte, end int) int {
	// Re-scan from the start: rare (arrays of arrays with nulls).
	s := skimmer{b: b}
	var stack []int
	for s.i < end {
		switch b[s.i] {
		case '"':
			s.rawString()
			continue
		case '[':
			stack = append(stack, s.i)
		case ']':
			if len(stack) > 0 {
				if s.i == end-1 {
					return stack[len(stack)-1]
				}
				stack = stack[:len(stack)-1]
			}
		}
		s.i++
	}
	return 0
}

// itemsNull tells, for each item of the array at b, whether it is null.
func itemsNull(b []byte) []bool {
	s := skimmer{b: b}
	s.i++ // [
	var out []bool
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] == ']' {
			return out
		}
		out = append(out, s.b[s.i] == 'n')
		if !s.skip() {
			return out
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
		}
	}
}

// pairNulls judges the null items of the object at open's arrays: a null
// in a primitive array (given) is a placeholder only where its `_given`
// has an item at the same index, and the other way round (parse.go).
func (c *compiled) pairNulls(open int, t *mtable) {
	members := map[string][]bool{}
	var order []string
	s := skimmer{b: c.b[:c.i], i: open + 1}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			break
		}
		kstart := s.i
		s.rawString()
		k, err := strconv.Unquote(string(c.b[kstart:s.i]))
		if err != nil {
			var us string
			_ = json.Unmarshal(c.b[kstart:s.i], &us)
			k = us
		}
		s.space()
		s.i++ // :
		s.space()
		if _, dup := members[k]; !dup {
			if s.b[s.i] == '[' {
				members[k] = itemsNull(s.b[s.i:])
				order = append(order, k)
			} else {
				members[k] = nil
			}
		}
		s.skip()
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
		}
	}
	for _, k := range order {
		pair := "_" + k
		if strings.HasPrefix(k, "_") {
			pair = k[1:]
		}
		other := members[pair]
		for i, isNull := range members[k] {
			if !isNull {
				continue
			}
			if i < len(other) && !other[i] {
				// A placeholder: google reads it as a primitive without a
				// value.
				if t != nil && t.keys[k] != nil {
					c.emptyValue(t.keys[k], "."+k+"["+strconv.Itoa(i)+"]")
				}
				continue
			}
			suffix := "." + k + "[" + strconv.Itoa(i) + "]"
			if t != nil && t.keys[strings.TrimPrefix(k, "_")] == nil {
				suffix = ""
			}
			c.add(&c.strict, "structure", suffix, diagNull)
		}
	}
}

func (c *compiled) literal(lit string) {
	if len(c.b)-c.i < len(lit) || string(c.b[c.i:c.i+len(lit)]) != lit {
		c.fail("invalid literal")
		return
	}
	c.i += len(lit)
}

// str reads a string as parse.go's parser does, without copying it when
// it has no escapes: the result then aliases the body.
func (c *compiled) str() (s []byte, escaped, lone bool) {
	start := c.i + 1
	for j := start; j < len(c.b); j++ {
		switch b := c.b[j]; {
		case b == '"':
			c.i = j + 1
			return c.b[start:j], false, false
		case b == '\\':
			p := parser{b: c.b, i: c.i}
			v, lone, err := p.str()
			c.i = p.i
			if err != nil {
				c.err = err.(*syntaxError)
				return nil, true, false
			}
			return []byte(v), true, lone
		case b < 0x20:
			c.i = j
			c.fail("control character in a string")
			return nil, false, false
		}
	}
	c.err = &syntaxError{len(c.b), "unterminated string"}
	return nil, false, false
}

func (c *compiled) number() {
	p := parser{b: c.b, i: c.i}
	_, err := p.number()
	c.i = p.i
	if err != nil {
		c.err = err.(*syntaxError)
	}
}
