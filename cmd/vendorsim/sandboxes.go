package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/calsim"
	"github.com/switchboard-health/switchboard/cmd/vendorsim/candidsim"
	"github.com/switchboard-health/switchboard/cmd/vendorsim/hubsim"
)

// vendorSandbox is one vendor sandbox vendorsim serves beside the EHR. Its
// name gives the -<name>-addr flag and, upper-cased, the prefix of the
// variables in -env-file (<NAME>_BASE_URL and its credentials), which are
// the ones the example routing files name: `make run`, Compose and the
// Dockerfile start every sandbox in this table without naming any.
type vendorSandbox struct {
	name string
	// what says what it plays, for the announcement and the log.
	what string
	// port is where -sandboxes HOST serves it.
	port int
	// env holds the credentials the sandbox takes (any non-empty value
	// passes; these are the defaults `make run` gives the hub).
	env map[string]string
	// handler builds its server.
	handler func(o sandboxOptions) http.Handler
}

// sandboxOptions are the settings a sandbox may need from the command line.
type sandboxOptions struct {
	logger *slog.Logger
	// calcomWebhookURL and calcomWebhookSecret: where and how the Cal.com
	// sandbox signs the webhooks it posts.
	calcomWebhookURL, calcomWebhookSecret string
}

// sandboxes lists the vendor sandboxes: one entry per sandbox package, ports
// 9091-9099 (the EHR is 9090; deploy/compose.yaml publishes the range).
func sandboxes() []vendorSandbox {
	return []vendorSandbox{
		{"calcom", "Cal.com API v2 sandbox", 9091, map[string]string{"CALCOM_API_KEY": "cal_test_sandbox"}, func(o sandboxOptions) http.Handler {
			return calsim.New(calsim.Options{Logger: o.logger, WebhookURL: o.calcomWebhookURL, WebhookSecret: o.calcomWebhookSecret})
		}},
		{"candid", "Candid Health sandbox", 9092, map[string]string{"CANDID_CLIENT_ID": "sandbox", "CANDID_CLIENT_SECRET": "sandbox"}, func(o sandboxOptions) http.Handler {
			return candidsim.New(candidsim.Options{Logger: o.logger})
		}},
		{"hubspot", "HubSpot CRM contacts sandbox", 9093, map[string]string{"HUBSPOT_TOKEN": "pat-sandbox"}, func(o sandboxOptions) http.Handler {
			return hubsim.New(hubsim.Options{Logger: o.logger})
		}},
	}
}

// envPrefix is the prefix of the sandbox's variables, e.g. CANDID.
func (s vendorSandbox) envPrefix() string {
	return strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

// envLines are the sandbox's lines of -env-file for the address it serves
// at: its base URL, and its credentials unless the environment sets them
// (shell syntax: the file is sourced).
func (s vendorSandbox) envLines(addr string) []string {
	lines := []string{fmt.Sprintf("%s_BASE_URL=http://%s", s.envPrefix(), addr)}
	keys := make([]string, 0, len(s.env))
	for k := range s.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=${%s:-%s}", k, k, s.env[k]))
	}
	return lines
}
