package admin

import (
	"context"
	"time"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Event is one transfer-log row about a delivery, as the detail view shows
// it.
type Event struct {
	At         time.Time `json:"at"`
	Event      string    `json:"event"`
	Attempt    int       `json:"attempt,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	HTTPStatus int       `json:"http_status,omitempty"`
	ErrorClass string    `json:"error_class,omitempty"`
	Code       string    `json:"code,omitempty"`
	LatencyMS  int64     `json:"latency_ms,omitempty"`
	Actor      string    `json:"actor,omitempty"`
}

// Detail is one failed sync with its history: every attempt, replay and
// admin action the transfer log holds for it.
type Detail struct {
	Failure
	History []Event `json:"history"`
	// LaterDelivered is true when a later delivery about the same patient
	// to the same destination has been delivered since: replaying this one
	// would write older data over newer.
	LaterDelivered bool `json:"later_delivered"`
}

// Failure reads one delivery (failed or not) and its history.
func (s *Service) Failure(ctx context.Context, k Key) (Detail, error) {
	f, err := delivery.Get(ctx, s.Store.DB(), k, s.replayWindow())
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Failure: f, History: []Event{}}
	rows, err := s.Log.Query(ctx, transferlog.Filter{TransferID: k.TransferID, Destination: k.Destination}, 1000)
	if err != nil {
		return Detail{}, err
	}
	for _, r := range rows {
		if e, ok := r.Detail["entry"]; ok && !sameEntry(e, k.Entry) {
			continue
		}
		code, _ := r.Detail["code"].(string)
		d.History = append(d.History, Event{At: r.At.UTC(), Event: r.Event, Attempt: r.Attempt, Outcome: r.Outcome,
			HTTPStatus: r.HTTPStatus, ErrorClass: r.ErrorClass, Code: code, LatencyMS: r.LatencyMS, Actor: r.Actor})
	}
	if d.LaterDelivered, err = delivery.LaterDelivered(ctx, s.Store.DB(), k); err != nil {
		return Detail{}, err
	}
	return d, nil
}

// sameEntry compares an entry number read back from JSON detail.
func sameEntry(v any, entry int) bool {
	switch n := v.(type) {
	case float64:
		return int(n) == entry
	case int:
		return n == entry
	case int64:
		return int(n) == entry
	}
	return false
}
