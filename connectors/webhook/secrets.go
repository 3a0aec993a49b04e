package webhook

import (
	"errors"
	"fmt"

	"github.com/switchboard-health/switchboard/connectors"
)

// Secrets reads one webhook secret from each environment variable named in
// vars, in order. Configuration names several variables so that a secret
// can be rotated without downtime: add the new one, let the vendor switch,
// then drop the old one. The error names the variable that is empty or
// unset, never a value.
func Secrets(env connectors.Env, vars []string) ([]string, error) {
	if env == nil {
		return nil, errors.New("webhook secrets: no environment to read from")
	}
	if len(vars) == 0 {
		return nil, errors.New("webhook secrets: no environment variable named")
	}
	out := make([]string, 0, len(vars))
	for i, name := range vars {
		if name == "" {
			return nil, fmt.Errorf("webhook secrets: entry %d names no environment variable", i)
		}
		v, _ := env(name)
		if v == "" {
			return nil, fmt.Errorf("webhook secrets: environment variable %s is empty", name)
		}
		out = append(out, v)
	}
	return out, nil
}
