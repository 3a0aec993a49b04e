package transfer

import (
	"slices"
	"time"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// The transfer log's rows for accepts and delivery outcomes are staged in
// the same transaction as the change they record (transferlog.Stage), so
// the log cannot miss an accepted transfer or a recorded outcome, and a
// rolled-back accept leaves no row.

// acceptedRow is the "accepted" row of a transfer: who sent it (the client,
// or the vendor a change came from), what, and where it is going.
func acceptedRow(at time.Time, id string, sub Submission, resType, interaction string, jobs []job) transferlog.Row {
	r := transferlog.Row{
		At: at, Event: transferlog.EventAccepted, TransferID: id, Direction: transferlog.Inbound,
		Source: "api", ResourceType: resType, Interaction: interaction, Outcome: "accepted", Actor: sub.ClientID,
	}
	if sub.Origin != "" {
		r.Source = sub.Origin
	}
	var dests []string
	for _, j := range jobs {
		if !slices.Contains(dests, j.destination) {
			dests = append(dests, j.destination)
		}
	}
	if len(dests) == 1 {
		r.Destination = dests[0]
	}
	if len(sub.Entries) == 1 && len(jobs) > 0 {
		if s, ok := jobs[0].auditSubject.(string); ok {
			r.SubjectHash = s
		}
	}
	r.Detail = map[string]any{"entries": len(sub.Entries), "deliveries": len(jobs), "destinations": dests}
	return r
}

// attemptRow is the row of one delivery outcome. facts are the delivery
// row's columns the outcome does not carry.
func attemptRow(o delivery.Outcome, f deliveryFacts) transferlog.Row {
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

// deliveryFacts are a delivery row's columns an outcome row repeats.
type deliveryFacts struct {
	resourceType, interaction, auditSubject string
	keyGeneration                           int
}

// logged reports whether an outcome gets a transfer-log row: every try
// that reached the vendor or ended the delivery; not a snooze behind an
// open breaker, which is no attempt.
func logged(o delivery.Outcome) bool {
	return o.CountTry || delivery.Final(o.State)
}
