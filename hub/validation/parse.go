package validation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// syntaxError is a JSON problem at a byte offset. Its reason never quotes the
// input.
type syntaxError struct {
	offset int
	reason string
}

func (e *syntaxError) Error() string { return e.reason }

// maxDepth bounds nesting so a hostile body cannot exhaust the stack; FHIR
// resources are far shallower (google's unmarshaller has a similar limit).
const maxDepth = 400

// parse decodes one JSON value into map[string]any, []any, string,
// json.Number, bool and nil, like encoding/json with UseNumber, but stricter
// where strictness protects what we forward: it refuses invalid UTF-8 and
// trailing data (a syntaxError), and in the same single pass it notes what
// FHIR's JSON rules forbid though JSON allows it (ele-1 and the JSON format
// page), as issues with the path where each occurs:
//   - a duplicate object key (the validator and a destination could each
//     read a different value of the same element; the first is kept);
//   - null, except as a placeholder in a primitive array whose `_name`
//     sibling holds something at the same index (and the other way round);
//   - an empty array, or an object (other than the root) that is empty or
//     holds only nulls and empty values ({"extension":[]});
//   - a string that is empty or only whitespace;
//   - an unpaired UTF-16 surrogate escape ("\udc00"), which no UTF-8
//     destination can store and encoding/json would silently replace.
//
// The issues are found on the raw bytes because the decoded tree has lost
// them: a map keeps one value per key and unquoting replaces surrogates.
func parse(b []byte) (any, scan, error) {
	if !utf8.Valid(b) {
		off := 0
		for off < len(b) {
			r, n := utf8.DecodeRune(b[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, scan{}, &syntaxError{off, "invalid UTF-8"}
	}
	p := parser{b: b, path: make([]step, 0, 16)} // deeper than most resources
	p.space()
	v, _, err := p.value(0)
	if err != nil {
		return nil, scan{}, err
	}
	p.space()
	if p.i < len(p.b) {
		return nil, scan{}, p.fail("trailing data after the JSON value")
	}
	return v, p.scan, nil
}

// scan is what parse found beside the value.
type scan struct {
	issues []jsonIssue
	// placeholders are the offsets of the nulls accepted as placeholders
	// in primitive arrays (see forGoogle).
	placeholders []int
}

// step is one step of a JSON path: an object key, or an array index when
// index >= 0.
type step struct {
	key   string
	index int
}

// jsonIssue is a FHIR JSON rule broken at path. The path holds keys as
// sent; locate turns it into an expression that names only elements FHIR
// defines, so a key chosen by the sender is never echoed.
type jsonIssue struct {
	path   []step
	offset int
	code   string
	diag   string
}

type parser struct {
	b    []byte
	i    int
	path []step
	// hollow tells, after each value, whether it holds nothing: null, an
	// empty array or object, or one holding only such values. An object of
	// hollow members breaks ele-1 as much as {} does.
	hollow bool
	scan
}

// note records an issue at the current path (and extra steps below it).
func (p *parser) note(offset int, code, diag string, extra ...step) {
	if len(p.issues) >= maxIssues {
		return
	}
	path := make([]step, 0, len(p.path)+len(extra))
	path = append(append(path, p.path...), extra...)
	p.issues = append(p.issues, jsonIssue{path: path, offset: offset, code: code, diag: diag})
}

const (
	diagNull       = "null (FHIR JSON has no null values, except as a placeholder in a primitive array with a _name sibling)"
	diagEmptyArray = "empty array (FHIR JSON leaves an element out rather than sending it empty)"
	diagEmptyObj   = "empty object (an element needs a value or children, ele-1)"
	diagHollowObj  = "empty object (its members are all empty or null; an element needs a value or children, ele-1)"
	diagEmptyStr   = "empty string (FHIR strings must not be empty)"
	diagBlankStr   = "whitespace-only string (FHIR strings must hold non-whitespace content)"
	diagSurrogate  = "unpaired UTF-16 surrogate escape in a string"
	// diagDuplicate is followed by the key's line and column when rendered
	// (only then: computing a position scans the body).
	diagDuplicate = "duplicate key"
)

func (p *parser) fail(reason string) error { return &syntaxError{p.i, reason} }

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value reads one value. nulls lists an array's null items, which only the
// enclosing object can judge (by the `_name` sibling); every other rule is
// noted here.
func (p *parser) value(depth int) (v any, nulls []nullItem, err error) {
	if p.i >= len(p.b) {
		return nil, nil, p.fail("unexpected end of JSON")
	}
	c := p.b[p.i]
	switch c {
	case '{':
		v, err = p.object(depth + 1)
		return v, nil, err
	case '[':
		return p.array(depth + 1)
	}
	p.hollow = c == 'n' // a scalar holds a value unless it is null
	switch {
	case c == '"':
		at := p.i
		s, lone, err := p.str()
		if err != nil {
			return nil, nil, err
		}
		switch {
		case lone:
			p.note(at, "value", diagSurrogate)
		case s == "":
			p.note(at, "value", diagEmptyStr)
		case strings.TrimSpace(s) == "":
			p.note(at, "value", diagBlankStr)
		}
		return s, nil, nil
	case c == 't':
		return true, nil, p.literal("true")
	case c == 'f':
		return false, nil, p.literal("false")
	case c == 'n':
		return nil, nil, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		v, err = p.number()
		return v, nil, err
	default:
		return nil, nil, p.fail("unexpected character")
	}
}

func (p *parser) literal(lit string) error {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return p.fail("invalid literal")
	}
	p.i += len(lit)
	return nil
}

func (p *parser) object(depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.fail("JSON nested too deeply")
	}
	open := p.i
	p.i++ // {
	m := map[string]any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		if depth > 1 { // the root's emptiness is a missing resourceType
			p.note(open, "structure", diagEmptyObj)
		}
		p.hollow = true
		return m, nil
	}
	hollow := true
	var nullArrays []nullsAt // arrays holding nulls, in document order
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.fail("expected an object key")
		}
		at := p.i
		k, lone, err := p.str()
		if err != nil {
			return nil, err
		}
		_, dup := m[k]
		if dup {
			p.note(at, "structure", diagDuplicate, step{key: k, index: -1})
		}
		if lone {
			p.note(at, "structure", diagSurrogate+" (an object key)", step{key: k, index: -1})
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.fail("expected ':' after an object key")
		}
		p.i++
		p.space()
		vat := p.i
		p.path = append(p.path, step{key: k, index: -1})
		v, nulls, err := p.value(depth)
		p.path = p.path[:len(p.path)-1]
		if err != nil {
			return nil, err
		}
		hollow = hollow && p.hollow
		if v == nil {
			p.note(vat, "structure", diagNull, step{key: k, index: -1})
		}
		if !dup {
			m[k] = v
			if len(nulls) > 0 {
				nullArrays = append(nullArrays, nullsAt{k, nulls})
			}
		}
		p.space()
		if p.i >= len(p.b) {
			return nil, p.fail("unexpected end of JSON")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			for _, n := range nullArrays {
				p.pairNulls(m, n.key, n.items)
			}
			if hollow && depth > 1 {
				p.note(open, "structure", diagHollowObj)
			}
			p.hollow = hollow
			return m, nil
		default:
			return nil, p.fail("expected ',' or '}' in an object")
		}
	}
}

