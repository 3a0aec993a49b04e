// Package route holds the routing table: which destinations receive which
// FHIR resource types and interactions, and how each destination is
// configured. The table is data, loaded from YAML
// (docs/decisions/0004-routing-is-data.md), so adding a route is a
// configuration change, not a code change.
//
//	destinations:
//	  ehr:
//	    type: fhir                 # a registered connector type
//	    max_workers: 10            # this destination's share of the workers
//	    max_attempts: 12           # tries before the delivery becomes a failed sync
//	    projection: full           # what it may receive: full (default), contact, or
//	                               # a field list: {Patient: [id, name.given, telecom]}
//	    rate_limit: {per_second: 10, burst: 20}   # all processes together (default: the connector's)
//	    config:                    # the connector's own block, validated by it
//	      base_url: http://127.0.0.1:9090/fhir/R4
//	routes:
//	  - resource: Patient
//	    interactions: [create, update]   # default: both
//	    to: [ehr, payments]
//	reads:                         # passthrough searches, never cached
//	  - resource: Appointment
//	    from: ehr
//	identity:                      # where the vendors' ids are written back
//	  record_at: ehr
//	alerts:                        # an admins' webhook when a destination struggles
//	  url: https://ops.example.com/hooks/switchboard
//	  secret_env: SWITCHBOARD_ALERT_SECRET
//	  failures: {threshold: 10, window: 15m}
//	  breaker_open: true
package route

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/projection"
)

// Defaults for a destination's delivery settings.
const (
	DefaultMaxWorkers  = 10
	DefaultMaxAttempts = 12
)

// Destination is one configured connector instance.
type Destination struct {
	Name        string `yaml:"-"`
	Type        string `yaml:"type"`
	MaxWorkers  int    `yaml:"max_workers"`
	MaxAttempts int    `yaml:"max_attempts"`
	// Projection is what the destination may receive (package
	// projection): a preset's name, "full" (the default) or "contact", or
	// the elements kept per resource type.
	Projection ProjectionSpec `yaml:"projection"`
	// RequiresConsent gates every delivery on the patient's consent at
	// another destination (package consent).
	RequiresConsent *ConsentRule `yaml:"requires_consent"`
	// Poll makes the hub poll the destination for changes (package
	// reconcile); its connector must be a connectors.Poller.
	Poll *Poll `yaml:"poll"`
	// RateLimit bounds the calls to the destination's vendor, every hub
	// process together (package quota); nil takes the connector's default
	// (connectors.RateLimited, else connectors.FallbackRateLimit). A burst
	// left out is one second's worth (at least 1).
	RateLimit *connectors.RateLimit `yaml:"rate_limit"`
	Config    yaml.Node             `yaml:"config"`

	projection projection.Projection
}

// ConsentRule names the consent purpose a destination needs and the
// destination (the EHR) that answers Consent searches.
type ConsentRule struct {
	Purpose string `yaml:"purpose"`
	From    string `yaml:"from"`
}

// Poll configures a polling reconciler.
type Poll struct {
	// Interval between polls (default 1m, at least 1s).
	Interval time.Duration `yaml:"interval"`
	// PageSize is the _count asked for (default 100).
	PageSize int `yaml:"page_size"`
	// Overlap re-reads this much before the cursor, for changes a vendor
	// commits stamped earlier than ones already seen (default 2s).
	Overlap time.Duration `yaml:"overlap"`
	// Since is where the first poll starts (RFC 3339); empty starts at the
	// first poll, so connecting the hub does not replay the vendor's history.
	Since string `yaml:"since"`
}

// Poll defaults.
const (
	DefaultPollInterval = time.Minute
	DefaultPollPageSize = 100
	DefaultPollOverlap  = 2 * time.Second
)

// Identity configures cross-vendor identity: RecordAt is the destination
// (the EHR, a connector that reads and writes identifiers) where each
// resource carries the ids the other vendors gave it.
type Identity struct {
	RecordAt string `yaml:"record_at"`
}

// Route sends one resource type's interactions to destinations.
type Route struct {
	Resource     string                   `yaml:"resource"`
	Interactions []connectors.Interaction `yaml:"interactions"`
	To           []string                 `yaml:"to"`
}

