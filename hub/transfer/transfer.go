// Package transfer accepts messages and reports on them. A transfer is one
// accepted write (a resource, or a batch or transaction Bundle); it fans out
// to one delivery per (entry, destination). Accept writes the transfer, its
// deliveries and their River jobs in one database transaction, so a crash can
// never leave a transfer without its jobs or a job without its transfer.
package transfer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/projection"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Kinds of transfer.
const (
	KindResource    = "resource"
	KindBatch       = "batch"
	KindTransaction = "transaction"
)

// Entry is one resource of a submission, already validated.
type Entry struct {
	Interaction  connectors.Interaction
	ResourceType string
	ResourceID   string
	Resource     []byte // PHI: sealed before it leaves memory
	// FullURL is the Bundle entry's fullUrl (urn:uuid:…), "" for a single
	// resource; references between entries use it.
	FullURL string
	// Match ("system|value") finds the record an update without
	// ResourceID changes: a change a vendor reported (webhooks).
	Match string
}

// Submission is one accepted write.
type Submission struct {
	ClientID       string
	IdempotencyKey string // the client's header, "" when absent
	Body           []byte // the request body, for the idempotency check (idempotency.go)
	Kind           string
	Entries        []Entry
	// Origin is the destination a vendor change came from (webhooks,
	// pollers): it is never routed back there, so a change crosses each
	// vendor once.
	Origin string
	// ChangedAt is the vendor's time of a change a vendor reported (zero
	// for a client's write): deliveries carry it so that the later change
	// wins a conflict (connectors.Delivery.ChangedAt).
	ChangedAt time.Time
}

// Accepted reports the transfer a submission became.
type Accepted struct {
	ID string
	// Replayed is true when an earlier submission with the same
	// Idempotency-Key is being returned and nothing new was enqueued.
	Replayed   bool
	Deliveries int
}

// ErrNoDestination means no entry of a submission has a route (once the
// origin is left out).
var ErrNoDestination = errors.New("transfer: no entry has a destination")

// ErrIdempotencyConflict means the Idempotency-Key was used before with a
// different request: another resource, or another interaction or URL
// (idempotency.go says what counts as the same).
var ErrIdempotencyConflict = errors.New("transfer: Idempotency-Key reused with a different request")

// Router names the destinations of a resource type and interaction.
type Router interface {
	For(resourceType string, in connectors.Interaction) []string
}

// Projector is implemented by a Router whose destinations may receive only
// part of a resource (route.Table). Accept applies it before sealing, so
// what a destination must not receive never enters its queue.
type Projector interface {
	Project(dest, resourceType string, resource []byte) ([]byte, error)
}

