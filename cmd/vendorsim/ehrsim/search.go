package ehrsim

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	defaultCount = 50
	maxCount     = 1000
)

// identQuery is one identifier search value: "system|value", "system|"
// (any value in the system), "|value" (no system) or "value" (any system).
type identQuery struct {
	system, value string
	anySystem     bool
}

func parseIdentQuery(s string) identQuery {
	sys, val, ok := strings.Cut(s, "|")
	if !ok {
		return identQuery{value: s, anySystem: true}
	}
	return identQuery{system: sys, value: val}
}

func (q identQuery) matches(i ident) bool {
	if !q.anySystem && q.system != i.system {
		return false
	}
	return q.value == "" || q.value == i.value
}

// dateQuery is one value of a date parameter (_lastUpdated, date): a prefix
// and the range [lo, hi) that the value's precision covers (2026-01-01 is a
// whole day).
type dateQuery struct {
	op     string
	lo, hi time.Time
}

// parseDateQuery reads one value of the date parameter name.
func parseDateQuery(name, s string) (dateQuery, error) {
	op := "eq"
	if len(s) > 2 && s[0] >= 'a' && s[0] <= 'z' {
		op, s = s[:2], s[2:]
	}
	switch op {
	case "eq", "gt", "ge", "lt", "le":
	default:
		return dateQuery{}, fmt.Errorf("the %s prefix %q is not supported (use eq, gt, ge, lt or le)", name, op)
	}
	// An unescaped + in a query string arrives as a space.
	s = strings.ReplaceAll(s, " ", "+")
	q := dateQuery{op: op}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		prec := time.Second
		if i := strings.IndexByte(s, '.'); i >= 0 {
			digits := 0
			for _, c := range s[i+1:] {
				if c < '0' || c > '9' {
					break
				}
				digits++
			}
			prec = time.Duration(1)
			for range 9 - min(digits, 9) {
				prec *= 10
			}
		}
		q.lo, q.hi = t.UTC(), t.UTC().Add(prec)
		return q, nil
	}
	for _, f := range []struct {
		layout string
		y, m   int
		d      int
	}{{"2006-01-02", 0, 0, 1}, {"2006-01", 0, 1, 0}, {"2006", 1, 0, 0}} {
		if t, err := time.Parse(f.layout, s); err == nil {
			q.lo, q.hi = t, t.AddDate(f.y, f.m, f.d)
			return q, nil
		}
	}
	return dateQuery{}, fmt.Errorf("the %s value is not a FHIR instant or date", name)
}

// matches reports whether the instant u is in the range the query names.
func (q dateQuery) matches(u time.Time) bool {
	switch q.op {
	case "gt":
		return !u.Before(q.hi)
	case "ge":
		return !u.Before(q.lo)
	case "lt":
		return u.Before(q.lo)
	case "le":
		return u.Before(q.hi)
	default:
		return !u.Before(q.lo) && u.Before(q.hi)
	}
}

// criteria is a parsed search. Repeated parameters are ANDed; comma-separated
// values within one parameter are ORed, as in FHIR.
type criteria struct {
	typ      string // the resource type searched, "" for If-None-Exist
	ids      [][]string
	idents   [][]identQuery
	updated  []dateQuery
	starts   []dateQuery // date= values (Appointment.start)
	patients [][]string  // patient= values
	subjects [][]string  // subject= values
	count    int
	cursor   *cursor
	canon    url.Values // the parameters honoured, for the self and next links
	hasParam bool
}

// cursor is the keyset position a next link resumes after.
type cursor struct {
	updated time.Time
	id      string
}

func (c cursor) token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.updated.UnixMilli(), 10) + ":" + c.id))
}

func parseCursor(tok string) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		ms, id, ok := strings.Cut(string(b), ":")
		if n, perr := strconv.ParseInt(ms, 10, 64); ok && perr == nil && id != "" {
			return &cursor{updated: time.UnixMilli(n).UTC(), id: id}, nil
		}
	}
	return nil, fmt.Errorf("the _page token is not one this server issued")
}

// parseSearch reads a search of typ. Unknown parameters are ignored unless
// strict (Prefer: handling=strict), as FHIR allows; the self link (canon)
// states only those applied. A failure is a *searchError naming the
// parameter.
func parseSearch(typ string, q url.Values, strict bool) (*criteria, error) {
	c := &criteria{typ: typ, count: defaultCount, canon: url.Values{}}
	for name, vals := range q {
		for _, v := range vals {
			if err := c.add(name, v); err != nil {
				if strict || err != errUnknownParam {
					return nil, &searchError{param: name, err: err}
				}
			}
		}
	}
	return c, nil
}

// searchError is a search refused because of one parameter; the answer's
// OperationOutcome names it in expression, as the hub reads it.
type searchError struct {
	param string
	err   error
}

