package server

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/switchboard-health/switchboard/hub/store"
)

// readiness answers the API's readiness probe: the database answers and
// its migrations are current (checked until they once are).
type readiness struct {
	store    store.Store
	migrated atomic.Bool
}

func (r *readiness) ready(ctx context.Context) error {
	if err := r.store.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	if !r.migrated.Load() {
		ok, err := r.store.MigrationsCurrent(ctx)
		if err != nil || !ok {
			return errors.New("migrations not current")
		}
		r.migrated.Store(true)
	}
	return nil
}
