package validation

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Nulls in arrays, judged when their object closes (parse.go's rules).

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
