package apiclient

import (
	"net"
	"strings"
)

// The environment a client of a hub reads when no flag says otherwise: the
// variables `make run` writes to var/dev.env, and the ones an operator sets.
const (
	// EnvURL is the hub's address, such as http://127.0.0.1:8080.
	EnvURL = "SWITCHBOARD_URL"
	// EnvAddr is the hub's listen address (host:port, the setting serve
	// reads), used when EnvURL is unset.
	EnvAddr = "SWITCHBOARD_ADDR"
	// EnvToken is one token for every command; it wins over the role's.
	EnvToken = "SWITCHBOARD_TOKEN"
	// DefaultURL is the address of a hub started with no settings.
	DefaultURL = "http://127.0.0.1:8080"
)

// RoleTokenEnv names the variable holding the token of a role:
// SWITCHBOARD_ADMIN_TOKEN for "admin", SWITCHBOARD_AUDITOR_TOKEN for
// "auditor", SWITCHBOARD_APP_TOKEN for "app".
func RoleTokenEnv(role string) string {
	return "SWITCHBOARD_" + strings.ToUpper(role) + "_TOKEN"
}

// URLFromEnv returns the hub's base URL: EnvURL, else http:// and EnvAddr
// (a wildcard host such as ":8080" or "0.0.0.0:8080" is reached on
// loopback), else DefaultURL. The second result names where it came from.
func URLFromEnv(getenv func(string) string) (url, from string) {
	if u := strings.TrimSpace(getenv(EnvURL)); u != "" {
		return u, EnvURL
	}
	if a := strings.TrimSpace(getenv(EnvAddr)); a != "" {
		return "http://" + dialable(a), EnvAddr
	}
	return DefaultURL, ""
}

// dialable turns a listen address into one a client can reach: an empty
// or unspecified host becomes loopback. Anything that does not parse as
// host:port is returned as it is, for the URL check to refuse.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// TokenFromEnv returns the token a command for role sends: EnvToken when
// set (one token for everything, as an operator may export), else the
// role's own variable (RoleTokenEnv). The second result names the
// variable it came from, "" when neither is set.
func TokenFromEnv(role string, getenv func(string) string) (token, from string) {
	if t := strings.TrimSpace(getenv(EnvToken)); t != "" {
		return t, EnvToken
	}
	if role == "" {
		return "", ""
	}
	v := RoleTokenEnv(role)
	if t := strings.TrimSpace(getenv(v)); t != "" {
		return t, v
	}
	return "", ""
}
