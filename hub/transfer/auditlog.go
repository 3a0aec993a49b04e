package transfer

import (
	"slices"
	"time"

	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// The transfer log's "accepted" row is staged in the accept's transaction
// (transferlog.Stage), so the log cannot miss an accepted transfer, and a
// rolled-back accept leaves no row. Outcome rows are package delivery's.

// acceptedRow is the "accepted" row of a transfer: who sent it (the client,
// or the vendor a change came from), what, and where it is going.
func acceptedRow(at time.Time, id string, sub Submission, resType, interaction string, jobs []delivery.New) transferlog.Row {
	r := transferlog.Row{
		At: at, Event: transferlog.EventAccepted, TransferID: id, Direction: transferlog.Inbound,
		Source: "api", ResourceType: resType, Interaction: interaction, Outcome: "accepted", Actor: sub.ClientID,
	}
	if sub.Origin != "" {
		r.Source = sub.Origin
	}
	var dests []string
	for _, j := range jobs {
		if !slices.Contains(dests, j.Destination) {
			dests = append(dests, j.Destination)
		}
	}
	if len(dests) == 1 {
		r.Destination = dests[0]
	}
	if len(sub.Entries) == 1 && len(jobs) > 0 {
		if s, ok := jobs[0].AuditSubject.(string); ok {
			r.SubjectHash = s
		}
	}
	r.Detail = map[string]any{"entries": len(sub.Entries), "deliveries": len(jobs), "destinations": dests}
	return r
}
