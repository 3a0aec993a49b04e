package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
)

// Kind is the River job kind of an identity write-back.
const Kind = "switchboard.identity"

// Args is what River stores for a write-back: routing facts, and the
// resource and vendor id sealed.
type Args struct {
	TransferID string        `json:"transfer_id"`
	Entry      int           `json:"entry"`
	Source     string        `json:"source"` // the vendor destination that gave the id
	Target     string        `json:"target"` // the source of truth
	Sealed     seal.Envelope `json:"sealed"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return Kind }

// payload is the sealed part.
type payload struct {
	ResourceType string               `json:"resource_type"`
	ResourceID   string               `json:"resource_id,omitempty"`
	Ref          connectors.VendorRef `json:"ref"`
}

func aad(a Args) []byte {
	return []byte(Kind + "|" + a.TransferID + "|" + strconv.Itoa(a.Entry) + "|" + a.Source + "|" + a.Target)
}

// Recorder implements delivery.WriteBacks: it inserts the write-back job.
type Recorder struct {
	Store  store.Store
	Keys   *seal.Keyring
	Target string
	// Routed reports whether the target receives this resource type and
	// interaction: only then does it have the resource to write onto.
	Routed func(resourceType string, in connectors.Interaction) bool
}

// WriteBack implements delivery.WriteBacks.
func (r *Recorder) WriteBack(ctx context.Context, wb delivery.WriteBack) error {
	if wb.Destination == r.Target {
		return nil
	}
	in := connectors.Create
	if wb.ResourceID != "" {
		in = connectors.Update
	}
	if r.Routed != nil && !r.Routed(wb.ResourceType, in) {
		return nil
	}
	pt, err := json.Marshal(payload{ResourceType: wb.ResourceType, ResourceID: wb.ResourceID, Ref: wb.Ref})
	if err != nil {
		return err
	}
	a := Args{TransferID: wb.TransferID, Entry: wb.Entry, Source: wb.Destination, Target: r.Target}
	a.Sealed, err = r.Keys.Seal(pt, aad(a))
	clear(pt)
	if err != nil {
		return fmt.Errorf("identity: seal write-back: %w", err)
	}
	return r.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.InsertJobs(ctx, []river.InsertManyParams{{Args: a, InsertOpts: &river.InsertOpts{
			Queue: delivery.QueueName(r.Target), MaxAttempts: 25,
		}}})
		return err
	})
}

// Deliveries reads the state of the source of truth's own delivery of an
// entry (delivery.Table).
type Deliveries interface {
	DeliveryState(ctx context.Context, transferID string, entry int, destination string) (state string, ref *seal.Envelope, found bool, err error)
}

// Worker runs write-backs.
type Worker struct {
	river.WorkerDefaults[Args]
	Keys       *seal.Keyring
	Deliveries Deliveries
	// Writers are the source-of-truth connectors by destination name.
	Writers map[string]connectors.IdentifierWriter
	Logger  *slog.Logger
}

// How long a write-back waits for the source's own delivery of the entry.
const (
	waitMin = 200 * time.Millisecond
	waitMax = 30 * time.Second
)

// Work implements river.Worker.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	a := job.Args
	log := w.Logger.With("transfer_id", a.TransferID, "entry", a.Entry, "source", a.Source, "target", a.Target, "job_id", job.ID)
	writer := w.Writers[a.Target]
	if writer == nil {
		return river.JobCancel(fmt.Errorf("identity target %q cannot write identifiers", a.Target))
	}
	pt, err := w.Keys.Open(a.Sealed, aad(a))
	if err != nil {
		return river.JobCancel(fmt.Errorf("open write-back: %w", err))
	}
	var p payload
	err = json.Unmarshal(pt, &p)
	clear(pt)
	if err != nil {
		return river.JobCancel(errors.New("decode write-back: invalid JSON"))
	}

	id := p.ResourceID
	if id == "" {
		state, env, found, err := w.Deliveries.DeliveryState(ctx, a.TransferID, a.Entry, a.Target)
		switch {
		case err != nil:
			return err
		case !found:
			log.Info("identity write-back dropped: the source of truth did not receive this entry")
			return nil
		case state == delivery.StateFailed || state == delivery.StateSkipped:
			log.Warn("identity write-back dropped: the source of truth's delivery of the entry ended " + state)
			return nil
		case state != delivery.StateDelivered || env == nil:
			wait := min(waitMin<<min(job.Attempt+delivery.Snoozes(job.Metadata), 10), waitMax)
			return river.JobSnooze(wait)
		}
		raw, err := w.Keys.Open(*env, delivery.VendorRefAAD(a.TransferID, a.Entry, a.Target))
		if err != nil {
			return river.JobCancel(fmt.Errorf("open the source's id: %w", err))
		}
		var vr connectors.VendorRef
		err = json.Unmarshal(raw, &vr)
		clear(raw)
		if err != nil || vr.ID == "" {
			return river.JobCancel(errors.New("the source's id is unreadable"))
		}
		id = vr.ID
	}
	err = writer.WriteIdentifier(ctx, connectors.IdentifierWrite{
		ResourceType: p.ResourceType, ID: id, Identifier: p.Ref,
		IdempotencyKey: "sb-" + a.TransferID + "-" + strconv.Itoa(a.Entry) + "-" + a.Target + "-id-" + a.Source,
	})
	if wait, held := connectors.HeldBack(err); held {
		// The EHR's breaker or rate limit kept the call from it: not a try.
		return river.JobSnooze(wait)
	}
	switch connectors.ClassOf(err) {
	case "":
		log.Info("identifier written back", "system", p.Ref.System)
		return nil
	case connectors.Permanent:
		log.Warn("identity write-back failed permanently", "error", err)
		return river.JobCancel(err)
	default:
		log.Info("identity write-back will be retried", "error", err)
		return err
	}
}
