package webhook

import (
	"slices"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	}
	set := env(map[string]string{"HOOK_NEW": "whsec_bmV3", "HOOK_OLD": "whsec_b2xk", "HOOK_BLANK": ""})
	tests := []struct {
		name    string
		env     func(string) (string, bool)
		vars    []string
		want    []string
		wantErr string
	}{
		{"two secrets in order", set, []string{"HOOK_NEW", "HOOK_OLD"}, []string{"whsec_bmV3", "whsec_b2xk"}, ""},
		{"one secret", set, []string{"HOOK_OLD"}, []string{"whsec_b2xk"}, ""},
		{"unset variable", set, []string{"HOOK_NEW", "HOOK_GONE"}, nil, "environment variable HOOK_GONE is empty"},
		{"blank variable", set, []string{"HOOK_BLANK"}, nil, "environment variable HOOK_BLANK is empty"},
		{"blank name", set, []string{"HOOK_NEW", ""}, nil, "entry 1 names no environment variable"},
		{"no names", set, nil, nil, "no environment variable named"},
		{"no environment", nil, []string{"HOOK_NEW"}, nil, "no environment to read from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Secrets(tt.env, tt.vars)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "whsec_") {
					t.Errorf("error %q quotes a secret", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Secrets = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
