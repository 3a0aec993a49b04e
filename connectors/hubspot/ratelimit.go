package hubspot

import "github.com/switchboard-health/switchboard/connectors"

// DefaultRateLimit implements connectors.RateLimited. HubSpot allows a
// private app 100 requests per rolling 10 seconds (the lowest tier; higher
// tiers allow more): 10 at once and 9 a second after that stays within it
// (10 + 9·10 = 100).
func (c *Connector) DefaultRateLimit() connectors.RateLimit {
	return connectors.RateLimit{PerSecond: 9, Burst: 10}
}