func (e *searchError) Error() string { return e.err.Error() }
func (e *searchError) Unwrap() error { return e.err }

// parseConditions reads an If-None-Exist header: a query string limited to
// identifier and _id, the parameters this sandbox can match on atomically.
func parseConditions(h string) (*criteria, error) {
	q, err := url.ParseQuery(h)
	if err != nil {
		return nil, fmt.Errorf("If-None-Exist is not a query string")
	}
	c := &criteria{canon: url.Values{}}
	for name, vals := range q {
		if name != "identifier" && name != "_id" {
			return nil, fmt.Errorf("If-None-Exist supports identifier and _id only, not %q", name)
		}
		for _, v := range vals {
			if err := c.add(name, v); err != nil {
				return nil, err
			}
		}
	}
	if !c.hasParam {
		return nil, fmt.Errorf("If-None-Exist names no criteria")
	}
	return c, nil
}

type paramError string

func (e paramError) Error() string { return string(e) }

const errUnknownParam = paramError("unknown search parameter")

func (c *criteria) add(name, v string) error {
	switch name {
	case "_id":
		c.ids = append(c.ids, strings.Split(v, ","))
	case "identifier":
		var g []identQuery
		for _, s := range strings.Split(v, ",") {
			g = append(g, parseIdentQuery(s))
		}
		c.idents = append(c.idents, g)
	case "_lastUpdated":
		d, err := parseDateQuery(name, v)
		if err != nil {
			return err
		}
		c.updated = append(c.updated, d)
	case "date":
		// Appointment's date is its start; other types' date parameters
		// (Encounter.period, Observation.effective) are not served.
		if c.typ != "Appointment" {
			return errUnknownParam
		}
		d, err := parseDateQuery(name, v)
		if err != nil {
			return err
		}
		c.starts = append(c.starts, d)
	case "patient":
		// What patient means depends on the type (params.go); a type
		// that does not define it does not serve it.
		if _, ok := patientPaths[c.typ]; !ok {
			return errUnknownParam
		}
		var g []string
		for _, s := range strings.Split(v, ",") {
			if !strings.Contains(s, "/") {
				s = "Patient/" + s
			}
			g = append(g, s)
		}
		c.patients = append(c.patients, g)
	case "subject":
		if !hasSubject[c.typ] {
			return errUnknownParam
		}
		c.subjects = append(c.subjects, strings.Split(v, ","))
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("_count must be a whole number, zero or more")
		}
		c.count = min(n, maxCount)
		c.canon.Set(name, strconv.Itoa(c.count))
		return nil
	case "_page":
		cur, err := parseCursor(v)
		if err != nil {
			return err
		}
		c.cursor = cur
		return nil // not part of the canonical query; next links set their own
	case "_sort":
		// Results are always in lastUpdated order; asking for it is
		// honoured, any other order is not supported.
		if v != "_lastUpdated" {
			return errUnknownParam
		}
		c.canon.Set(name, v)
		return nil
	case "_format", "_pretty":
		return nil
	default:
		return errUnknownParam
	}
	c.hasParam = true
	c.canon.Add(name, v)
	return nil
}

// exactIdent returns the index key when the search is one exact system|value,
// the conditional create's usual shape.
func (c *criteria) exactIdent() (string, bool) {
	if len(c.idents) != 1 || len(c.idents[0]) != 1 {
		return "", false
	}
	q := c.idents[0][0]
	if q.anySystem || q.value == "" {
		return "", false
	}
	return ident{q.system, q.value}.key(), true
}

func (c *criteria) matches(r *record) bool {
	for _, g := range c.ids {
		if !anyOf(g, func(id string) bool { return id == r.id }) {
			return false
		}
	}
	for _, g := range c.idents {
		ok := false
		for _, q := range g {
			for _, i := range r.idents {
				if q.matches(i) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	if len(c.updated) > 0 {
		u := r.current().updated
		for _, d := range c.updated {
			if !d.matches(u) {
				return false
			}
		}
	}
	if len(c.starts) > 0 {
		if r.start.IsZero() {
			return false
		}
		for _, d := range c.starts {
			if !d.matches(r.start) {
				return false
			}
		}
	}
	return refsMatch(c.patients, r.patients) && refsMatch(c.subjects, r.subjects)
}

// refsMatch reports whether every group of wanted references (ANDed; the
// values within one ORed) has one among refs, written relative or absolute.
func refsMatch(groups [][]string, refs []string) bool {
	for _, g := range groups {
		ok := false
		for _, want := range g {
			for _, ref := range refs {
				if ref == want || strings.HasSuffix(ref, "/"+want) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func anyOf(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if f(x) {
			return true
		}
	}
	return false
}