// Read names the destination that answers searches of one resource type
// (passthrough reads: GET /fhir/R4/{type}?...). Its connector must be a
// connectors.Searcher.
type Read struct {
	Resource string `yaml:"resource"`
	From     string `yaml:"from"`
}

// Drift asks the hub to compare one resource type between two destinations
// over a window of time and repair what differs (package reconcile, drift
// repair). Between names the scheduling tool first and the EHR second: they
// are not interchangeable, as the EHR holds appointments the scheduling tool
// never made.
type Drift struct {
	Resource string   `yaml:"resource"`
	Between  []string `yaml:"between"`
	// Window: appointments starting from now-window to now+window are
	// compared (default 14 days, at least 1m).
	Window time.Duration `yaml:"window"`
	// Every is how often the comparison runs (default 1h, at least 1m).
	Every time.Duration `yaml:"every"`
}

// Scheduling is the destination the bookings come from (Between[0]).
func (d Drift) Scheduling() string { return d.Between[0] }

// EHR is the source of truth compared with it (Between[1]).
func (d Drift) EHR() string { return d.Between[1] }

// Drift defaults.
const (
	DefaultDriftWindow = 14 * 24 * time.Hour
	DefaultDriftEvery  = time.Hour
)

// Table is the parsed routing file.
type Table struct {
	Destinations map[string]*Destination `yaml:"destinations"`
	Routes       []Route                 `yaml:"routes"`
	Reads        []Read                  `yaml:"reads"`
	// Identity names the source of truth that the vendors' ids are
	// written back to (package identity); nil for none.
	Identity *Identity `yaml:"identity"`
	// Drift lists the drift repairs to run; see Drift.
	Drift []Drift `yaml:"drift"`
	// Alerts configures the admins' alert webhook (package alert); nil
	// for none. See Alerts.
	Alerts *Alerts `yaml:"alerts"`

	index map[key][]string
	reads map[string]string
}

type key struct {
	resource    string
	interaction connectors.Interaction
}

// namePattern keeps destination names usable as River queue names, metric
// label values and URL segments.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,47}$`)

// IsResourceType reports whether a name is a FHIR R4 resource type; the
// table uses it to reject typos such as "Patinet".
type IsResourceType func(string) bool

// Load reads a routing file, expands ${VAR} references from env and checks it.
func Load(path string, isType IsResourceType, env func(string) (string, bool)) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("route: read %s: %w", path, err)
	}
	if data, err = Expand(data, env); err != nil {
		return nil, fmt.Errorf("route: %s: %w", path, err)
	}
	t, err := Parse(data, isType)
	if err != nil {
		return nil, fmt.Errorf("route: %s: %w", path, err)
	}
	return t, nil
}

