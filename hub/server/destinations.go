package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/admin"
	"github.com/switchboard-health/switchboard/hub/consent"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/quota"
	"github.com/switchboard-health/switchboard/hub/reconcile"
	"github.com/switchboard-health/switchboard/hub/route"
)

// destinations is every connector the routing table names, and each
// capability the hub uses, indexed by destination name.
type destinations struct {
	conns       map[string]connectors.Connector
	admin       map[string]admin.Destination
	deliver     map[string]delivery.Destination
	searchers   map[string]connectors.Searcher
	verifiers   map[string]connectors.WebhookVerifier
	translators map[string]connectors.WebhookTranslator
	pollers     map[string]reconcile.Source
	synced      map[string]map[string]bool // destination -> types it reports changes of (nil: all)
	maxAttempts map[string]int
	gateSources map[string]string
	// readers and writers hold identity.record_at's connector.
	readers    map[string]connectors.Reader
	writers    map[string]connectors.IdentifierWriter
	driftRules []reconcile.DriftRule
}

// buildConnectors builds each destination's connector (each validates its
// own configuration) and checks the routing file's rules that need a
// capability of one: every problem is returned, none stops the others.
func buildConnectors(table *route.Table, env connectors.Env, log *slog.Logger, breakers connectors.BreakerObserver, quotas *quota.Shared) (*destinations, []error) {
	d := &destinations{
		conns: map[string]connectors.Connector{}, admin: map[string]admin.Destination{},
		deliver: map[string]delivery.Destination{}, searchers: map[string]connectors.Searcher{},
		verifiers: map[string]connectors.WebhookVerifier{}, translators: map[string]connectors.WebhookTranslator{},
		pollers: map[string]reconcile.Source{}, synced: map[string]map[string]bool{}, maxAttempts: map[string]int{},
		gateSources: map[string]string{},
		readers:     map[string]connectors.Reader{}, writers: map[string]connectors.IdentifierWriter{},
	}
	var errs []error
	for _, name := range table.DestinationNames() {
		dest := table.Destinations[name]
		spec, ok := connectors.Lookup(dest.Type)
		if !ok {
			errs = append(errs, fmt.Errorf("destination %q: unknown connector type %q (registered: %v)", name, dest.Type, connectors.Types()))
			continue
		}
		conn, err := spec.New(connectors.Params{Name: name, Decode: dest.Decoder(), Env: env, Logger: log.With("destination", name),
			Breakers: breakers, Limiter: quotas.Destination(name)})
		if err != nil {
			errs = append(errs, fmt.Errorf("destination %q: %w", name, err))
			continue
		}
		if err := quotas.Configure(name, dest.Limit(conn)); err != nil {
			errs = append(errs, fmt.Errorf("destination %q: %w", name, err))
			continue
		}
		if err := d.add(name, dest, conn); err != nil {
			errs = append(errs, fmt.Errorf("destination %q: %w", name, err))
		}
	}
	errs = append(errs, d.buildDeliveries(table)...)
	errs = append(errs, d.identity(table)...)
	errs = append(errs, d.drift(table)...)
	for _, r := range table.Reads {
		if _, ok := d.conns[r.From]; ok && d.searchers[r.From] == nil {
			errs = append(errs, fmt.Errorf("reads: destination %q (type %s) cannot answer searches", r.From, table.Destinations[r.From].Type))
		}
	}
	return d, errs
}

