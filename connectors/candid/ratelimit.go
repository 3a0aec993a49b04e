package candid

import "github.com/switchboard-health/switchboard/connectors"

// DefaultRateLimit implements connectors.RateLimited. Candid Health
// allows 1000 requests per rolling 10 seconds per IP address, and that
// address may be shared with other software behind the same NAT, so the
// default takes about half: 50 at once and 50 a second (50 + 50·10 = 550).
func (c *Connector) DefaultRateLimit() connectors.RateLimit {
	return connectors.RateLimit{PerSecond: 50, Burst: 50}
}
