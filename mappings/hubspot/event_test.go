package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/hub/consent"
	"github.com/switchboard-health/switchboard/hub/delivery"
	"github.com/switchboard-health/switchboard/hub/validation"
)

var eventDir = filepath.Join("..", "..", "testdata", "mappings", "hubspot", "webhook")

func eventGolden(evs []ConsentEvent) []byte {
	list := make([]any, 0, len(evs))
	for _, e := range evs {
		m := map[string]any{"eventId": e.EventID, "attemptNumber": e.AttemptNumber, "error": ""}
		if e.Err != nil {
			m["error"] = e.Err.Error()
		} else {
			m["contactId"], m["optedOut"], m["occurredAt"] = e.ContactID, e.OptedOut, e.OccurredAt.Format(time.RFC3339Nano)
			m["keySystem"], m["keyValue"], m["consent"] = e.KeySystem, e.KeyValue, e.Consent
		}
		list = append(list, m)
	}
	out, _ := json.Marshal(list)
	return out
}

func readEvents(t *testing.T, file string) []ConsentEvent {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(eventDir, file))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ConsentEvents(src)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// Event goldens: testdata/mappings/hubspot/webhook/webhook-*.json (HubSpot
// webhook bodies) to *.golden.json (one result per event, the Consent when
// there is one). They live in a folder of their own because TestGolden
// reads every *.json beside the contact goldens. -update rewrites them.
func TestConsentEventsGolden(t *testing.T) {
	cases := []struct {
		file string
		// per event: "deny", "permit", or the error wanted
		want []any
	}{
		{"webhook-optout.json", []any{"deny", ErrIgnored, ErrIgnored, ErrIgnored}},
		{"webhook-optin.json", []any{"permit"}},
		{"webhook-object-propertychange.json", []any{"deny", ErrIgnored}},
	}
	inputs, _ := filepath.Glob(filepath.Join(eventDir, "webhook-*.json"))
	n := 0
	for _, in := range inputs {
		if !strings.HasSuffix(in, ".golden.json") {
			n++
		}
	}
	if n != len(cases) {
		t.Fatalf("%d event inputs, %d cases: give every input a case", n, len(cases))
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			evs := readEvents(t, c.file)
			got := pretty(t, eventGolden(evs))
			golden := filepath.Join(eventDir, strings.TrimSuffix(c.file, ".json")+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mappings/hubspot/ -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("mapping differs from %s:\n%s", golden, got)
			}
			if len(evs) != len(c.want) {
				t.Fatalf("%d results, want %d", len(evs), len(c.want))
			}
			for i, w := range c.want {
				if werr, ok := w.(error); ok {
					if !errors.Is(evs[i].Err, werr) {
						t.Errorf("event %d: %v, want %v", i, evs[i].Err, werr)
					}
					continue
				}
				var cs struct{ Provision struct{ Type string } }
				if evs[i].Err != nil || json.Unmarshal(evs[i].Consent, &cs) != nil || cs.Provision.Type != w {
					t.Errorf("event %d: %v provision %q, want %s", i, evs[i].Err, cs.Provision.Type, w)
				}
			}
			if bytes.Contains(got, []byte("Zzvendor")) {
				t.Error("a property value other than hs_email_optout's came through")
			}
		})
	}
}

