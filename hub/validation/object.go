package validation

import (
	"bytes"
	"sync"
	"unsafe"
)

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
	if !c.beginArray(depth) {
		return
	}
	hollow, nulls := true, false
	for n := 0; ; n++ {
		mark := c.beginElement(n)
		switch {
		case c.i < len(c.b) && c.b[c.i] == '{':
			c.object(elementTable(), nil, depth+1)
		case c.i < len(c.b) && c.b[c.i] == 'n':
			nulls = true
			c.value(nil, nil, nil, false, depth)
		default:
			c.value(nil, f, refTypes, f.repeated, depth)
		}
		if c.endElement(mark, &hollow, nulls, n) {
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