// nullItem is a null in an array: its index, and its offset in the body.
type nullItem struct{ index, offset int }

// nullsAt lists the null items of the array at an object's key.
type nullsAt struct {
	key   string
	items []nullItem
}

// pairNulls notes the nulls in m[k] that are not placeholders: FHIR allows
// a null item in a primitive array (given) only where its extension array
// (_given) has an item at the same index, and the other way round.
func (p *parser) pairNulls(m map[string]any, k string, nulls []nullItem) {
	pair := "_" + k
	if strings.HasPrefix(k, "_") {
		pair = k[1:]
	}
	other, _ := m[pair].([]any)
	for _, n := range nulls {
		if n.index < len(other) && other[n.index] != nil {
			p.placeholders = append(p.placeholders, n.offset)
			continue
		}
		p.note(n.offset, "structure", diagNull, step{key: k, index: -1}, step{index: n.index})
	}
}

// array reads an array; it returns the indexes of its null items for the
// enclosing object to judge.
func (p *parser) array(depth int) (any, []nullItem, error) {
	if depth > maxDepth {
		return nil, nil, p.fail("JSON nested too deeply")
	}
	open := p.i
	p.i++ // [
	a := []any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		p.note(open, "structure", diagEmptyArray)
		p.hollow = true
		return a, nil, nil
	}
	var nulls []nullItem
	hollow := true
	for {
		p.space()
		vat := p.i
		p.path = append(p.path, step{index: len(a)})
		v, inner, err := p.value(depth)
		p.path = p.path[:len(p.path)-1]
		if err != nil {
			return nil, nil, err
		}
		hollow = hollow && p.hollow
		if v == nil {
			nulls = append(nulls, nullItem{len(a), vat})
		}
		for _, n := range inner { // an array in an array: FHIR has none to pair
			p.note(n.offset, "structure", diagNull, step{index: len(a)}, step{index: n.index})
		}
		a = append(a, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, nil, p.fail("unexpected end of JSON")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			if depth == 1 { // a root array: nothing to pair with
				for _, n := range nulls {
					p.note(n.offset, "structure", diagNull, step{index: n.index})
				}
				nulls = nil
			}
			p.hollow = hollow
			return a, nulls, nil
		default:
			return nil, nil, p.fail("expected ',' or ']' in an array")
		}
	}
}

