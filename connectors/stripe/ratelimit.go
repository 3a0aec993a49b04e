package stripe

import (
	"strings"

	"github.com/switchboard-health/switchboard/connectors"
)

// DefaultRateLimit implements connectors.RateLimited. Stripe allows 100
// read and write requests a second in live mode and 25 in test mode;
// the key says which. Burst plus one second's refill stays within each
// (10 + 90 = 100, 5 + 20 = 25).
func (c *Connector) DefaultRateLimit() connectors.RateLimit {
	if strings.HasPrefix(c.key, "sk_live_") || strings.HasPrefix(c.key, "rk_live_") {
		return connectors.RateLimit{PerSecond: 90, Burst: 10}
	}
	return connectors.RateLimit{PerSecond: 20, Burst: 5}
}
