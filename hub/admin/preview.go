package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/delivery"
)

// Field is one element a replay would send, by name, with whether it
// changes what the destination holds. Never its value.
type Field struct {
	Name   string `json:"name"`
	Status string `json:"status"` // changed | unchanged | added | removed | unknown
}

// Preview is a replay's dry run.
type Preview struct {
	DryRun      bool    `json:"dry_run"`
	ID          string  `json:"id"`
	Destination string  `json:"destination"`
	Operation   string  `json:"operation"`
	Fields      []Field `json:"fields"`
	// Compared says what the statuses are relative to: "destination" (the
	// record read back from the vendor now), "none" for a create (nothing
	// to compare with), or "unavailable" (the connector cannot read, or the
	// read failed: statuses are "unknown").
	Compared       string `json:"compared"`
	KeyGeneration  int    `json:"key_generation"`
	LaterDelivered bool   `json:"later_delivered"`
}

// elements that describe the record rather than carry its content.
var bookkeeping = []string{"resourceType", "id", "meta", "text"}

// DryRun opens a failed sync's payload in memory and describes what a
// replay would send: the operation and each top-level element's name, and
// whether it differs from the destination's current record when the
// connector can read it back. The payload itself never leaves this
// function.
func (s *Service) DryRun(ctx context.Context, k Key) (Preview, error) {
	d, err := s.Failure(ctx, k)
	if err != nil {
		return Preview{}, err
	}
	if d.State != delivery.StateFailed {
		return Preview{}, ErrNotFailed
	}
	p, pt, err := s.Deliveries.OpenFailed(ctx, s.Keys, d.Failure)
	if err != nil {
		return Preview{}, err
	}
	defer clear(pt)
	out := Preview{DryRun: true, ID: k.String(), Destination: k.Destination, Operation: string(p.Interaction),
		LaterDelivered: d.LaterDelivered, KeyGeneration: d.KeyGeneration()}
	if d.HTTPStatus != 0 {
		out.KeyGeneration++
	}
	var sent map[string]json.RawMessage
	if err := json.Unmarshal(p.Resource, &sent); err != nil {
		return Preview{}, errors.New("admin: the sealed resource is not a JSON object")
	}
	var current map[string]json.RawMessage
	out.Compared = "unavailable"
	switch {
	case p.Interaction == connectors.Create:
		out.Compared = "none"
	case p.ResourceID != "" && s.Destinations[k.Destination].Reader != nil:
		body, err := s.Destinations[k.Destination].Reader.Read(ctx, p.ResourceType, p.ResourceID)
		if err == nil && json.Unmarshal(body, &current) == nil {
			out.Compared = "destination"
		}
		clear(body)
	}
	for name, v := range sent {
		if slices.Contains(bookkeeping, name) {
			continue
		}
		f := Field{Name: p.ResourceType + "." + name}
		switch out.Compared {
		case "none":
			f.Status = "added"
		case "destination":
			cur, ok := current[name]
			switch {
			case !ok:
				f.Status = "added"
			case sameJSON(cur, v):
				f.Status = "unchanged"
			default:
				f.Status = "changed"
			}
		default:
			f.Status = "unknown"
		}
		out.Fields = append(out.Fields, f)
	}
	if out.Compared == "destination" && p.Interaction == connectors.Update {
		for name := range current {
			if _, ok := sent[name]; !ok && !slices.Contains(bookkeeping, name) {
				out.Fields = append(out.Fields, Field{Name: p.ResourceType + "." + name, Status: "removed"})
			}
		}
	}
	slices.SortFunc(out.Fields, func(a, b Field) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for _, v := range sent {
		clear(v)
	}
	return out, nil
}

// sameJSON compares two JSON values regardless of key order and spacing.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ca, _ := json.Marshal(x)
	cb, _ := json.Marshal(y)
	return bytes.Equal(ca, cb)
}