// str reads a string and reports whether it holds an unpaired surrogate
// escape; strings with escapes (rare in FHIR) are unquoted by encoding/json
// so escape handling matches the standard library exactly.
func (p *parser) str() (string, bool, error) {
	start := p.i
	p.i++ // opening quote
	escaped := false
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			if !escaped {
				return string(p.b[start+1 : p.i-1]), false, nil
			}
			raw := p.b[start:p.i]
			var s string // declared here: taking its address moves it to the heap
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", false, &syntaxError{start, "invalid escape in a string"}
			}
			return s, loneSurrogate(raw), nil
		case c == '\\':
			escaped = true
			p.i += 2
		case c < 0x20:
			return "", false, p.fail("control character in a string")
		default:
			p.i++
		}
	}
	return "", false, &syntaxError{len(p.b), "unterminated string"}
}

// loneSurrogate reports whether a quoted JSON string with valid escapes has
// a \uD800-\uDFFF escape that is not a high surrogate followed by a low one.
func loneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // a two-byte escape, perhaps an escaped backslash
			continue
		}
		r := hex4(raw[i+2 : i+6])
		i += 5
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return true
			}
			if lo := hex4(raw[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 reads four hex digits (already checked by encoding/json).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		}
	}
	return r
}

func (p *parser) number() (any, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return nil, p.fail("invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	return json.Number(p.b[start:p.i]), nil
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// forGoogle returns the body google's unmarshaller reads: google refuses
// the null placeholders FHIR allows in a primitive array ("given":["a",null]
// beside "_given":[null,{...}]), so each becomes an empty object, which it
// reads as a primitive without a value, padded to the same length so that
// nothing else moves. The body is copied only when it has placeholders
// (rare); the caller forwards the original bytes.
func forGoogle(body []byte, placeholders []int) []byte {
	if len(placeholders) == 0 {
		return body
	}
	out := bytes.Clone(body)
	for _, off := range placeholders {
		copy(out[off:off+4], "{}  ")
	}
	return out
}

// position renders an offset as "at line L, column C" (1-based, in bytes).
func position(body []byte, off int) string {
	line, col := 1, 1
	for i := 0; i < off && i < len(body); i++ {
		if body[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("at line %d, column %d", line, col)
}