// Service accepts transfers and reports their status.
type Service struct {
	Store       store.Store
	Keys        *seal.Keyring
	MAC         seal.MAC
	Router      Router
	MaxAttempts map[string]int // per destination, for River's own cap
	Now         func() time.Time
	// IdentityAt names the source of truth (the EHR destination) that the
	// vendors' ids are written back to; "" when none is configured.
	IdentityAt string
	// GateSources names, for each destination with a consent gate, the
	// destination its gate asks (the EHR): the Patient asked about and any
	// Consent routed there in the same transfer are waited for
	// (gateWaitsFor, delivery.Payload.GateWaits).
	GateSources map[string]string
	// Deliveries owns the deliveries' rows and jobs: Accept inserts them
	// through it, Status reads them.
	Deliveries *delivery.Table

	group groupCommit // PostgreSQL accepts
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// NewID returns a time-ordered transfer id: "tr_" + 12 hex of Unix
// milliseconds + 16 random hex.
func NewID(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("tr_%012x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

// ValidID reports whether s has the shape of a transfer id.
func ValidID(s string) bool {
	if len(s) != 3+12+16 || !strings.HasPrefix(s, "tr_") {
		return false
	}
	_, err := hex.DecodeString(s[3:])
	return err == nil
}

// Accept stores a submission and enqueues its deliveries atomically. Entries
// with no route are the caller's to reject before calling Accept.
func (s *Service) Accept(ctx context.Context, sub Submission) (Accepted, error) {
	now := s.now()
	id := NewID(now)
	var jobs []delivery.New
	subjects := subjectKeys(sub.Entries)
	rels := relatedEntries(sub.Entries)
	seqs := deliveryOrder(len(sub.Entries), rels)
	referenced := make([]bool, len(sub.Entries))
	for _, refs := range rels {
		for _, j := range refs {
			referenced[j] = true
		}
	}
	for i := range sub.Entries {
		e := &sub.Entries[i]
		subject := subjectOf(e)
		dests := s.Router.For(e.ResourceType, e.Interaction)
		if sub.Origin != "" {
			dests = slices.DeleteFunc(slices.Clone(dests), func(d string) bool { return d == sub.Origin })
		}
		for _, dest := range dests {
			resource := e.Resource
			var err error
			if p, ok := s.Router.(Projector); ok {
				if resource, err = p.Project(dest, e.ResourceType, e.Resource); err != nil {
					return Accepted{}, fmt.Errorf("transfer: project entry %d for %s: %w", i, dest, err)
				}
			}
			var related map[string]json.RawMessage
			var relatedEntry map[string]int
			if rels != nil && len(rels[i]) > 0 {
				relatedEntry = rels[i]
				if related, err = s.related(dest, sub.Entries, rels[i]); err != nil {
					return Accepted{}, fmt.Errorf("transfer: project entry %d's related entries for %s: %w", i, dest, err)
				}
			}
			var gateWaits *delivery.GateWaits
			if src, ok := s.GateSources[dest]; ok {
				gateWaits = gateWaitsFor(sub.Entries, i, src, s.Router)
			}
			payload, err := json.Marshal(delivery.Payload{
				Interaction: e.Interaction, ResourceType: e.ResourceType, ResourceID: e.ResourceID, Resource: resource,
				Subject: subject, Related: related, RelatedEntry: relatedEntry,
				// The source of truth's id for a new resource is what the
				// other vendors' ids are written back onto.
				Referenced: referenced[i] || (dest == s.IdentityAt && len(dests) > 1 && e.Interaction == connectors.Create),
				GateWaits:  gateWaits,
				Match:      e.Match,
				ChangedAt:  sub.ChangedAt,
			})
			if err != nil {
				return Accepted{}, fmt.Errorf("transfer: encode payload: %w", err)
			}
			env, err := s.Keys.Seal(payload, delivery.AAD(id, i, dest))
			clear(payload)
			if err != nil {
				return Accepted{}, fmt.Errorf("transfer: seal: %w", err)
			}
			opts := &river.InsertOpts{Queue: delivery.QueueName(dest)}
			if n := s.MaxAttempts[dest]; n > 0 {
				// River's cap sits above ours: the worker counts tries itself
				// (snoozes do not advance River's attempt) and gives up first.
				opts.MaxAttempts = 2*n + 5
			}
			var subjectHash, auditSubject any
			if subjects[i] != "" {
				subjectHash = s.MAC.Sum([]byte("subject"), []byte(dest), []byte(subjects[i]))
				if !strings.HasPrefix(subjects[i], "urn:") { // a Bundle-local name means nothing to an auditor
					auditSubject = transferlog.SubjectHash(s.MAC, subjects[i])
				}
			}
			jobs = append(jobs, delivery.New{Entry: i, Destination: dest, ResourceType: e.ResourceType, Interaction: string(e.Interaction),
				SubjectHash: subjectHash, AuditSubject: auditSubject, Seq: seqs[i], Job: river.InsertManyParams{
					Args: delivery.Args{TransferID: id, Entry: i, Destination: dest, Sealed: env}, InsertOpts: opts,
				}})
		}
	}
	if len(jobs) == 0 {
		return Accepted{}, ErrNoDestination
	}

	var idemHash any // NULL without a key
	if sub.IdempotencyKey != "" {
		idemHash = s.MAC.Sum([]byte("idempotency-key"), []byte(sub.ClientID), []byte(sub.IdempotencyKey))
	}
	reqHash := requestHash(s.MAC, sub)
	first := sub.Entries[0]
	resType, interaction := first.ResourceType, string(first.Interaction)
	if sub.Kind != KindResource {
		resType, interaction = "Bundle", sub.Kind
	}

	row := transferRow{id: id, client: sub.ClientID, idem: idemHash, req: reqHash, kind: sub.Kind,
		resType: resType, interaction: interaction, entries: len(sub.Entries), at: now.UnixMicro()}
	row.log = acceptedRow(now, id, sub, resType, interaction, jobs)
	if s.Store.Dialect() == store.Postgres && len(jobs) <= groupMaxJobs {
		r := s.group.submit(ctx, s.Store, &pendingAccept{row: row, jobs: jobs})
		switch {
		case r.err != nil:
			return Accepted{}, r.err
		case r.replay:
			return s.replay(ctx, sub, idemHash, reqHash)
		}
		return Accepted{ID: id, Deliveries: len(jobs)}, nil
	}
	// SQLite has one writer: accepts are serialised by its single
	// connection whatever we do, so they commit one by one. A Bundle with
	// more deliveries than a group holds commits alone on PostgreSQL too,
	// its deliveries inserted in chunks (acceptAlone).
	var out Accepted
	err := s.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return acceptAlone(ctx, tx, row, jobs, &out)
	})
	if errors.Is(err, errReplay) {
		return s.replay(ctx, sub, idemHash, reqHash)
	}
	if err != nil {
		return Accepted{}, err
	}
	return out, nil
}

// errReplay rolls back an accept whose Idempotency-Key was seen before.
var errReplay = errors.New("transfer: idempotent replay")

type transferRow struct {
	// log is the transfer log's "accepted" row, staged in the accept's
	// transaction.
	log                transferlog.Row
	id, client         string
	idem               any // NULL without a key
	req, kind, resType string
	interaction        string
	entries            int
	at                 int64
}

const insertTransfer = `INSERT INTO switchboard_transfer
	(id, client_id, idempotency_hash, request_hash, kind, resource_type, interaction, entry_count, created_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (client_id, idempotency_hash) WHERE idempotency_hash IS NOT NULL DO NOTHING`

func (r transferRow) args() []any {
	return []any{r.id, r.client, r.idem, r.req, r.kind, r.resType, r.interaction, r.entries, r.at}
}

// acceptAlone commits one accept in its own transaction, checking the key
// first (SQLite has no DML in a WITH clause, and its single writer makes the
// extra statement cheap). Its deliveries' rows and jobs are inserted by
// package delivery (delivery.Insert).
func acceptAlone(ctx context.Context, tx store.Tx, row transferRow, jobs []delivery.New, out *Accepted) error {
	n, err := tx.Exec(ctx, insertTransfer, row.args()...)
	if err != nil {
		return fmt.Errorf("transfer: insert: %w", err)
	}
	if n == 0 {
		return errReplay
	}
	if err := delivery.Insert(ctx, tx, row.id, row.at, jobs); err != nil {
		return err
	}
	if err := transferlog.Stage(ctx, tx, row.log); err != nil {
		return err
	}
	*out = Accepted{ID: row.id, Deliveries: len(jobs)}
	return nil
}

// subjectOf names the patient a Patient entry is about, from the full
// resource (before any projection drops its identifiers), for delivery-time
// gates. Other types carry none yet.
func subjectOf(e *Entry) *delivery.Subject {
	if e.ResourceType != "Patient" {
		return nil
	}
	id, idents, ok := patientIdentity(e.Resource)
	if !ok {
		return nil
	}
	s := &delivery.Subject{ID: e.ResourceID, Identifiers: idents}
	if s.ID == "" && e.Interaction == connectors.Update {
		s.ID = id
	}
	if s.ID == "" && len(s.Identifiers) == 0 {
		return nil
	}
	return s
}

// related gives a destination the Bundle entries an entry refers to, each
// through the destination's projection; an entry the projection does not
// carry is left out, never sent whole.
func (s *Service) related(dest string, entries []Entry, refs map[string]int) (map[string]json.RawMessage, error) {
	p, _ := s.Router.(Projector)
	out := make(map[string]json.RawMessage, len(refs))
	for ref, j := range refs {
		res := entries[j].Resource
		if p != nil {
			var err error
			if res, err = p.Project(dest, entries[j].ResourceType, res); errors.Is(err, projection.ErrNotAllowed) {
				continue
			} else if err != nil {
				return nil, err
			}
		}
		out[ref] = res
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// gateWaitsFor lists the entries of a transfer that the gate of entry i's
// delivery, asking src, must find there first: every Consent routed to src
// (the patient's decision may come in the same Bundle), and entry i itself
// when it is a Patient routed to src. A new patient is unknown to src until
// her own delivery there is done; asked before, src would answer "patient
// not found" for a patient it is about to have. This holds for a single
// resource as for a batch or transaction: the wait is on the same entry's
// delivery to src, never on another entry's, so batch entries stay
// independent of each other.
func gateWaitsFor(entries []Entry, i int, src string, r Router) *delivery.GateWaits {
	var g *delivery.GateWaits
	for j := range entries {
		e := &entries[j]
		if (e.ResourceType != "Consent" && (j != i || e.ResourceType != "Patient")) || !slices.Contains(r.For(e.ResourceType, e.Interaction), src) {
			continue
		}
		if g == nil {
			g = &delivery.GateWaits{Source: src}
		}
		g.Entries = append(g.Entries, j)
	}
	return g
}
