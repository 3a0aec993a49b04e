package route

import (
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

// limitedConn is a connector that publishes a default rate limit.
type limitedConn struct{ connectors.Connector }

func (limitedConn) DefaultRateLimit() connectors.RateLimit {
	return connectors.RateLimit{PerSecond: 9, Burst: 10}
}

func TestParseRateLimit(t *testing.T) {
	tab, err := Parse([]byte(`
destinations:
  ehr: {type: fhir, rate_limit: {per_second: 10, burst: 20}}
  crm: {type: hubspot, rate_limit: {per_second: 2.5}}
  slow: {type: fhir, rate_limit: {per_second: 0.5}}
  payments: {type: stripe}
  other: {type: fhir}
routes:
  - {resource: Patient, to: [ehr, crm, slow, payments, other]}
`), isType)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dest string
		conn connectors.Connector
		want connectors.RateLimit
	}{
		{"ehr", nil, connectors.RateLimit{PerSecond: 10, Burst: 20}},
		// A burst left out is one second's worth, at least one request.
		{"crm", limitedConn{}, connectors.RateLimit{PerSecond: 2.5, Burst: 2}},
		{"slow", nil, connectors.RateLimit{PerSecond: 0.5, Burst: 1}},
		// No rate_limit: the connector's published default...
		{"payments", limitedConn{}, connectors.RateLimit{PerSecond: 9, Burst: 10}},
		// ...or, when it publishes none, the conservative fallback.
		{"other", nil, connectors.FallbackRateLimit()},
	}
	for _, c := range cases {
		if got := tab.Destinations[c.dest].Limit(c.conn); got != c.want {
			t.Errorf("%s: limit %v, want %v", c.dest, got, c.want)
		}
	}
}

func TestParseRateLimitRefusesUnworkableLimits(t *testing.T) {
	cases := map[string]string{
		"zero rate":     `{per_second: 0, burst: 5}`,
		"negative rate": `{per_second: -1}`,
		"zero burst":    `{per_second: 0.5, burst: -1}`,
		"unknown key":   `{per_minute: 100}`,
		"not a number":  `{per_second: fast}`,
	}
	for name, rl := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(`
destinations:
  ehr: {type: fhir, rate_limit: `+rl+`}
routes:
  - {resource: Patient, to: [ehr]}
`), isType)
			if err == nil {
				t.Fatalf("rate_limit %s was accepted", rl)
			}
			if !strings.Contains(err.Error(), "per_second") && !strings.Contains(err.Error(), "burst") &&
				!strings.Contains(err.Error(), "per_minute") && !strings.Contains(err.Error(), "fast") {
				t.Errorf("the error does not name the field: %v", err)
			}
		})
	}
}
