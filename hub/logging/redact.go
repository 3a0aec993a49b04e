package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
)

// phiKeys are attribute keys that must never carry a value into a log. Keys
// are compared after normalisation (see normKey): lower case, camelCase and
// '-', '.', ' ' turned into '_', so "birthDate", "Birth-Date" and
// "birth_date" are one key. Matching is exact, never by substring: a
// substring rule would catch "resource_type" (contains "resource") or
// "destination".
var phiKeys = map[string]bool{
	// whole payloads and free text that may quote them
	"body": true, "payload": true, "resource": true, "request_body": true, "response_body": true,
	"note": true, "notes": true, "text": true, "comment": true, "narrative": true, "display": true,
	// patient demographics (FHIR Patient / HumanName / ContactPoint / Address field names included)
	"patient": true, "subject_name": true, "name": true, "family": true, "given": true,
	"birth_date": true, "birthdate": true, "dob": true, "date_of_birth": true,
	"email": true, "phone": true, "telecom": true, "mobile": true, "fax": true,
	"address": true, "line": true, "street": true, "postal_code": true, "zip": true,
	// identifiers
	"ssn": true, "mrn": true, "identifier": true, "identifiers": true,
	// request data that carries search parameters (?family=...&birthdate=...)
	"query": true, "url": true,
}

// phiSuffixes make a key PHI when its last '_' segment is one of them:
// "patient_name", "contact_email", "home_phone", and free text such as
// "comment_text" or "clinical_note". Keys ending in "_birth_date" are PHI
// too. Keys in safeKeys are exempt.
var phiSuffixes = map[string]bool{
	"_name": true, "_email": true, "_phone": true, "_address": true, "_dob": true, "_birthdate": true,
	"_ssn": true, "_mrn": true, "_telecom": true, "_text": true, "_note": true, "_notes": true, "_comment": true,
}

// safeKeys name infrastructure, not people, although they end in a PHI
// suffix. "name" itself stays PHI (FHIR's HumanName is "name"); a log line
// that names a job, a queue or a connector says which one in its key.
var safeKeys = map[string]bool{
	"job_name": true, "queue_name": true, "route_name": true, "connector_name": true,
	"destination_name": true, "source_name": true, "component_name": true, "service_name": true,
	"host_name": true, "app_name": true, "table_name": true, "column_name": true, "index_name": true,
	"metric_name": true, "span_name": true, "event_name": true, "header_name": true,
	"param_name": true, "field_name": true, "kind_name": true, "status_text": true,
	"ip_address": true, "remote_address": true, "listen_address": true, "bind_address": true,
	"local_address": true, "peer_address": true, "server_address": true,
}

// keyRule merges phiKeys (true) and safeKeys (false) so that the common
// case, a key in neither, costs one map lookup.
var keyRule = func() map[string]bool {
	m := make(map[string]bool, len(phiKeys)+len(safeKeys))
	for k := range phiKeys {
		m[k] = true
	}
	for k := range safeKeys {
		m[k] = false
	}
	return m
}()

// IsPHIKey reports whether an attribute with this key is redacted whatever
// its value: the key is in the PHI list or ends in a PHI suffix, and is not
// a known-safe key.
func IsPHIKey(key string) bool {
	k := normKey(key)
	if phi, ok := keyRule[k]; ok {
		return phi
	}
	i := strings.LastIndexByte(k, '_')
	if i <= 0 {
		return false
	}
	return phiSuffixes[k[i:]] || k[i:] == "_date" && strings.HasSuffix(k, "_birth_date")
}

