package audit

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// filterParams are the query parameters that select rows, on /log and
// /export alike.
var filterParams = []string{"from", "to", "connector", "destination", "source", "resource_type", "outcome",
	"event", "actor", "transfer_id", "subject", "after"}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// params is a request's query, checked: an unknown parameter is an error
// rather than ignored, since a misspelt filter would silently widen what
// an auditor reads.
type params struct {
	q url.Values
}

func parseParams(q url.Values, allowed ...[]string) (params, *outcome.Error) {
	known := map[string]bool{}
	for _, list := range allowed {
		for _, k := range list {
			known[k] = true
		}
	}
	for k, vs := range q {
		if !known[k] {
			// Not quoted: an unknown name is the client's text, not ours.
			return params{}, outcome.New(http.StatusBadRequest, "value", "",
				"unknown query parameter; this route takes "+strings.Join(names(allowed), ", "))
		}
		if len(vs) > 1 {
			return params{}, badParam(k, "is given more than once")
		}
	}
	return params{q}, nil
}

func names(lists [][]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func badParam(name, why string) *outcome.Error {
	return outcome.New(http.StatusBadRequest, "value", name, name+" "+why)
}

// get returns a parameter's value; empty means absent.
func (p params) get(name string) string { return p.q.Get(name) }

// filter builds the row filter and lists the names of the filters used.
// subject is HMAC'd with mac as the log keys it.
func (p params) filter(h *Handlers) (transferlog.Filter, []string, *outcome.Error) {
	var f transferlog.Filter
	used := []string{}
	for _, name := range filterParams {
		v := p.get(name)
		if v == "" {
			continue
		}
		used = append(used, name)
		switch name {
		case "from", "to":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, nil, badParam(name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
			if name == "from" {
				f.From = t
			} else {
				f.To = t
			}
		case "after":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return f, nil, badParam(name, "must be a row's seq (a whole number, 0 or more)")
			}
			f.After = n
		case "subject":
			f.SubjectHash = transferlog.SubjectHash(h.MAC, v)
		case "connector":
			f.Connector = v
		case "destination":
			f.Destination = v
		case "source":
			f.Source = v
		case "resource_type":
			f.ResourceType = v
		case "outcome":
			f.Outcome = v
		case "event":
			f.Event = v
		case "actor":
			f.Actor = v
		case "transfer_id":
			f.TransferID = v
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, nil, badParam("to", "must be after from")
	}
	if c := p.get("cursor"); c != "" {
		seq, ok := decodeCursor(c)
		if !ok {
			return f, nil, badParam("cursor", "is not a cursor this API returned")
		}
		f.After = max(f.After, seq)
	}
	return f, used, nil
}

// limit reads the page size.
func (p params) limit() (int, *outcome.Error) {
	v := p.get("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badParam("limit", "must be a whole number from 1 to 1000")
	}
	return n, nil
}

// A cursor is the last seq a page returned, opaque to clients so that its
// form can change.
func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("seq:" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 5 || string(b[:4]) != "seq:" {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b[4:]), 10, 64)
	return n, err == nil && n >= 0
}
