package calcom

import "github.com/switchboard-health/switchboard/connectors"

// DefaultRateLimit implements connectors.RateLimited. Cal.com's API v2
// allows an API key 120 requests per 60 seconds: 10 at once and 1.8 a
// second after that stays within it (10 + 1.8·60 = 118).
func (c *Connector) DefaultRateLimit() connectors.RateLimit {
	return connectors.RateLimit{PerSecond: 1.8, Burst: 10}
}
