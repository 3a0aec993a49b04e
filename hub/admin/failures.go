package admin

import (
	"context"

	"github.com/switchboard-health/switchboard/hub/delivery"
)

// Failure is one failed delivery: routing facts, error class and code,
// counts and times. No PHI. Package delivery reads it.
type Failure = delivery.Failure

// Key names one delivery.
type Key = delivery.Key

// ParseKey reads a failure id.
func ParseKey(s string) (Key, error) { return delivery.ParseKey(s) }

// Filter selects failed syncs. Zero fields match everything.
type Filter = delivery.Filter

// ErrBadCursor: a page cursor the list did not hand out.
var ErrBadCursor = delivery.ErrBadCursor

// ErrNotFound: no delivery with that id (or it is not a failed sync, for
// actions on failures).
var ErrNotFound = delivery.ErrNotFound

// Failures lists failed syncs, newest first, limit at a time; next is the
// cursor of the following page, "" at the end.
func (s *Service) Failures(ctx context.Context, f Filter, after string, limit int) (items []Failure, next string, err error) {
	return delivery.Failures(ctx, s.Store.DB(), f, after, limit, s.replayWindow())
}
