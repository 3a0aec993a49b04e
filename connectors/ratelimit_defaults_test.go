package connectors_test

import (
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/calcom"
	"github.com/switchboard-health/switchboard/connectors/candid"
	"github.com/switchboard-health/switchboard/connectors/fhir"
	"github.com/switchboard-health/switchboard/connectors/hubspot"
)

// Each connector's default stays within its vendor's published limit
// over the vendor's window: burst + rate × window <= the limit.
func TestDefaultRateLimitsKeepThePublishedLimits(t *testing.T) {
	cases := []struct {
		name    string
		limit   connectors.RateLimit
		perWin  float64 // the vendor's limit
		seconds float64 // over this window
	}{
		{"hubspot: 100 per 10 s", (&hubspot.Connector{}).DefaultRateLimit(), 100, 10},
		{"calcom: 120 per 60 s", (&calcom.Connector{}).DefaultRateLimit(), 120, 60},
		{"candid: 1000 per 10 s", (&candid.Connector{}).DefaultRateLimit(), 1000, 10},
		{"fhir: conservative 10/s", (&fhir.Connector{}).DefaultRateLimit(), 20, 1},
	}
	for _, c := range cases {
		if err := c.limit.Check(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if most := float64(c.limit.Burst) + c.limit.PerSecond*c.seconds; most > c.perWin {
			t.Errorf("%s: %v allows %v in the window", c.name, c.limit, most)
		}
	}
}
