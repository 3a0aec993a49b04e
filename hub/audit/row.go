package audit

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// rowJSON is a log row as the API shows it; empty fields are omitted.
type rowJSON struct {
	Seq           int64          `json:"seq"`
	At            string         `json:"at"`
	Event         string         `json:"event"`
	TransferID    string         `json:"transfer_id,omitempty"`
	Direction     string         `json:"direction,omitempty"`
	Source        string         `json:"source,omitempty"`
	Destination   string         `json:"destination,omitempty"`
	ResourceType  string         `json:"resource_type,omitempty"`
	Interaction   string         `json:"interaction,omitempty"`
	SubjectHash   string         `json:"subject_hash,omitempty"`
	Outcome       string         `json:"outcome,omitempty"`
	HTTPStatus    int            `json:"http_status,omitempty"`
	Attempt       int            `json:"attempt,omitempty"`
	LatencyMS     int64          `json:"latency_ms,omitempty"`
	ErrorClass    string         `json:"error_class,omitempty"`
	Actor         string         `json:"actor,omitempty"`
	PayloadDigest string         `json:"payload_digest,omitempty"`
	Detail        map[string]any `json:"detail,omitempty"`
	PrevHash      string         `json:"prev_hash"`
	Hash          string         `json:"hash"`
}

func toJSON(r transferlog.Row) rowJSON {
	return rowJSON{Seq: r.Seq, At: r.At.UTC().Format(time.RFC3339Nano), Event: r.Event, TransferID: r.TransferID,
		Direction: r.Direction, Source: r.Source, Destination: r.Destination, ResourceType: r.ResourceType,
		Interaction: r.Interaction, SubjectHash: r.SubjectHash, Outcome: r.Outcome, HTTPStatus: r.HTTPStatus,
		Attempt: r.Attempt, LatencyMS: r.LatencyMS, ErrorClass: r.ErrorClass, Actor: r.Actor,
		PayloadDigest: r.PayloadDigest, Detail: r.Detail, PrevHash: r.PrevHash, Hash: r.Hash}
}

func toJSONs(rows []transferlog.Row) []rowJSON {
	out := make([]rowJSON, len(rows))
	for i, r := range rows {
		out[i] = toJSON(r)
	}
	return out
}

// csvHeader names the CSV columns: the JSON row's fields, in its order.
var csvHeader = []string{"seq", "at", "event", "transfer_id", "direction", "source", "destination", "resource_type",
	"interaction", "subject_hash", "outcome", "http_status", "attempt", "latency_ms", "error_class", "actor",
	"payload_digest", "detail", "prev_hash", "hash"}

// csvRecord is a row as CSV cells, in csvHeader's order, into rec (reused
// across rows); an empty JSON field is an empty cell, detail its JSON.
func csvRecord(r transferlog.Row, rec []string) ([]string, error) {
	num := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	detail := ""
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		if err != nil {
			return nil, err
		}
		detail = string(b)
	}
	return append(rec[:0], strconv.FormatInt(r.Seq, 10), r.At.UTC().Format(time.RFC3339Nano), r.Event, r.TransferID,
		r.Direction, r.Source, r.Destination, r.ResourceType, r.Interaction, r.SubjectHash, r.Outcome,
		num(int64(r.HTTPStatus)), num(int64(r.Attempt)), num(r.LatencyMS), r.ErrorClass, r.Actor, r.PayloadDigest,
		detail, r.PrevHash, r.Hash), nil
}
