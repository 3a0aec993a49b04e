package connectors

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

type inlineSettings struct {
	Timeout string `yaml:"timeout" doc:"one try"`
}

type goodConfig struct {
	BaseURL        string   `yaml:"base_url" doc:"API base URL"`
	Secrets        []string `yaml:"webhook_secrets_env,omitempty" doc:"secret variables"`
	Ignored        string   `yaml:"-"`
	unexported     string
	inlineSettings `yaml:",inline"`
}

type undocumented struct {
	BaseURL string `yaml:"base_url"`
}

type unnamed struct {
	BaseURL string `doc:"API base URL"`
}

type twice struct {
	Timeout        string `yaml:"timeout" doc:"again"`
	inlineSettings `yaml:",inline"`
}

// TestConfigFields: the spec a connector registers is read from its config
// struct, inline settings included, and a field the decoder accepts but the
// spec could not describe is refused.
func TestConfigFields(t *testing.T) {
	got, err := ConfigFields(goodConfig{unexported: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, []string{"base_url", "timeout", "webhook_secrets_env"}) {
		t.Errorf("fields = %v", names)
	}
	if got["timeout"] != "one try" || got["base_url"] != "API base URL" {
		t.Errorf("descriptions = %v", got)
	}
	if _, err := ConfigFields(&goodConfig{}); err != nil {
		t.Errorf("a pointer to the struct: %v", err)
	}
	for _, tc := range []struct {
		name   string
		config any
		want   string
	}{
		{"no doc tag", undocumented{}, "base_url (undocumented.BaseURL) has no doc tag"},
		{"no yaml name", unnamed{}, "unnamed.BaseURL has no yaml name"},
		{"declared twice", twice{}, "timeout is declared twice"},
		{"not a struct", "base_url", "needs a struct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFields(tc.config)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
