package main

// Each connector registers itself in its package's init function; this file
// is the one place a new connector is named (one line each).
import (
	_ "github.com/switchboard-health/switchboard/connectors/calcom"
	_ "github.com/switchboard-health/switchboard/connectors/candid"
	_ "github.com/switchboard-health/switchboard/connectors/fhir"
	_ "github.com/switchboard-health/switchboard/connectors/hubspot"
	_ "github.com/switchboard-health/switchboard/connectors/stripe"
)
