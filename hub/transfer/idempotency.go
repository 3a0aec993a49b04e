package transfer

import (
	"context"
	"fmt"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Idempotency. A client that did not hear our 202 sends its request again
// with the same Idempotency-Key and must get the same transfer back, even
// when the request was rebuilt on the way (curl -d @file strips newlines; a
// client library may order keys otherwise). So a key remembers its first
// request by meaning, not by bytes: the keyed hash (the hub's HMAC key, as
// every hash the hub keeps) of the interaction it asked for (the method and
// URL: create or update, the resource type and id; or the Bundle's kind)
// and of the body's canonical JSON (transferlog.Canonical: the same form
// the transfer log's payload digests use). Other whitespace, key order or
// string escapes are a replay; any other value, or the same body sent to
// another URL, is ErrIdempotencyConflict. Neither the body nor its
// canonical form is ever stored.

// Domains of the request hash, so that no hash of one form can equal one
// of another.
const (
	requestCanonical = "request-canonical"
	// requestBytes is the form for a body that is not one JSON value:
	// its bytes are all the meaning it has. The API never accepts such a
	// body; the hub's own callers (webhooks, polls) send resources.
	requestBytes = "request-bytes"
	// requestLegacy is the form transfers accepted before the canonical
	// comparison stored: the MAC of the body's bytes alone. Transfer rows
	// (and so their keys) are kept indefinitely, so a retry under such a
	// key is compared with it too (Service.replay).
	requestLegacy = "request"
)

// requestHash is the keyed hash an Idempotency-Key remembers its request
// by; "" without a key, since nothing will ever be compared with it and
// canonicalisation is the costliest step of an accept's hashing.
func requestHash(mac seal.MAC, sub Submission) string {
	if sub.IdempotencyKey == "" {
		return ""
	}
	var interaction, resourceType, id string
	if sub.Kind == KindResource && len(sub.Entries) > 0 {
		e := sub.Entries[0]
		interaction, resourceType, id = string(e.Interaction), e.ResourceType, e.ResourceID
	}
	// The domain, the interaction asked for, and the body's meaning.
	parts := [][]byte{[]byte(requestCanonical), []byte(sub.Kind), []byte(interaction), []byte(resourceType), []byte(id), nil}
	canon, err := transferlog.Canonical(sub.Body)
	if err != nil {
		parts[0], parts[5] = []byte(requestBytes), sub.Body
		return mac.Sum(parts...)
	}
	parts[5] = canon
	h := mac.Sum(parts...)
	clear(canon) // PHI: gone as soon as it is hashed
	return h
}

// replay returns the transfer an Idempotency-Key already names, or
// ErrIdempotencyConflict when it was used with another request.
func (s *Service) replay(ctx context.Context, sub Submission, idemHash any, reqHash string) (Accepted, error) {
	var prevID, prevHash string
	err := s.Store.DB().QueryRow(ctx, `SELECT t.id, t.request_hash
		FROM switchboard_transfer t WHERE t.client_id = $1 AND t.idempotency_hash = $2`, sub.ClientID, idemHash).Scan(&prevID, &prevHash)
	if err != nil {
		return Accepted{}, fmt.Errorf("transfer: look up idempotent transfer: %w", err)
	}
	// A key stored in the legacy form matches the same bytes only: its
	// canonical form was never kept, and is not to be had from the hash.
	if prevHash != reqHash && prevHash != s.MAC.Sum([]byte(requestLegacy), sub.Body) {
		return Accepted{}, ErrIdempotencyConflict
	}
	count, err := delivery.Count(ctx, s.Store.DB(), prevID)
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{ID: prevID, Replayed: true, Deliveries: count}, nil
}
