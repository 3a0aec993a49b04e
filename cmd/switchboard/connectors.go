package main

// Each connector registers itself in its package's init function;
// connectors/all imports every one of them.
import _ "github.com/switchboard-health/switchboard/connectors/all"