// Every Consent in the goldens is valid FHIR R4 as the hub checks it at
// its boundary.
func TestConsentEventsGoldenIsValidFHIR(t *testing.T) {
	v, err := validation.New()
	if err != nil {
		t.Fatal(err)
	}
	goldens, _ := filepath.Glob(filepath.Join(eventDir, "webhook-*.golden.json"))
	if len(goldens) == 0 {
		t.Fatal("no event goldens")
	}
	n := 0
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		var list []struct {
			Consent json.RawMessage `json:"consent"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		for i, e := range list {
			if e.Consent == nil {
				continue
			}
			n++
			if _, err := v.Resource(e.Consent, "Consent"); err != nil {
				t.Errorf("%s event %d: invalid FHIR R4: %v", filepath.Base(g), i, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Consent in the goldens")
	}
}

// ehr answers the consent gate's searches with one patient and the
// Consents it holds now, stating (as a FHIR server's self link does) that
// it applied the search's parameters: the gate trusts nothing less.
type ehr struct{ consents []json.RawMessage }

func (e *ehr) Search(_ context.Context, q connectors.SearchQuery) (connectors.SearchPage, error) {
	if q.ResourceType == "Patient" {
		return connectors.SearchPage{Resources: []json.RawMessage{json.RawMessage(`{"resourceType":"Patient","id":"p1"}`)}, Applied: q.Params}, nil
	}
	return connectors.SearchPage{Resources: e.consents, Applied: q.Params}, nil
}

func (e *ehr) SearchParams(context.Context, string) ([]connectors.SearchParam, error) {
	return nil, nil
}

func (e *ehr) StatesApplied() bool { return true }

// The Consents mean to hub/consent's gate what the contact did: an
// opt-out never lets marketing through, an opt-in does, and an opt-out
// upserted on the opt-in's identifier (one Consent per contact) takes the
// permission back.
func TestConsentEventsAsTheGateReadsThem(t *testing.T) {
	optOut := readEvents(t, "webhook-optout.json")[0]
	optIn := readEvents(t, "webhook-optin.json")[0]
	if optOut.KeyValue != optIn.KeyValue {
		t.Fatalf("the same contact's Consents have different keys: %s, %s", optOut.KeyValue, optIn.KeyValue)
	}
	src := &ehr{}
	gate := &consent.Gate{Purpose: "HMARKT", Source: src, Now: func() time.Time { return optIn.OccurredAt.Add(time.Hour) }}
	subject := &delivery.Subject{Identifiers: []delivery.Identifier{{System: IdentifierSystem, Value: optOut.ContactID}}}
	steps := []struct {
		name     string
		consents []json.RawMessage
		allow    bool
	}{
		{"opted out", []json.RawMessage{optOut.Consent}, false},
		{"opted back in", []json.RawMessage{optIn.Consent}, true},
		{"opted out again, upserted on the key", []json.RawMessage{optOut.Consent}, false},
	}
	for _, s := range steps {
		src.consents = s.consents
		allow, reason, err := gate.Allow(context.Background(), subject)
		if err != nil || allow != s.allow {
			t.Errorf("%s: allow=%v (%s) %v, want %v", s.name, allow, reason, err, s.allow)
		}
	}
}

func TestConsentEventsErrors(t *testing.T) {
	if _, err := ConsentEvents([]byte(`{"eventId":1}`)); !errors.Is(err, ErrNotEvents) {
		t.Errorf("an object: %v", err)
	}
	if _, err := ConsentEvents([]byte(`[`)); !errors.Is(err, ErrNotEvents) {
		t.Errorf("not JSON: %v", err)
	}
	const head = `{"eventId":1,"portalId":2,"subscriptionType":"contact.propertyChange","propertyName":"hs_email_optout",`
	cases := []struct {
		name, event string
		want        error
	}{
		{"value not a boolean", head + `"objectId":3,"occurredAt":1795186800000,"propertyValue":"Zzsecret"}`, ErrEventOptOut},
		{"value cleared", head + `"objectId":3,"occurredAt":1795186800000,"propertyValue":""}`, ErrEventOptOut},
		{"no objectId", head + `"occurredAt":1795186800000,"propertyValue":"true"}`, ErrEventObjectID},
		{"objectId not an integer", head + `"objectId":3.5,"occurredAt":1795186800000,"propertyValue":"true"}`, ErrEventObjectID},
		{"no occurredAt", head + `"objectId":3,"propertyValue":"true"}`, ErrEventOccurredAt},
		{"a field of the wrong type", head + `"objectId":3,"occurredAt":1795186800000,"propertyValue":true}`, ErrEventMalformed},
		{"another property of the wrong type", `{"propertyName":"firstname","propertyValue":{"Zzsecret":1}}`, ErrIgnored},
		{"not an object", `"Zzsecret"`, ErrIgnored},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := ConsentEvents([]byte(`[` + c.event + `]`))
			if err != nil || len(evs) != 1 {
				t.Fatalf("%v %d", err, len(evs))
			}
			if !errors.Is(evs[0].Err, c.want) {
				t.Fatalf("error %v, want %v", evs[0].Err, c.want)
			}
			if evs[0].Consent != nil {
				t.Error("a Consent from a malformed event")
			}
			if strings.Contains(strings.ToLower(evs[0].Err.Error()), "zzsecret") {
				t.Fatalf("the error quotes the body: %v", evs[0].Err)
			}
		})
	}
}

func FuzzConsentEvents(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join(eventDir, "webhook-*.json"))
	for _, in := range inputs {
		if b, err := os.ReadFile(in); err == nil && !strings.HasSuffix(in, ".golden.json") {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := ConsentEvents(body)
		if err != nil {
			return
		}
		for _, e := range evs {
			if e.Err != nil && strings.Contains(e.Err.Error(), "Zz") {
				t.Fatalf("the error quotes the body: %v", e.Err)
			}
			if e.Err == nil && !json.Valid(e.Consent) {
				t.Fatalf("invalid JSON: %s", e.Consent)
			}
		}
	})
}
