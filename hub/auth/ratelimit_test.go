package auth_test

import (
	"context"
	"testing"

	"github.com/switchboard-health/switchboard/hub/auth"
)

func TestClientRateLimitIsStoredWithTheClient(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			c, _, _ := newClients(t, d)
			_, own, err := c.Create(ctx, "batch-importer", auth.RoleApp, []string{"system/Patient.cu"}, auth.WithRateLimit(2.5, 5))
			if err != nil {
				t.Fatal(err)
			}
			_, dflt, err := c.Create(ctx, "scheduling", auth.RoleApp, []string{"system/Patient.cu"})
			if err != nil {
				t.Fatal(err)
			}
			_, oneSecond, err := c.Create(ctx, "slow", auth.RoleApp, []string{"system/Patient.cu"}, auth.WithRateLimit(3, 0))
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				tok   string
				rate  float64
				burst int
			}{{own, 2.5, 5}, {dflt, 0, 0}, {oneSecond, 3, 3}} {
				p, err := c.Verify(ctx, tc.tok)
				if err != nil {
					t.Fatal(err)
				}
				if p.RatePerSecond != tc.rate || p.RateBurst != tc.burst {
					t.Errorf("%s: rate %v burst %d, want %v and %d", p.Name, p.RatePerSecond, p.RateBurst, tc.rate, tc.burst)
				}
			}
			list, err := c.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]auth.ClientInfo{}
			for _, ci := range list {
				byName[ci.Name] = ci
			}
			if r := byName["batch-importer"].RateLimit; r == nil || r.PerSecond != 2.5 || r.Burst != 5 {
				t.Errorf("List: %+v, want 2.5/s burst 5", r)
			}
			if r := byName["scheduling"].RateLimit; r != nil {
				t.Errorf("List: a client without its own limit shows %+v", r)
			}
			for _, bad := range []auth.CreateOption{auth.WithRateLimit(0, 5), auth.WithRateLimit(-1, 0), auth.WithRateLimit(1, -2)} {
				if _, _, err := c.Create(ctx, "bad", auth.RoleApp, []string{"system/Patient.cu"}, bad); err == nil {
					t.Error("an unworkable rate limit was accepted")
				}
			}
		})
	}
}
