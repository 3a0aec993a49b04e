package route

import (
	"fmt"
	"regexp"
)

var varPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Expand substitutes ${VAR} and ${VAR:-default} in the routing file, as
// Compose does, so one file serves several environments. A ${VAR} without a
// default that is unset is an error rather than an empty string. Secrets
// should not be expanded into the file: connectors take the *name* of the
// variable that holds a secret (api_key_env) and read it themselves.
func Expand(data []byte, env func(string) (string, bool)) ([]byte, error) {
	var missing []string
	out := varPattern.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := varPattern.FindSubmatch(m)
		name := string(sub[1])
		if v, ok := env(name); ok && v != "" {
			return []byte(v)
		}
		if len(sub[2]) > 0 {
			return sub[3]
		}
		missing = append(missing, name)
		return nil
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("routing file names unset variables %v", missing)
	}
	return out, nil
}
