package config

import (
	"strings"
	"testing"
	"time"
)

func TestRateLimitSettings(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientRate != 50 || c.ClientBurst != 100 || c.WebhookRate != 100 || c.WebhookBurst != 200 || c.RateLimitWait != time.Second {
		t.Errorf("defaults: client %v/%d, webhook %v/%d, wait %s", c.ClientRate, c.ClientBurst, c.WebhookRate, c.WebhookBurst, c.RateLimitWait)
	}
	c, err = FromEnv(envOf(map[string]string{"SWITCHBOARD_CLIENT_RATE": "0.5", "SWITCHBOARD_WEBHOOK_BURST": "7"}))
	if err != nil || c.ClientRate != 0.5 || c.WebhookBurst != 7 || c.Value("SWITCHBOARD_CLIENT_RATE") != "0.5" {
		t.Errorf("set: %v/%d (%v)", c.ClientRate, c.WebhookBurst, err)
	}
	_, err = FromEnv(envOf(map[string]string{"SWITCHBOARD_CLIENT_RATE": "fast", "SWITCHBOARD_WEBHOOK_RATE": "0",
		"SWITCHBOARD_CLIENT_BURST": "-2", "SWITCHBOARD_RATE_LIMIT_WAIT": "later"}))
	for _, want := range []string{"SWITCHBOARD_CLIENT_RATE", "SWITCHBOARD_WEBHOOK_RATE", "SWITCHBOARD_CLIENT_BURST", "SWITCHBOARD_RATE_LIMIT_WAIT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error should name %s: %v", want, err)
		}
	}
}
