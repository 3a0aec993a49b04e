package quota

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/store"
)

// DefaultHorizon is how far ahead Shared reserves a place when none is
// free now; see Shared.Horizon.
const DefaultHorizon = time.Second

// Shared is every destination's outbound rate limit, kept in the database
// so that all hub processes share it. Set the fields, Configure each
// destination, then hand Destination(name) to its connector.
//
// The limit is a token bucket kept as one number per destination, the
// "theoretical arrival time" of the generic cell rate algorithm (GCRA):
// tat advances by one interval (1/PerSecond) per call, and a call may go
// once tat - (Burst-1)·interval is not in the future. Taking a place is
// one UPDATE ... RETURNING on the destination's row, atomic in both
// PostgreSQL (row lock) and SQLite (one writer), so two processes can
// never take the same place.
type Shared struct {
	DB store.Querier
	// Horizon is how far ahead a call may reserve a place and wait for it
	// in its goroutine; a call whose place is further off is refused with
	// the wait (the queue snoozes the delivery). Zero means
	// DefaultHorizon; negative reserves nothing ahead.
	Horizon time.Duration
	// Throttled, when set, hears of every refused call (metrics).
	Throttled func(destination string)
	// Now is the clock for SQLite (tests); PostgreSQL uses the database
	// server's clock, so that processes on hosts whose clocks disagree
	// still share one time line.
	Now func() time.Time

	mu     sync.Mutex
	limits map[string]connectors.RateLimit
}

// Configure sets a destination's limit (before any Take). Its row in the
// database is made by the first Take and keeps its state across restarts,
// so a restart does not grant a fresh burst.
func (s *Shared) Configure(destination string, limit connectors.RateLimit) error {
	if err := limit.Check(); err != nil {
		return fmt.Errorf("rate limit of %q: %w", destination, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limits == nil {
		s.limits = map[string]connectors.RateLimit{}
	}
	s.limits[destination] = limit
	return nil
}

// Limit returns a destination's configured limit.
func (s *Shared) Limit(destination string) (connectors.RateLimit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.limits[destination]
	return l, ok
}

// Destination is the connectors.Limiter of one destination.
func (s *Shared) Destination(name string) connectors.Limiter {
	return destLimiter{s: s, name: name}
}

type destLimiter struct {
	s    *Shared
	name string
}

// Take implements connectors.Limiter.
func (d destLimiter) Take(ctx context.Context) (time.Duration, bool, error) {
	return d.s.Take(ctx, d.name)
}

// The two dialects' GCRA step. $2 is the interval, $3 the burst tolerance
// ((Burst-1)·interval), $4 the horizon, $5 this call's nonce, all in
// microseconds; SQLite's $6 is now. SET expressions see the row as it was,
// so the CASE decides on the old tat; grant_id tells the caller whether
// its own call was granted (a nonce is unique, a timestamp would not be).
const (
	takePostgres = `WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now)
UPDATE switchboard_rate_limit SET
    tat = CASE WHEN GREATEST(tat, clock.now) <= clock.now + $3 + $4 THEN GREATEST(tat, clock.now) + $2 ELSE tat END,
    grant_id = CASE WHEN GREATEST(tat, clock.now) <= clock.now + $3 + $4 THEN $5 ELSE grant_id END
FROM clock WHERE destination = $1
RETURNING tat, grant_id, clock.now`
	takeSQLite = `UPDATE switchboard_rate_limit SET
    tat = CASE WHEN MAX(tat, $6) <= $6 + $3 + $4 THEN MAX(tat, $6) + $2 ELSE tat END,
    grant_id = CASE WHEN MAX(tat, $6) <= $6 + $3 + $4 THEN $5 ELSE grant_id END
WHERE destination = $1
RETURNING tat, grant_id, $6`
)

// Take asks for a place in destination's limit. ok means a place is
// reserved: the call may go after delay (zero, or up to Horizon). !ok
// means none is free within the horizon: ask again after delay; nothing
// was taken.
func (s *Shared) Take(ctx context.Context, destination string) (delay time.Duration, ok bool, err error) {
	limit, known := s.Limit(destination)
	if !known {
		return 0, false, fmt.Errorf("rate limit of %q is not configured", destination)
	}
	// Rounded up, so that the microsecond grid never makes the rate faster.
	interval := max(int64(math.Ceil(1e6/limit.PerSecond)), 1)
	tolerance := int64(limit.Burst-1) * interval
	horizon := s.horizon().Microseconds()
	var b [8]byte
	_, _ = rand.Read(b[:])
	nonce := int64(binary.LittleEndian.Uint64(b[:]) >> 1) // positive; 0 is the row's initial grant_id
	if nonce == 0 {
		nonce = 1
	}
	q, args := takePostgres, []any{destination, interval, tolerance, horizon, nonce}
	if store.DialectOf(s.DB) != store.Postgres {
		q, args = takeSQLite, append(args, s.now().UnixMicro())
	}
	var tat, grant, now int64
	err = s.DB.QueryRow(ctx, q, args...).Scan(&tat, &grant, &now)
	if store.IsNoRows(err) {
		// The destination's first call in this database.
		if _, err := s.DB.Exec(ctx, `INSERT INTO switchboard_rate_limit (destination, tat, grant_id) VALUES ($1, 0, 0)
			ON CONFLICT (destination) DO NOTHING`, destination); err != nil {
			return 0, false, fmt.Errorf("rate limit of %q: %w", destination, err)
		}
		err = s.DB.QueryRow(ctx, q, args...).Scan(&tat, &grant, &now)
	}
	if err != nil {
		return 0, false, fmt.Errorf("take a place in the rate limit of %q: %w", destination, err)
	}
	if grant == nonce {
		// The place reserved starts at the old tat (tat - interval now);
		// it may be used once its tolerance is reached.
		at := tat - interval - tolerance
		return time.Duration(max(0, at-now)) * time.Microsecond, true, nil
	}
	if s.Throttled != nil {
		s.Throttled(destination)
	}
	// The first place within the horizon frees up when tat - tolerance -
	// horizon is reached.
	wait := max(tat-tolerance-horizon-now, 1)
	return time.Duration(wait) * time.Microsecond, false, nil
}

func (s *Shared) horizon() time.Duration {
	switch {
	case s.Horizon == 0:
		return DefaultHorizon
	case s.Horizon < 0:
		return 0
	}
	return s.Horizon
}

func (s *Shared) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
