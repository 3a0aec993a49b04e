package server

import (
	"errors"
	"fmt"

	"github.com/switchboard-health/switchboard/hub/alert"
	"github.com/switchboard-health/switchboard/hub/quota"
	"github.com/switchboard-health/switchboard/hub/route"
)

// checkConfig is `switchboard config check`: the keys, every connector's
// configuration and the routing file's rules, with nothing opened or
// generated. Connectors built here are thrown away: the breaker notifier
// and the rate limits they are given have no database.
func checkConfig(table *route.Table, o Options) error {
	keyErr := o.Config.CheckKeys()
	notifier := &alert.Notifier{Config: table.Alerts, Process: processName(), Logger: o.Logger.With("component", "alerts")}
	_, errs := buildConnectors(table, o.Env, o.Logger, notifier, &quota.Shared{Horizon: o.Config.RateLimitWait})
	if table.Alerts != nil {
		if _, err := alert.NewWorker(*table.Alerts, o.Env, o.Logger); err != nil {
			errs = append(errs, fmt.Errorf("alerts: %w", err))
		}
	}
	return errors.Join(append(routingErrors(o.Config.RoutesPath, errs), keyErr)...)
}

// routingErrors names the routing file in each of errs.
func routingErrors(path string, errs []error) []error {
	named := make([]error, len(errs))
	for i, err := range errs {
		named[i] = fmt.Errorf("routing file %s: %w", path, err)
	}
	return named
}
