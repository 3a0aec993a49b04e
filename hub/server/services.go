package server

import (
	"log/slog"

	"github.com/switchboard-health/switchboard/hub/admin"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/ledger"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// services are what the API and the workers share: the transfers, the
// deliveries' rows, the ledger, the transfer log and the admin service.
type services struct {
	transfers  *transfer.Service
	deliveries *delivery.Table
	ledger     *ledger.Ledger
	log        *transferlog.Log
	admin      *admin.Service
}

// buildServices builds the shared services on the open store.
func buildServices(cfg config.Config, table *route.Table, keys config.Keys, st store.Store, dests *destinations, log *slog.Logger) services {
	deliveries := &delivery.Table{Store: st}
	identityAt := ""
	if id := table.Identity; id != nil {
		identityAt = id.RecordAt
	}
	tlog := &transferlog.Log{Store: st, MAC: keys.MAC, Logger: log.With("component", "transferlog")}
	return services{
		transfers: &transfer.Service{Store: st, Keys: keys.Ring, MAC: keys.MAC, Router: table, MaxAttempts: dests.maxAttempts,
			GateSources: dests.gateSources, Deliveries: deliveries, IdentityAt: identityAt},
		deliveries: deliveries,
		ledger:     &ledger.Ledger{DB: st.DB(), MAC: keys.MAC},
		log:        tlog,
		admin: &admin.Service{Store: st, Deliveries: deliveries, Keys: keys.Ring, Log: tlog, Destinations: dests.admin,
			ReplayWindow: cfg.ReplayWindow},
	}
}
