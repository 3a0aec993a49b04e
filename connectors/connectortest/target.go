package connectortest

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/connectors"
)

// Params are the constructor's parameters for a destination named name
// whose `config:` block is config (YAML) with the Target's base_url,
// timeout and retry_max added, as the hub decodes it (unknown fields are
// errors); env is the environment the connector reads secrets from.
// config may leave out base_url, timeout and retry_max; it may not set them.
func (tg Target) Params(name, config string, env map[string]string) connectors.Params {
	return connectors.Params{
		Name:   name,
		Logger: tg.Logger,
		Env:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Decode: func(into any) error {
			fields := map[string]any{}
			if err := yaml.Unmarshal([]byte(config), &fields); err != nil {
				return fmt.Errorf("connectortest: config: %w", err)
			}
			for _, k := range []string{"base_url", "timeout", "retry_max"} {
				if _, set := fields[k]; set {
					return fmt.Errorf("connectortest: config sets %s, which the kit chooses", k)
				}
			}
			fields["base_url"] = tg.URL
			fields["timeout"] = tg.Timeout.String()
			fields["retry_max"] = tg.RetryMax
			var buf bytes.Buffer
			if err := yaml.NewEncoder(&buf).Encode(fields); err != nil {
				return err
			}
			dec := yaml.NewDecoder(&buf)
			dec.KnownFields(true)
			if err := dec.Decode(into); err != nil {
				return fmt.Errorf("destination %q config: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
			}
			return nil
		},
	}
}
