package delivery

import "github.com/switchboard-health/switchboard/hub/transferlog"

// The transfer log's row of a delivery outcome is staged in the same
// transaction as the outcome (transferlog.Stage), so the log cannot miss
// a recorded outcome.

// attemptRow is the row of one delivery outcome. f are the delivery
// row's columns the outcome does not carry.
func attemptRow(o Outcome, f facts) transferlog.Row {
	r := transferlog.Row{
		At: o.At, Event: transferlog.EventDeliveryAttempt, TransferID: o.TransferID, Direction: transferlog.Outbound,
		Source: "switchboard", Destination: o.Destination, ResourceType: f.resourceType, Interaction: f.interaction,
		SubjectHash: f.auditSubject, Outcome: o.State, HTTPStatus: o.HTTPStatus, Attempt: o.Attempt,
		LatencyMS: o.LatencyMS, ErrorClass: string(o.ErrorClass), Actor: "switchboard", PayloadDigest: o.Digest,
	}
	r.Detail = map[string]any{"entry": o.Entry}
	if o.ErrorCode != "" {
		r.Detail["code"] = o.ErrorCode
	}
	if !o.CountTry {
		r.Detail["counted"] = false
	}
	if f.keyGeneration > 0 {
		r.Detail["key_generation"] = f.keyGeneration
	}
	return r
}

// facts are a delivery row's columns an outcome row repeats.
type facts struct {
	resourceType, interaction, auditSubject string
	keyGeneration                           int
}

// logged reports whether an outcome gets a transfer-log row: every try
// that reached the vendor or ended the delivery; not a snooze behind an
// open breaker, which is no attempt.
func logged(o Outcome) bool {
	return o.CountTry || Final(o.State)
}
