package candidsim

import "github.com/switchboard-health/switchboard/cmd/vendorsim/simlog"

// Effect says what one API request did at the sandbox.
type Effect = simlog.Effect

// The effects a request log row can carry.
const (
	EffectCreated  Effect = "created"  // a new encounter (POST /api/encounters/v4)
	EffectUpdated  Effect = "updated"  // a claim status changed through POST /_sandbox/claim-status
	EffectRejected Effect = "rejected" // an error answer (a duplicate external_id among them); nothing was written
	EffectToken    Effect = "token"    // a token issued
	EffectRead     Effect = "read"     // GET /api/encounters/v4/{encounter_id}
	EffectSearch   Effect = "search"   // GET /api/encounters/v4?external_id=
)

// changes reports whether the effect wrote data.
func changes(e Effect) bool { return e == EffectCreated || e == EffectUpdated }

// The evidence types are the sandboxes' shared ones (package simlog).
type (
	LogEntry = simlog.Entry
	Log      = simlog.Log
	Received = simlog.Received
)

func newEvidence(limit int) *simlog.Recorder { return simlog.New(limit, changes) }
