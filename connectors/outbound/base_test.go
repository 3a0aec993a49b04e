package outbound

import (
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

// breakerLog records breaker reports.
type breakerLog struct{ changes []string }

func (b *breakerLog) BreakerChanged(dest, from, to string) {
	b.changes = append(b.changes, dest+":"+from+"->"+to)
}

// TestBaseStatesTheTypeOnce: the type given to NewBase is the one Type,
// Accepts and configuration errors name, and the client reports its
// breaker to the destination's observer.
func TestBaseStatesTheTypeOnce(t *testing.T) {
	obs := &breakerLog{}
	env := map[string]string{"ACME_KEY": "k"}
	p := connectors.Params{Name: "crm", Breakers: obs, Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	classified := false
	b := NewBase("acme", p, Settings{BreakerFailures: 1}, func(o *Options) { o.Classify = nil; classified = true })
	if !classified {
		t.Error("the options were not completed before the client was built")
	}
	if b.Type() != "acme" || b.BreakerState() != "closed" {
		t.Errorf("Type %q, BreakerState %q", b.Type(), b.BreakerState())
	}
	if err := b.Errorf("slot_minutes must be positive"); err.Error() != `acme destination "crm": slot_minutes must be positive` {
		t.Errorf("Errorf: %v", err)
	}
	err := b.Accepts(connectors.Delivery{ResourceType: "Claim", Interaction: connectors.Create}, "Patient")
	if err == nil || err.Error() != "permanent delivery failure (unsupported_resource): acme takes Patient, not Claim" {
		t.Errorf("Accepts: %v", err)
	}
	if _, _, err := b.BaseURL("ftp://x"); err == nil || err.Error() != `acme destination "crm": base_url must be an http(s) URL without a query` {
		t.Errorf("BaseURL: %v", err)
	}
	if v, err := b.Secret("api_key_env", "ACME_KEY"); v != "k" || err != nil {
		t.Errorf("Secret: %q %v", v, err)
	}
	if _, err := b.Secret("api_key_env", "MISSING"); err == nil || err.Error() != `acme destination "crm": environment variable MISSING is empty` {
		t.Errorf("Secret: %v", err)
	}
	// One failed attempt opens the breaker (BreakerFailures 1), and the
	// observer hears of it.
	_, _ = b.Client.Do(t.Context(), Request{Method: "POST", URL: "http://127.0.0.1:1/x"})
	if b.BreakerState() != "open" || len(obs.changes) != 1 || obs.changes[0] != "crm:closed->open" {
		t.Errorf("breaker %s, reports %q", b.BreakerState(), obs.changes)
	}
}

// TestIdentifiedBySystem: System names one system for every type, Systems
// one per type and none for a type it does not list.
func TestIdentifiedBySystem(t *testing.T) {
	var one connectors.Identified = connectors.System("https://switchboard.health/id/calcom-booking")
	if got := one.IdentifierSystem("Patient"); got != "https://switchboard.health/id/calcom-booking" {
		t.Errorf("System: %q", got)
	}
	var per connectors.Identified = connectors.Systems{"Patient": "https://switchboard.health/id/stripe-customer"}
	if got := per.IdentifierSystem("Patient"); got != "https://switchboard.health/id/stripe-customer" {
		t.Errorf("Systems: %q", got)
	}
	if got := per.IdentifierSystem("Claim"); got != "" {
		t.Errorf("Systems, an unlisted type: %q", got)
	}
}
