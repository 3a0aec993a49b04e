package hubsim

import "github.com/switchboard-health/switchboard/cmd/vendorsim/simlog"

// Effect says what one API request did at the sandbox.
type Effect = simlog.Effect

// The effects a request log row can carry.
const (
	EffectCreated   Effect = "created"   // an upsert made a new contact
	EffectUpdated   Effect = "updated"   // an upsert changed an existing contact's properties
	EffectUnchanged Effect = "unchanged" // an upsert matched a contact and changed nothing (a harmless repeat)
	EffectRejected  Effect = "rejected"  // an error answer; nothing was written
	EffectRead      Effect = "read"      // GET /crm/v3/objects/contacts/{id}
	EffectSearch    Effect = "search"    // POST /crm/v3/objects/contacts/search
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
