package connectors

import (
	"context"
	"fmt"
	"time"
)

// PollQuery asks a connector for the records of one type that changed at or
// after Since (a FHIR _lastUpdated=ge search at an EHR). The hub passes its
// cursor minus a small overlap and de-duplicates by version, so a change
// stamped at the cursor's own instant, or committed late by the vendor, is
// neither missed nor routed twice.
type PollQuery struct {
	ResourceType string
	Since        time.Time
	// Page is the previous PollPage's Next ("" asks for the first page). It
	// is only held in memory during one poll: what the hub persists is the
	// timestamp cursor, never a vendor URL.
	Page string
	// Count is the page size asked for (the vendor may answer fewer).
	Count int
}

// Change is one record a poll found, as FHIR. Resource and ID are PHI-adjacent:
// the hub keeps neither, only keyed hashes of them.
type Change struct {
	ResourceType string
	// ID is the record's id at the vendor.
	ID string
	// Version is the vendor's version of the record (meta.versionId), "" if
	// it has none; with ID it names the change for de-duplication.
	Version string
	// Updated is the vendor's modification time (meta.lastUpdated): the
	// cursor advances over it and the conflict rule compares it.
	Updated time.Time
	// Resource is FHIR R4 JSON. PHI.
	Resource []byte
	// Ours says the version was written by the hub (its origin mark in
	// meta.source): recorded and dropped, never routed again.
	Ours bool
}

// PollPage is one page of changes, oldest first.
type PollPage struct {
	Changes []Change
	// Next continues the same poll ("" on the last page).
	Next string
}

// Poller is implemented by connectors the hub polls for changes (vendors
// without webhooks, the EHR first;
// docs/decisions/0007-reconcilers-and-loops.md). Failures are
// *Error, classified as for deliveries.
type Poller interface {
	// PollTypes lists the resource types polled, in the order they are.
	PollTypes() []string
	Poll(ctx context.Context, q PollQuery) (PollPage, error)
}

// PollerOf is c as a Poller, or an error saying that a connector of type
// typ cannot be polled: a routing file's poll block names a destination
// whose connector must have this capability.
func PollerOf(c Connector, typ string) (Poller, error) {
	p, ok := c.(Poller)
	if !ok {
		return nil, fmt.Errorf("connector type %s cannot be polled", typ)
	}
	return p, nil
}