// normKey lower-cases key, splits camelCase with '_' and turns '-', '.' and
// ' ' into '_'. Keys already in snake_case (the house style) are returned
// without allocating.
func normKey(key string) string {
	clean := true
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			clean = false
			break
		}
	}
	if clean {
		return key
	}
	var b strings.Builder
	b.Grow(len(key) + 4)
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'A' && c <= 'Z':
			if i > 0 {
				if p := key[i-1]; p >= 'a' && p <= 'z' || p >= '0' && p <= '9' {
					b.WriteByte('_')
				}
			}
			b.WriteByte(c + 'a' - 'A')
		case c == '-' || c == '.' || c == ' ':
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Redact wraps h so that no record reaches it with PHI in it:
//
//   - an attribute whose key is PHI (IsPHIKey) keeps its key and gets the
//     value [redacted], at any depth: in the record, in With/WithAttrs, in
//     slog.Group values and in whatever a slog.LogValuer resolves to; a
//     group (slog.Group or WithGroup) under a PHI key is redacted whole;
//   - string values, error texts and the message itself pass MaskText;
//   - other values of kind Any (structs, maps, slices) are rendered through
//     encoding/json and the result walked with the same two rules, so a
//     struct field "birthDate" is caught as the key birth_date.
//
// Numbers, booleans, durations and times pass untouched.
func Redact(h slog.Handler) slog.Handler {
	if r, ok := h.(*redactor); ok {
		return r
	}
	return &redactor{inner: h}
}

type redactor struct {
	inner slog.Handler
	// all is set under a WithGroup whose name is a PHI key: every
	// attribute inside is redacted.
	all bool
}

func (r *redactor) Enabled(ctx context.Context, l slog.Level) bool { return r.inner.Enabled(ctx, l) }

func (r *redactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, MaskText(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.inner.Handle(ctx, out)
}

func (r *redactor) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = r.attr(a)
	}
	return &redactor{inner: r.inner.WithAttrs(clean), all: r.all}
}

func (r *redactor) WithGroup(name string) slog.Handler {
	if name == "" {
		return r
	}
	return &redactor{inner: r.inner.WithGroup(name), all: r.all || IsPHIKey(name)}
}

func (r *redactor) attr(a slog.Attr) slog.Attr {
	if r.all && a.Key != "" {
		return slog.String(a.Key, Redacted)
	}
	return redactAttr(a)
}

// redactAttr applies the key rule and then the value rule to a.
func redactAttr(a slog.Attr) slog.Attr {
	// An empty-key group is inlined by handlers: its attributes are checked
	// one by one. Any other empty-key attribute is dropped by handlers.
	if a.Key != "" && IsPHIKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	a.Value = redactValue(a.Value.Resolve())
	return a
}

func redactValue(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		if m := MaskText(s); m != s {
			return slog.StringValue(m)
		}
		return v
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, a := range g {
			out[i] = redactAttr(a)
		}
		return slog.GroupValue(out...)
	case slog.KindAny:
		return redactAny(v.Any())
	default:
		return v
	}
}

// redactAny handles values of kind Any. Errors become their masked text
// (what the JSON and text handlers print for them anyway); structs, maps,
// slices and pointers go through encoding/json so that their field names
// meet the key rule; scalars of named types keep their String form.
func redactAny(x any) slog.Value {
	switch t := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(MaskText(t.Error()))
	case []byte:
		return slog.StringValue(MaskText(string(t)))
	}
	switch rv := reflect.ValueOf(x); rv.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer, reflect.Interface:
	default:
		// A scalar of a named type (type State int): keep its String form
		// if it has one, its text if it is a string, itself otherwise.
		if st, ok := x.(fmt.Stringer); ok {
			return slog.StringValue(MaskText(st.String()))
		}
		if rv.Kind() == reflect.String {
			return slog.StringValue(MaskText(rv.String()))
		}
		return slog.AnyValue(x)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return slog.StringValue(MaskText(fmt.Sprint(x)))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		return slog.StringValue(MaskText(string(b)))
	}
	return slog.AnyValue(redactJSON(g))
}

func redactJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if IsPHIKey(k) {
				t[k] = Redacted
			} else {
				t[k] = redactJSON(e)
			}
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = redactJSON(e)
		}
		return t
	case string:
		return MaskText(t)
	default:
		return v
	}
}
