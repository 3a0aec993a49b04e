package inbound_test

import (
	"context"
	"errors"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/inbound"
	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/transfer"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// countingAcceptor counts what it is asked to route.
type countingAcceptor struct{ n int }

func (a *countingAcceptor) Accept(context.Context, transfer.Submission) (transfer.Accepted, error) {
	a.n++
	return transfer.Accepted{ID: "tr_test", Deliveries: 1}, nil
}

// TestVendorChangesMeetTheStrictRules: a webhook's mapped resource, a
// polled one and a drift repair all come in through Router, with the
// validator the API uses: FHIR JSON that a client could not send is not
// routed from a vendor either (issue 13 §2).
func TestVendorChangesMeetTheStrictRules(t *testing.T) {
	v, err := validation.New()
	if err != nil {
		t.Fatal(err)
	}
	validate := func(typ string, body []byte) error { _, err := v.Resource(body, typ); return err }
	cases := []struct {
		name, body, expr string
	}{
		{"empty array", `{"resourceType":"Patient","name":[]}`, "Patient.name"},
		{"empty object", `{"resourceType":"Patient","address":[{}]}`, "Patient.address[0]"},
		{"empty primitive extension", `{"resourceType":"Patient","birthDate":"1970","_birthDate":{"extension":[]}}`, "Patient._birthDate.extension"},
		{"null", `{"resourceType":"Patient","gender":null}`, "Patient.gender"},
		{"whitespace-only string", `{"resourceType":"Patient","name":[{"family":"   "}]}`, "Patient.name[0].family"},
		{"duplicate key", `{"resourceType":"Patient","gender":"male","gender":"female"}`, "Patient.gender"},
		{"unpaired surrogate", `{"resourceType":"Patient","name":[{"family":"\udc00"}]}`, "Patient.name[0].family"},
		{"unknown element", `{"resourceType":"Patient","ECHOMARKQZX":1}`, "Patient"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acc := &countingAcceptor{}
			res, err := inbound.Router{Validate: validate, Transfers: acc}.Route(t.Context(), inbound.Change{
				Source: "ehr", ClientID: "poll:ehr", IdempotencyKey: "Patient/p1/_history/1",
				Entry: transfer.Entry{Interaction: connectors.Update, ResourceType: "Patient", ResourceID: "p1", Resource: []byte(c.body)},
			})
			if err != nil {
				t.Fatal(err)
			}
			var oe *outcome.Error
			if res.Outcome != inbound.Invalid || acc.n != 0 || !errors.As(res.Reason, &oe) || oe.Issues[0].Expression != c.expr {
				t.Fatalf("outcome %s, %d routed, reason %v; want invalid at %s, none routed", res.Outcome, acc.n, res.Reason, c.expr)
			}
		})
	}
	acc := &countingAcceptor{}
	res, err := inbound.Router{Validate: validate, Transfers: acc}.Route(context.Background(), inbound.Change{
		Source: "ehr", ClientID: "poll:ehr", IdempotencyKey: "Patient/p1/_history/2",
		Entry: transfer.Entry{Interaction: connectors.Update, ResourceType: "Patient", ResourceID: "p1",
			Resource: []byte(`{"resourceType":"Patient","id":"p1","name":[{"given":["a",null],"_given":[null,{"id":"g"}]}]}`)},
	})
	if err != nil || res.Outcome != inbound.Routed || acc.n != 1 {
		t.Fatalf("a valid change: %s, %d routed, %v", res.Outcome, acc.n, err)
	}
}
