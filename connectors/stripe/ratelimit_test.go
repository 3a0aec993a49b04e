package stripe

import (
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

// The default rate follows the key's mode: Stripe allows live mode four
// times test mode's rate.
func TestDefaultRateLimitFollowsTheKeysMode(t *testing.T) {
	for key, want := range map[string]connectors.RateLimit{
		"sk_live_123": {PerSecond: 90, Burst: 10},
		"rk_live_123": {PerSecond: 90, Burst: 10},
		"sk_test_123": {PerSecond: 20, Burst: 5},
		"rk_test_123": {PerSecond: 20, Burst: 5},
	} {
		c, err := build(t, `{base_url: "http://127.0.0.1:9"}`, map[string]string{"STRIPE_API_KEY": key})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.DefaultRateLimit(); got != want {
			t.Errorf("%s…: %v, want %v", key[:8], got, want)
		}
		// Within the published limit over one second: burst + rate.
		perSecond := 25.0
		if want.PerSecond == 90 {
			perSecond = 100
		}
		if got := c.DefaultRateLimit(); float64(got.Burst)+got.PerSecond > perSecond {
			t.Errorf("%v allows more than %v in a second", got, perSecond)
		}
	}
}
