package server

import (
	"log/slog"
	"maps"
	"slices"

	"github.com/switchboard-health/switchboard/hub/metrics"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
)

// registerCollectors tells m the destinations and webhook sources and
// registers the collectors that read the database and the breakers.
func registerCollectors(m *metrics.Metrics, table *route.Table, st store.Store, dests *destinations, queueNames []string, log *slog.Logger) {
	if m == nil {
		return
	}
	m.Known(table.DestinationNames(), slices.Sorted(maps.Keys(dests.verifiers)))
	m.Register(&metrics.QueueCollector{DB: st.DB(), Queues: func() []string { return queueNames },
		Logger: log.With("component", "metrics")})
	m.Register(&metrics.BreakerCollector{States: breakerStates(dests.conns)})
	if len(dests.pollers) > 0 {
		m.Register(&metrics.LagCollector{DB: st.DB(), Logger: log.With("component", "metrics")})
	}
}
