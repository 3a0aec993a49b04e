package deploy

import (
	"regexp"
	"slices"
	"strings"

	"github.com/switchboard-health/switchboard/hub/config"
)

// hubRoutes are the GET paths a hub process serves, by role ("api" and
// "worker"); a probe must name one of them.
type hubRoutes map[string][]string

// secretLike reports whether a variable's value must come from a Secret:
// its name says so, or the hub's reference marks it secret.
func secretLike(name string) bool {
	for _, w := range []string{"KEY", "SECRET", "TOKEN", "PASSWORD", "DATABASE_URL"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return config.IsSecret(name)
}

// routingVarPattern finds ${VAR} and ${VAR:-default}, the substitutions
// package route expands; envFieldPattern finds the *_env fields naming the
// variables that hold secrets (a name or a list of names).
var (
	routingVarPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)
	envFieldPattern   = regexp.MustCompile(`(?m)^\s*[a-z_]*_env:\s*(.+?)\s*(#.*)?$`)
	envNamePattern    = regexp.MustCompile(`[A-Z][A-Z0-9_]*`)
)

// routingVars lists the variables a routing file names: required holds
// those the file cannot do without (*_env fields and ${VAR} without a
// default), optional the ${VAR:-default} ones.
func routingVars(data []byte) (required, optional []string) {
	data = stripComments(data)
	for _, m := range routingVarPattern.FindAllSubmatch(data, -1) {
		if len(m[2]) > 0 {
			optional = append(optional, string(m[1]))
		} else {
			required = append(required, string(m[1]))
		}
	}
	for _, m := range envFieldPattern.FindAllSubmatch(data, -1) {
		for _, n := range envNamePattern.FindAll(m[1], -1) {
			required = append(required, string(n))
		}
	}
	slices.Sort(required)
	slices.Sort(optional)
	return slices.Compact(required), slices.Compact(optional)
}

// routingFileKey is the ConfigMap key holding the routing file.
const routingFileKey = "switchboard.yaml"