// Parse decodes a routing table strictly (unknown keys are errors) and
// reports every problem at once.
func Parse(data []byte, isType IsResourceType) (*Table, error) {
	var t Table
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("parse routing table: %w", err)
	}
	var errs []error
	if len(t.Destinations) == 0 {
		errs = append(errs, errors.New("no destinations defined"))
	}
	for name, d := range t.Destinations {
		if d == nil {
			errs = append(errs, fmt.Errorf("destination %q: empty", name))
			continue
		}
		d.Name = name
		if !namePattern.MatchString(name) {
			errs = append(errs, fmt.Errorf("destination %q: name must match %s", name, namePattern))
		}
		if d.Type == "" {
			errs = append(errs, fmt.Errorf("destination %q: type is required", name))
		}
		if d.MaxWorkers == 0 {
			d.MaxWorkers = DefaultMaxWorkers
		}
		if d.MaxAttempts == 0 {
			d.MaxAttempts = DefaultMaxAttempts
		}
		if d.MaxWorkers < 0 || d.MaxAttempts < 0 {
			errs = append(errs, fmt.Errorf("destination %q: max_workers and max_attempts must be positive", name))
		}
		if rl := d.RateLimit; rl != nil {
			if rl.Burst == 0 && rl.PerSecond > 0 {
				rl.Burst = max(1, int(rl.PerSecond))
			}
			if err := rl.Check(); err != nil {
				errs = append(errs, fmt.Errorf("destination %q: %w", name, err))
			}
		}
		p, err := d.Projection.build()
		if err != nil {
			errs = append(errs, fmt.Errorf("destination %q: %w", name, err))
			p, _ = projection.Named("")
		}
		d.projection = p
		if pc := d.Poll; pc != nil {
			if pc.Interval == 0 {
				pc.Interval = DefaultPollInterval
			}
			if pc.PageSize == 0 {
				pc.PageSize = DefaultPollPageSize
			}
			if pc.Overlap == 0 {
				pc.Overlap = DefaultPollOverlap
			}
			if pc.Interval < time.Second || pc.PageSize < 1 || pc.PageSize > 1000 || pc.Overlap < 0 {
				errs = append(errs, fmt.Errorf("destination %q: poll needs interval >= 1s, page_size 1..1000 and overlap >= 0", name))
			}
			if pc.Since != "" {
				if _, err := time.Parse(time.RFC3339, pc.Since); err != nil {
					errs = append(errs, fmt.Errorf("destination %q: poll.since must be an RFC 3339 time", name))
				}
			}
		}
		if r := d.RequiresConsent; r != nil {
			if r.Purpose == "" || r.From == "" {
				errs = append(errs, fmt.Errorf("destination %q: requires_consent needs purpose and from", name))
			} else if _, ok := t.Destinations[r.From]; !ok || r.From == name {
				errs = append(errs, fmt.Errorf("destination %q: requires_consent.from %q is not another defined destination", name, r.From))
			}
		}
	}
	if t.Identity != nil {
		if _, ok := t.Destinations[t.Identity.RecordAt]; !ok {
			errs = append(errs, fmt.Errorf("identity.record_at %q is not a defined destination", t.Identity.RecordAt))
		}
	}
	t.index = map[key][]string{}
	for i, r := range t.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		if isType != nil && !isType(r.Resource) {
			errs = append(errs, fmt.Errorf("%s: %q is not a FHIR R4 resource type", where, r.Resource))
		}
		if len(r.To) == 0 {
			errs = append(errs, fmt.Errorf("%s: no destinations in to", where))
		}
		inter := r.Interactions
		if len(inter) == 0 {
			inter = []connectors.Interaction{connectors.Create, connectors.Update}
		}
		for _, in := range inter {
			if in != connectors.Create && in != connectors.Update {
				errs = append(errs, fmt.Errorf("%s: interaction %q is not supported (create, update)", where, in))
				continue
			}
			k := key{r.Resource, in}
			for _, to := range r.To {
				d, ok := t.Destinations[to]
				if !ok {
					errs = append(errs, fmt.Errorf("%s: destination %q is not defined", where, to))
					continue
				}
				if d != nil && d.projection != nil && !d.projection.Allows(r.Resource) {
					errs = append(errs, fmt.Errorf("%s: destination %q has projection %q, which does not carry %s", where, to, d.projection.Name(), r.Resource))
					continue
				}
				if !contains(t.index[k], to) {
					t.index[k] = append(t.index[k], to)
				}
			}
		}
	}
	t.reads = map[string]string{}
	for i, r := range t.Reads {
		where := fmt.Sprintf("reads[%d]", i)
		if isType != nil && !isType(r.Resource) {
			errs = append(errs, fmt.Errorf("%s: %q is not a FHIR R4 resource type", where, r.Resource))
		}
		if _, ok := t.Destinations[r.From]; !ok {
			errs = append(errs, fmt.Errorf("%s: destination %q is not defined", where, r.From))
		}
		if prev, dup := t.reads[r.Resource]; dup {
			errs = append(errs, fmt.Errorf("%s: %s is already read from %q", where, r.Resource, prev))
		}
		t.reads[r.Resource] = r.From
	}
	errs = append(errs, t.checkDrift()...)
	errs = append(errs, t.checkAlerts()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &t, nil
}

