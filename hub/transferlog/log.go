// Package transferlog keeps the transfer log
// (docs/decisions/0008-transfer-log.md): one PHI-free row per event,
// hash-chained with the hub's HMAC key so that a row altered, inserted or
// removed in the database breaks the chain, and a MAC'd head row so that
// removing the newest rows is seen too.
//
// Writing is two steps. Stage inserts rows into switchboard_log_queue,
// cheaply and without a lock, inside the caller's own transaction where
// there is one, so the log cannot miss a change that committed nor keep
// one that rolled back. The chainer (Log.Chain, run by Log.RunChainer in
// every process) moves staged rows onto the chain in batches, under one
// lock, so the hot path never waits for the chain.
//
// Rows hold ids, destination names, resource types, codes and counts; a
// subject only as a keyed HMAC (SubjectHash) and a payload only as a keyed
// digest (Digest). Callers must never put anything from a payload into a
// row: Detail is for counts and PHI-free codes.
package transferlog

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
)

// Events a row records.
const (
	EventAccepted        = "accepted"
	EventDeliveryAttempt = "delivery_attempt"
	EventWebhookReceived = "webhook_received"
	EventWebhookRejected = "webhook_rejected"
	EventPoll            = "poll"
	EventChangeDropped   = "change_dropped"
	EventDrift           = "drift_repair"
	EventReplay          = "replay"
	EventDiscard         = "discard"
	EventPurge           = "purge"
	EventPause           = "pause"
	EventResume          = "resume"
	EventAdminAction     = "admin_action"
	EventAuditRead       = "audit_read"
)

// Directions of a row.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Row is one event. Zero fields are stored as NULL.
type Row struct {
	At           time.Time
	Event        string
	TransferID   string
	Direction    string
	Source       string
	Destination  string
	ResourceType string
	Interaction  string
	SubjectHash  string
	Outcome      string
	HTTPStatus   int
	Attempt      int
	LatencyMS    int64
	ErrorClass   string
	Actor        string
	// PayloadDigest is Digest of the resource a delivery sent, so that an
	// auditor holding a document can find the deliveries that carried it.
	PayloadDigest string
	// Detail is a JSON object of PHI-free counts and codes.
	Detail map[string]any

	// Seq, PrevHash and Hash are the row's place on the chain. They are set
	// on rows read back (Query, Each) and ignored by Stage and Append.
	Seq      int64
	PrevHash string
	Hash     string
}

// Log writes and reads the transfer log.
type Log struct {
	Store store.Store
	MAC   seal.MAC
	// Logger receives the chainer's errors; nil means slog.Default().
	Logger *slog.Logger
}

// genesis is the prev_hash of the first row.
const genesis = "genesis"

// Append stages row outside any transaction; it reaches switchboard_log at
// the chainer's next pass (Flush forces one). Callers that record a change
// they make in a transaction call Stage with that transaction instead.
func (l *Log) Append(ctx context.Context, row Row) error {
	return Stage(ctx, l.Store.DB(), row)
}

func (l *Log) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

// rowHash is a row's chain hash: the MAC over the previous row's hash and
// the row's columns as stored.
func (l *Log) rowHash(prev string, seq, at int64, r Row, detail string) string {
	return l.MAC.Sum(append([][]byte{[]byte("transfer-log"), []byte(prev)}, fields(seq, at, r, detail)...)...)
}

// headMAC authenticates the head row, so that the head cannot be moved back
// to hide rows removed from the end without the key.
func (l *Log) headMAC(seq int64, hash string) string {
	return l.MAC.Sum([]byte("transfer-log-head"), []byte(strconv.FormatInt(seq, 10)), []byte(hash))
}

// fields lists a row's columns in a fixed order for its hash; NULL and ""
// hash alike, as they are stored alike. The payload digest (added in v2) is
// hashed only when set: rows chained before it existed keep their hashes,
// and because seal.MAC length-prefixes every part, a list with one more
// part can never hash like one without it.
func fields(seq, at int64, r Row, detail string) [][]byte {
	s := func(v string) []byte { return []byte(v) }
	i := func(v int64) []byte { return []byte(strconv.FormatInt(v, 10)) }
	f := [][]byte{i(seq), i(at), s(r.Event), s(r.TransferID), s(r.Direction), s(r.Source), s(r.Destination),
		s(r.ResourceType), s(r.Interaction), s(r.SubjectHash), s(r.Outcome), i(int64(r.HTTPStatus)), i(int64(r.Attempt)),
		i(r.LatencyMS), s(r.ErrorClass), s(r.Actor), s(detail)}
	if r.PayloadDigest != "" {
		f = append(f, s(r.PayloadDigest))
	}
	return f
}