// add indexes conn's capabilities under name.
func (d *destinations) add(name string, dest *route.Destination, conn connectors.Connector) error {
	d.conns[name] = conn
	rd, _ := conn.(connectors.Reader) // nil when it cannot read
	d.admin[name] = admin.Destination{Type: dest.Type, Reader: rd}
	if sr, ok := conn.(connectors.Searcher); ok {
		d.searchers[name] = sr
	}
	if v, ok := conn.(connectors.WebhookVerifier); ok {
		d.verifiers[name] = v
	}
	if tr, ok := conn.(connectors.WebhookTranslator); ok {
		d.translators[name] = tr
		d.synced[name] = nil // a webhook may report a change of any type
	}
	d.maxAttempts[name] = dest.MaxAttempts
	pc := dest.Poll
	if pc == nil {
		return nil
	}
	pl, err := connectors.PollerOf(conn, dest.Type)
	if err != nil {
		return fmt.Errorf("poll: %w", err)
	}
	since, _ := time.Parse(time.RFC3339, pc.Since)
	d.pollers[name] = reconcile.Source{Poller: pl, Interval: pc.Interval, PageSize: pc.PageSize, Overlap: pc.Overlap, Since: since}
	if _, all := d.synced[name]; !all { // its webhooks, if any, report every type
		types := map[string]bool{}
		for _, t := range pl.PollTypes() {
			types[t] = true
		}
		d.synced[name] = types
	}
	return nil
}

// buildDeliveries gives each destination its delivery settings, with a
// consent gate before those that require consent.
func (d *destinations) buildDeliveries(table *route.Table) []error {
	var errs []error
	for _, name := range table.DestinationNames() {
		dest := table.Destinations[name]
		var gate delivery.Gate // a nil *consent.Gate would not be a nil Gate
		if r := dest.RequiresConsent; r != nil {
			src := d.searchers[r.From]
			if src == nil {
				errs = append(errs, fmt.Errorf("destination %q: requires_consent.from %q cannot answer Consent searches", name, r.From))
				continue
			}
			gate = &consent.Gate{Purpose: r.Purpose, Source: src}
			d.gateSources[name] = r.From
		}
		if conn, ok := d.conns[name]; ok {
			d.deliver[name] = delivery.Destination{Connector: conn, MaxAttempts: dest.MaxAttempts, Gate: gate}
		}
	}
	return errs
}

// identity finds identity.record_at's reader and writer.
func (d *destinations) identity(table *route.Table) []error {
	id := table.Identity
	if id == nil {
		return nil
	}
	conn, ok := d.conns[id.RecordAt]
	if !ok {
		return nil // the connector's own error is reported
	}
	rd, wr, err := connectors.IdentifierStoreOf(conn)
	if err != nil {
		return []error{fmt.Errorf("identity.record_at: destination %q (type %s) %w", id.RecordAt, table.Destinations[id.RecordAt].Type, err)}
	}
	d.readers[id.RecordAt], d.writers[id.RecordAt] = rd, wr
	return nil
}

// drift builds the drift rules between scheduling tools and the EHR.
func (d *destinations) drift(table *route.Table) []error {
	var errs []error
	for i, r := range table.Drift {
		sr, er := d.searchers[r.Scheduling()], d.searchers[r.EHR()]
		_, sok := d.conns[r.Scheduling()]
		_, eok := d.conns[r.EHR()]
		if !sok || !eok {
			continue // the connector's own error is reported
		}
		if sr == nil || er == nil {
			errs = append(errs, fmt.Errorf("drift[%d]: destinations %q and %q must both answer searches", i, r.Scheduling(), r.EHR()))
			continue
		}
		pair, err := connectors.PairerOf(d.conns[r.Scheduling()])
		if err != nil {
			errs = append(errs, fmt.Errorf("drift[%d]: destination %q (type %s) %w", i, r.Scheduling(), table.Destinations[r.Scheduling()].Type, err))
			continue
		}
		d.driftRules = append(d.driftRules, reconcile.DriftRule{Scheduling: r.Scheduling(), EHR: r.EHR(),
			SchedulingSearch: sr, EHRSearch: er, Pair: pair, Window: r.Window, Every: r.Every})
	}
	return errs
}

// logRateLimits says which rate limit each destination has.
func logRateLimits(log *slog.Logger, table *route.Table, quotas *quota.Shared) {
	for _, name := range table.DestinationNames() {
		if l, ok := quotas.Limit(name); ok {
			log.Info("destination rate limit", "destination", name, "per_second", l.PerSecond, "burst", l.Burst,
				"from_routing_file", table.Destinations[name].RateLimit != nil)
		}
	}
}