// checkDrift fills the drift rules' defaults and checks them.
func (t *Table) checkDrift() []error {
	var errs []error
	seen := map[[2]string]bool{}
	for i := range t.Drift {
		d := &t.Drift[i]
		where := fmt.Sprintf("drift[%d]", i)
		if d.Resource != "Appointment" {
			errs = append(errs, fmt.Errorf("%s: resource %q is not compared (only Appointment is, for now)", where, d.Resource))
		}
		if len(d.Between) != 2 || d.Between[0] == d.Between[1] {
			errs = append(errs, fmt.Errorf("%s: between must name two destinations, the scheduling tool then the EHR", where))
			continue
		}
		for _, name := range d.Between {
			if _, ok := t.Destinations[name]; !ok {
				errs = append(errs, fmt.Errorf("%s: destination %q is not defined", where, name))
			}
		}
		if d.Window == 0 {
			d.Window = DefaultDriftWindow
		}
		if d.Every == 0 {
			d.Every = DefaultDriftEvery
		}
		if d.Window < time.Minute || d.Every < time.Minute {
			errs = append(errs, fmt.Errorf("%s: window and every must be at least 1m", where))
		}
		pair := [2]string{d.Between[0], d.Between[1]}
		if seen[pair] {
			errs = append(errs, fmt.Errorf("%s: %s and %s are already compared", where, pair[0], pair[1]))
		}
		seen[pair] = true
	}
	return errs
}

// ReadFrom returns the destination that answers searches of resourceType.
func (t *Table) ReadFrom(resourceType string) (string, bool) {
	d, ok := t.reads[resourceType]
	return d, ok
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// For returns the destinations for a resource type and interaction, in the
// order the routing file names them.
func (t *Table) For(resourceType string, in connectors.Interaction) []string {
	return t.index[key{resourceType, in}]
}

// Project returns what destination dest may receive of a resource: its
// projection applied (package projection). The transfer service calls it
// before sealing each destination's payload.
func (t *Table) Project(dest, resourceType string, resource []byte) ([]byte, error) {
	d, ok := t.Destinations[dest]
	if !ok || d.projection == nil {
		return nil, fmt.Errorf("route: no destination %q", dest)
	}
	return d.projection.Apply(resourceType, resource)
}

// FullProjection reports whether dest receives whole resources.
func (t *Table) FullProjection(dest string) bool {
	d := t.Destinations[dest]
	return d != nil && (d.projection == nil || d.projection.Name() == "full")
}

// Routed reports whether any interaction of the resource type is routed.
func (t *Table) Routed(resourceType string) bool {
	return len(t.For(resourceType, connectors.Create)) > 0 || len(t.For(resourceType, connectors.Update)) > 0
}

// Capabilities lists routed resource types with their interactions, sorted,
// for the CapabilityStatement.
func (t *Table) Capabilities() map[string][]connectors.Interaction {
	out := map[string][]connectors.Interaction{}
	for k := range t.index {
		out[k.resource] = append(out[k.resource], k.interaction)
	}
	for _, v := range out {
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	}
	return out
}

// DestinationNames lists the destinations, sorted.
func (t *Table) DestinationNames() []string {
	names := make([]string, 0, len(t.Destinations))
	for n := range t.Destinations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Decoder returns a strict decoder for a destination's config block, for
// the connector's constructor.
func (d *Destination) Decoder() connectors.Decoder {
	return func(into any) error {
		if d.Config.Kind == 0 {
			return nil // no config block: the connector's defaults apply
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(&d.Config); err != nil {
			return err
		}
		dec := yaml.NewDecoder(&buf)
		dec.KnownFields(true)
		if err := dec.Decode(into); err != nil {
			return fmt.Errorf("destination %q config: %s", d.Name, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil
	}
}

// Limit is the destination's rate limit: the routing file's rate_limit,
// else the default its connector publishes (connectors.RateLimited), else
// connectors.FallbackRateLimit.
func (d *Destination) Limit(conn connectors.Connector) connectors.RateLimit {
	if d.RateLimit != nil {
		return *d.RateLimit
	}
	if rl, ok := conn.(connectors.RateLimited); ok {
		return rl.DefaultRateLimit()
	}
	return connectors.FallbackRateLimit()
}
