// Package all imports every connector for its side effect: each registers
// itself with connectors.Register from its init function. It is the one
// place outside a connector's own folders that names it (one line each);
// the hub's command, the deploy checks, the tests and cmd/gen import this
// package instead of listing connectors.
package all

//go:generate go run ../../cmd/gen -root ../..

import (
	_ "github.com/switchboard-health/switchboard/connectors/calcom"
	_ "github.com/switchboard-health/switchboard/connectors/candid"
	_ "github.com/switchboard-health/switchboard/connectors/fhir"
	_ "github.com/switchboard-health/switchboard/connectors/hubspot"
	_ "github.com/switchboard-health/switchboard/connectors/stripe"
)
