package validation

import (
	"bytes"
	"encoding/base64"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"time"
	"unsafe"

	"github.com/switchboard-health/switchboard/hub/outcome"
)

// The checks of a primitive value, each as google/fhir's unmarshaller makes
// it (jsonformat, jsonformat/fhirvalidate), on the bytes as sent.

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
