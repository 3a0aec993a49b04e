package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboard-health/switchboard/hub/delivery"
)

// ErrGone means a failed sync's sealed payload no longer exists (purged
// after the replay window, or its key retired): only the source can send
// the data again.
var ErrGone = delivery.ErrGone

// ErrNotFailed means the delivery exists but is not a failed sync (it was
// replayed or discarded meanwhile, or never failed).
var ErrNotFailed = delivery.ErrNotFailed

// Replayed reports one replay.
type Replayed struct {
	Replayed      int `json:"replayed"`
	KeyGeneration int `json:"key_generation"`
}

// Replay puts a failed sync back on its destination's queue
// (delivery.Table.Replay says how). Two admins replaying at once replay it
// once.
func (s *Service) Replay(ctx context.Context, actor string, k Key) (Replayed, error) {
	gen, err := s.Deliveries.Replay(ctx, s.Keys, actor, k, s.replayWindow())
	if err != nil {
		return Replayed{}, err
	}
	return Replayed{Replayed: 1, KeyGeneration: gen}, nil
}

// Discard gives up on a failed sync: the row says discarded and the sealed
// payload is deleted at once.
func (s *Service) Discard(ctx context.Context, actor string, k Key) error {
	return s.Deliveries.Discard(ctx, actor, k, s.replayWindow())
}

// Bulk is a bulk replay or discard: failures by id, or all matching a filter.
type Bulk struct {
	Filter *Filter  `json:"filter,omitempty"`
	IDs    []string `json:"ids,omitempty"`
	DryRun bool     `json:"dry_run"`
}

// BulkResult counts what a bulk action did (or, dry, would do).
type BulkResult struct {
	Matched   int  `json:"matched"`
	Replayed  int  `json:"replayed"`
	Discarded int  `json:"discarded"`
	Gone      int  `json:"gone"`
	Skipped   int  `json:"skipped"`
	DryRun    bool `json:"dry_run"`
}

// keys resolves a bulk request to failure keys.
func (s *Service) keys(ctx context.Context, b Bulk) ([]Failure, error) {
	if (b.Filter == nil) == (len(b.IDs) == 0) {
		return nil, errors.New("give either ids or a filter")
	}
	if b.Filter != nil {
		var all []Failure
		after := ""
		for {
			page, next, err := s.Failures(ctx, *b.Filter, after, 500)
			if err != nil {
				return nil, err
			}
			all = append(all, page...)
			if next == "" {
				return all, nil
			}
			after = next
		}
	}
	out := make([]Failure, 0, len(b.IDs))
	for _, id := range b.IDs {
		k, err := ParseKey(id)
		if err != nil {
			return nil, fmt.Errorf("id %d: %w", len(out), err)
		}
		f, err := delivery.Get(ctx, s.Store.DB(), k, s.replayWindow())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if f.State == delivery.StateFailed {
			out = append(out, f)
		}
	}
	return out, nil
}

// ReplayMany replays every failure a bulk request names, each in its own
// transaction (one that cannot be replayed does not stop the others).
func (s *Service) ReplayMany(ctx context.Context, actor string, b Bulk) (BulkResult, error) {
	fs, err := s.keys(ctx, b)
	if err != nil {
		return BulkResult{}, err
	}
	r := BulkResult{Matched: len(fs), DryRun: b.DryRun}
	for _, f := range fs {
		if b.DryRun {
			if f.Payload == "purged" {
				r.Gone++
			}
			continue
		}
		_, err := s.Replay(ctx, actor, f.Key())
		switch {
		case errors.Is(err, ErrGone):
			r.Gone++
		case errors.Is(err, ErrNotFailed), errors.Is(err, ErrNotFound):
			r.Skipped++
		case err != nil:
			return r, err
		default:
			r.Replayed++
		}
	}
	return r, nil
}

// DiscardMany discards every failure a bulk request names.
func (s *Service) DiscardMany(ctx context.Context, actor string, b Bulk) (BulkResult, error) {
	fs, err := s.keys(ctx, b)
	if err != nil {
		return BulkResult{}, err
	}
	r := BulkResult{Matched: len(fs), DryRun: b.DryRun}
	if b.DryRun {
		return r, nil
	}
	for _, f := range fs {
		err := s.Discard(ctx, actor, f.Key())
		switch {
		case errors.Is(err, ErrNotFailed), errors.Is(err, ErrNotFound):
			r.Skipped++
		case err != nil:
			return r, err
		default:
			r.Discarded++
		}
	}
	return r, nil
}
