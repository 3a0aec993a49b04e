package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-health/switchboard/cmd/vendorsim/ehrsim"
	"github.com/switchboard-health/switchboard/connectors"
)

func build(t *testing.T, cfg string, env map[string]string) (connectors.Connector, error) {
	t.Helper()
	return New(connectors.Params{
		Name:   "ehr",
		Decode: func(into any) error { return yaml.Unmarshal([]byte(cfg), into) },
		Env:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Logger: slog.New(slog.DiscardHandler),
	})
}

func TestConfigErrorsNameTheField(t *testing.T) {
	if _, err := build(t, `{}`, nil); err == nil || !strings.Contains(err.Error(), "base_url") {
		t.Fatalf("%v", err)
	}
	if _, err := build(t, `{base_url: "http://x/fhir", auth_token_env: EHR_TOKEN}`, nil); err == nil || !strings.Contains(err.Error(), "EHR_TOKEN") {
		t.Fatalf("%v", err)
	}
}

// Against the EHR sandbox: conditional create finds the record a lost
// answer left behind, updates land by id, the origin tag is written, and a
// rejection is permanent.
func TestAgainstTheEHRSandbox(t *testing.T) {
	sim := ehrsim.New(ehrsim.Options{})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := build(t, `{base_url: "`+srv.URL+`/fhir/R4"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pat := []byte(`{"resourceType":"Patient","identifier":[{"system":"https://c.example/mrn","value":"M1"}],"name":[{"family":"F"}]}`)
	r1, err := c.Deliver(ctx, connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient", Resource: pat, IdempotencyKey: "k1"})
	if err != nil || r1.Status != 201 || r1.VendorID == "" {
		t.Fatalf("create: %+v %v", r1, err)
	}
	// Another key (a replay with a new generation): the identifier matches.
	r2, err := c.Deliver(ctx, connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient", Resource: pat, IdempotencyKey: "k2"})
	if err != nil || r2.VendorID != r1.VendorID || r2.Status != 200 {
		t.Fatalf("conditional create must find the record: %+v %v", r2, err)
	}
	upd := []byte(`{"resourceType":"Patient","id":"` + r1.VendorID + `","name":[{"family":"G"}]}`)
	if r, err := c.Deliver(ctx, connectors.Delivery{Interaction: connectors.Update, ResourceType: "Patient", ResourceID: r1.VendorID, Resource: upd, IdempotencyKey: "k3"}); err != nil || r.Status != 200 {
		t.Fatalf("update: %+v %v", r, err)
	}
	resp, err := http.Get(srv.URL + "/fhir/R4/Patient/" + r1.VendorID)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Meta struct {
			Tag []struct{ System, Code string }
		}
		Name []struct{ Family string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if len(got.Name) != 1 || got.Name[0].Family != "G" || len(got.Meta.Tag) == 0 || got.Meta.Tag[0].Code != "switchboard" {
		t.Fatalf("stored: %+v", got)
	}
	if err := sim.SetFaults(ehrsim.Faults{RejectNext: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Deliver(ctx, connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient", Resource: pat, IdempotencyKey: "k4"})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Status != 400 {
		t.Fatalf("rejection: %v", err)
	}
}

// TestSearchPagesThroughTheSandbox: a passthrough search follows the
// server's next links to the end, every record once, and a cursor that
// points anywhere but the configured server is refused.
func TestSearchPagesThroughTheSandbox(t *testing.T) {
	srv := httptest.NewServer(ehrsim.New(ehrsim.Options{}))
	defer srv.Close()
	conn, err := build(t, `{base_url: "`+srv.URL+`/fhir/R4"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 5 {
		pat := []byte(`{"resourceType":"Patient","identifier":[{"system":"https://c.example/mrn","value":"S` + string(rune('0'+i)) + `"}]}`)
		if _, err := conn.Deliver(ctx, connectors.Delivery{Interaction: connectors.Create, ResourceType: "Patient", Resource: pat, IdempotencyKey: "s" + string(rune('0'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	s := conn.(connectors.Searcher)
	q := connectors.SearchQuery{ResourceType: "Patient", Params: map[string][]string{"_count": {"2"}}}
	seen := map[string]bool{}
	pages := 0
	for {
		page, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Resources {
			var p struct{ ID string }
			_ = json.Unmarshal(r, &p)
			if seen[p.ID] {
				t.Fatalf("%s returned twice", p.ID)
			}
			seen[p.ID] = true
		}
		if page.Next == "" || pages > 10 {
			break
		}
		q.Cursor = page.Next
	}
	if len(seen) != 5 || pages != 3 {
		t.Fatalf("%d patients over %d pages, want 5 over 3", len(seen), pages)
	}
	_, err = s.Search(ctx, connectors.SearchQuery{ResourceType: "Patient", Cursor: "http://169.254.169.254/latest"})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.Permanent || ce.Code != "cursor" {
		t.Fatalf("a foreign cursor must be refused: %v", err)
	}
}
