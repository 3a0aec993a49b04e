package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/seal"
	fhirjson "github.com/switchboard-health/switchboard/mappings/fhir"
)

// Identity across vendors without a crosswalk table
// (docs/decisions/0001-stateless-about-patients.md): a vendor's id for an
// entry is kept sealed on its delivery row only while later entries of the
// same transfer need it (Refs), and written back to the source of truth as an
// identifier for everything after (WriteBacks). Before a delivery, the source
// of truth completes it (Enricher).

// Refs finds what a destination made of the other entries of a transfer:
// their vendor references, sealed, by entry index (Table.VendorRefs).
type Refs interface {
	VendorRefs(ctx context.Context, transferID, destination string) (map[int]seal.Envelope, error)
}

// Enricher completes a delivery from the source of truth before it is
// sent: the vendor ids written back there, and the resources it refers to
// (package identity).
type Enricher interface {
	Enrich(ctx context.Context, destination string, d *connectors.Delivery) error
}

// WriteBack asks for a vendor's id to be recorded at the source of truth.
type WriteBack struct {
	TransferID  string
	Entry       int
	Destination string // the vendor that gave the id
	// ResourceType and ResourceID name the resource; ResourceID is set for
	// an update (the id at the source of truth), "" for a create.
	ResourceType string
	ResourceID   string
	Ref          connectors.VendorRef
}

// WriteBacks records write-backs to do later, in their own jobs (package
// identity), so that a source of truth that is down never makes a vendor
// delivery go again.
type WriteBacks interface {
	WriteBack(ctx context.Context, wb WriteBack) error
}

// VendorRefAAD binds a sealed vendor reference to its delivery row.
func VendorRefAAD(transferID string, entry int, destination string) []byte {
	return []byte("switchboard.vendor_ref|" + transferID + "|" + strconv.Itoa(entry) + "|" + destination)
}

// resolve fills d.Resolved with what this destination made of the entries
// d refers to, and adds each id to the matching Related resource as an
// identifier of the vendor's system (so mapping code finds, say, the Stripe
// customer of an Invoice's Patient as it would on a Patient read from the
// EHR). Entries this destination has no id for are left out: order per
// subject delivered them first, so they failed, were skipped or are not
// routed here, and the connector says what it makes of that.
func (w *Worker) resolve(ctx context.Context, a Args, p *Payload, d *connectors.Delivery) error {
	if w.Refs == nil || len(p.RelatedEntry) == 0 {
		return nil
	}
	envs, err := w.Refs.VendorRefs(ctx, a.TransferID, a.Destination)
	if err != nil {
		return fmt.Errorf("read the vendor ids of related entries: %w", err)
	}
	for ref, j := range p.RelatedEntry {
		env, ok := envs[j]
		if !ok {
			continue
		}
		pt, err := w.Keys.Open(env, VendorRefAAD(a.TransferID, j, a.Destination))
		if err != nil {
			return connectors.PermanentError("vendor_ref_unreadable", fmt.Errorf("open the vendor id of entry %d: %w", j, err))
		}
		var vr connectors.VendorRef
		err = json.Unmarshal(pt, &vr)
		clear(pt)
		if err != nil {
			return connectors.PermanentError("vendor_ref_corrupt", fmt.Errorf("decode the vendor id of entry %d", j))
		}
		if d.Resolved == nil {
			d.Resolved = map[string]connectors.VendorRef{}
		}
		d.Resolved[ref] = vr
		if res := d.Related[ref]; res != nil && vr.System != "" {
			if out, _, err := fhirjson.MergeIdentifiers(res, []fhirjson.Identifier{{System: vr.System, Value: vr.ID}}, true); err == nil {
				d.Related[ref] = out
			}
		}
	}
	return nil
}

// remember seals what the vendor made of this entry for the entries of the
// same transfer that refer to it.
func (w *Worker) remember(a Args, p *Payload, vendorID, system string) (string, error) {
	vr, err := json.Marshal(connectors.VendorRef{ResourceType: p.ResourceType, ID: vendorID, System: system})
	if err != nil {
		return "", err
	}
	env, err := w.Keys.Seal(vr, VendorRefAAD(a.TransferID, a.Entry, a.Destination))
	clear(vr)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(env)
	return string(b), err
}
