package fhir

import "github.com/switchboard-health/switchboard/connectors"

// DefaultRateLimit implements connectors.RateLimited. EHRs seldom publish
// a limit and often enforce one per client registration: 10 a second with
// a burst of 10 is conservative; set the destination's rate_limit to what
// the EHR's vendor agreed.
func (c *Connector) DefaultRateLimit() connectors.RateLimit {
	return connectors.FallbackRateLimit()
}
