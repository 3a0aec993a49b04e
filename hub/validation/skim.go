package validation

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Skimming: finding a resourceType (or a Bundle's type) in an object
// before it is read, without validating it.

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
