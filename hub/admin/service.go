package admin

import (
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// Destination is what the admin views know of a configured destination.
type Destination struct {
	Type string
	// Reader, when the connector can read records back, lets a replay's
	// dry run say which fields would change at the vendor.
	Reader connectors.Reader
}

// Service answers the admin API.
type Service struct {
	Store store.Store
	// Deliveries replays, discards and purges failed syncs.
	Deliveries   *delivery.Table
	Keys         *seal.Keyring
	Log          *transferlog.Log
	Destinations map[string]Destination
	// ReplayWindow is how long a failed sync's sealed payload is kept for
	// replay (default 7 days); then Purge deletes it.
	ReplayWindow time.Duration
	// HealthWindow is the span of the health view's counts (default 15m).
	HealthWindow time.Duration
	Now          func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) replayWindow() time.Duration {
	if s.ReplayWindow > 0 {
		return s.ReplayWindow
	}
	return 7 * 24 * time.Hour
}

func (s *Service) healthWindow() time.Duration {
	if s.HealthWindow > 0 {
		return s.HealthWindow
	}
	return 15 * time.Minute
}
