package validation

import (
	"bytes"
	"strconv"
	"unsafe"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// The tokenizer of the compiled validator: one value at a time, with the
// field it belongs to.

// token kinds, by a value's first byte.
const (
	tokString = iota
	tokNumber
	tokBool
	tokNull
	tokObject
	tokArray
)

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

// array reads an array of f's items.
func (c *compiled) array(f *ftable, refTypes []string, depth int) {
	if !c.beginArray(depth) {
		return
	}
	var t *mtable
	if f != nil && f.kind == kindMessage {
		t = f.target()
	}
	hollow, nulls := true, false
	for n := 0; ; n++ {
		mark := c.beginElement(n)
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
		if c.endElement(mark, &hollow, nulls, n) {
			return
		}
	}
}

// beginArray reads an array's '[' and reports whether elements follow: not
// when it is nested too deeply (a failure) or empty (a strict-JSON issue;
// the array is then read whole).
func (c *compiled) beginArray(depth int) bool {
	if depth > maxDepth {
		c.fail("JSON nested too deeply")
		return false
	}
	c.i++
	c.space()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		c.add(&c.strict, "structure", "", diagEmptyArray)
		c.hollow, c.lastNulls = true, false
		return false
	}
	return true
}

// beginElement steps into element n of an array; endElement steps out.
func (c *compiled) beginElement(n int) (mark int) {
	c.space()
	mark = c.pushIndex(n)
	c.steps = append(c.steps, step{index: n})
	return mark
}

// endElement closes one element of an array: it steps out of the element's
// path, then reads the ',' before the next element or the ']' that ends
// the array, recording what the array held (hollow, nulls, its length). It
// reports whether the array is done (ended, or failed).
func (c *compiled) endElement(mark int, hollow *bool, nulls bool, n int) bool {
	c.path = c.path[:mark]
	c.steps = c.steps[:len(c.steps)-1]
	if c.err != nil {
		return true
	}
	*hollow = *hollow && c.hollow
	c.space()
	if c.i >= len(c.b) {
		c.fail("unexpected end of JSON")
		return true
	}
	switch c.b[c.i] {
	case ',':
		c.i++
		return false
	case ']':
		c.i++
		c.hollow, c.lastNulls, c.lastLen = *hollow, nulls, n+1
		return true
	default:
		c.fail("expected ',' or ']' in an array")
		return true
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
