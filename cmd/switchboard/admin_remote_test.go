package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/apiclient"
)

func seedFailures(h *fakeHub, n int) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range n {
		dest := "hubspot"
		if i%2 == 1 {
			dest = "stripe"
		}
		purge := at.Add(72 * time.Hour)
		h.failures = append(h.failures, apiclient.Failure{
			ID: fmt.Sprintf("tr_%d:0:%s", i, dest), TransferID: fmt.Sprintf("tr_%d", i), Destination: dest,
			ResourceType: "Patient", Interaction: "create", State: "failed", ErrorClass: "validation", ErrorCode: "invalid_email",
			HTTPStatus: 422, Attempts: 3, CreatedAt: at, FailedAt: at.Add(time.Minute), Payload: "kept", PurgeAfter: &purge,
		})
	}
}

func TestAdminCLIFailures(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		wantIDs   int
		wantPages int
		wantHint  bool
	}{
		{"one page", []string{"--limit", "2"}, 2, 1, true},
		{"all pages", []string{"--limit", "2", "--all"}, 5, 3, false},
		{"filtered", []string{"--destination", "stripe"}, 2, 1, false},
	}
	for _, c := range cases {
		for _, format := range []string{"table", "json"} {
			t.Run(c.name+" "+format, func(t *testing.T) {
				h := newFakeHub(t)
				seedFailures(h, 5)
				out, errOut, err := runCLI(t.Context(), t, "", append([]string{"admin", "failures", "-o", format}, c.args...)...)
				if err != nil {
					t.Fatal(err)
				}
				if got := h.count("GET /admin/failures"); got != c.wantPages {
					t.Errorf("%d requests, want %d", got, c.wantPages)
				}
				if format == "json" {
					var page apiclient.FailurePage
					if err := json.Unmarshal([]byte(out), &page); err != nil {
						t.Fatalf("not JSON: %v\n%s", err, out)
					}
					if len(page.Items) != c.wantIDs || page.Items[0].ErrorCode != "invalid_email" {
						t.Errorf("JSON items: %+v", page.Items)
					}
					if (page.Next != "") != c.wantHint {
						t.Errorf("next %q, want a cursor: %v", page.Next, c.wantHint)
					}
					return
				}
				if got := strings.Contains(errOut, "--all"); got != c.wantHint {
					t.Errorf("hint about --all shown %v, want %v: %q", got, c.wantHint, errOut)
				}
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != c.wantIDs+1 {
					t.Fatalf("%d lines, want a header and %d rows:\n%s", len(lines), c.wantIDs, out)
				}
				if f := strings.Fields(lines[0]); strings.Join(f, " ") != "ID DESTINATION TYPE INTERACTION ERROR STATUS ATTEMPTS FAILED_AT PAYLOAD" {
					t.Errorf("header %q", lines[0])
				}
				row := strings.Fields(lines[1])
				want := []string{h.failures[0].ID, "hubspot", "Patient", "create", "validation/invalid_email", "422", "3", "2026-11-23T09:01:00Z", "kept"}
				if c.name == "filtered" {
					want[0], want[1] = h.failures[1].ID, "stripe"
				}
				if strings.Join(row, " ") != strings.Join(want, " ") {
					t.Errorf("row %q, want %q", row, want)
				}
			})
		}
	}
}

func TestAdminCLIHealth(t *testing.T) {
	h := newFakeHub(t)
	_ = h
	out, _, err := runCLI(t.Context(), t, "", "admin", "health")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := [][]string{
		{"DESTINATION", "TYPE", "BREAKER", "PAUSED", "SUCCESS", "DELIVERED", "FAILED", "RETRYING", "QUEUE", "LAST_ERROR"},
		{"hubspot", "hubspot", "closed", "no", "97.5%", "39", "1", "0", "3", "validation", "at", "2026-11-23T09:58:00Z"},
		{"stripe", "stripe", "open", "yes", "-", "0", "0", "4", "12", "-"},
		{"counts", "over", "the", "last", "15m"},
	}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", out)
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d: %q, want %q", i, got, w)
		}
	}

	out, _, err = runCLI(t.Context(), t, "", "admin", "health", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var hl apiclient.Health
	if err := json.Unmarshal([]byte(out), &hl); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if hl.Window != "15m" || len(hl.Destinations) != 2 || *hl.Destinations[0].SuccessRate != 0.975 || hl.Destinations[1].SuccessRate != nil {
		t.Errorf("JSON: %+v", hl)
	}
}

func TestAdminCLIShow(t *testing.T) {
	h := newFakeHub(t)
	seedFailures(h, 1)
	out, _, err := runCLI(t.Context(), t, "", "admin", "show", h.failures[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	// Compare words, not the spaces tabwriter aligns them with.
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"DESTINATION hubspot", "ERROR validation/invalid_email (HTTP 422)", "PAYLOAD kept, purged after 2026-11-26T09:00:00Z",
		"would write older data over newer",
		"AT EVENT ATTEMPT OUTCOME STATUS ERROR LATENCY_MS ACTOR\n" +
			"2026-11-23T09:00:00Z delivery_attempt 1 retrying 503 transient 120 -\n" +
			"2026-11-23T09:01:00Z delivery_attempt 2 failed 422 validation/invalid_email 80 -",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAdminCLIBulk(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		stdin string
		// wantDry lists the dry_run flag of each bulk request sent.
		wantDry    []bool
		wantPrompt string
		wantOut    string
	}{
		{"replay yes", []string{"replay", "--destination", "hubspot"}, "y\n", []bool{true, false}, "Replay 3 failed syncs? [y/N]", "replayed 3 of 3 failed syncs"},
		{"replay no", []string{"replay", "--destination", "hubspot"}, "n\n", []bool{true}, "Replay 3 failed syncs? [y/N]", "3 failed syncs match"},
		{"replay no answer", []string{"replay", "--since", "24h"}, "", []bool{true}, "Replay 5 failed syncs? [y/N]", "5 failed syncs match"},
		{"replay --yes", []string{"replay", "--destination", "hubspot", "--yes"}, "", []bool{true, false}, "", "replayed 3 of 3"},
		{"replay --dry-run", []string{"replay", "--destination", "stripe", "--dry-run"}, "y\n", []bool{true}, "", "2 failed syncs match"},
		{"replay ids", []string{"replay", "tr_0:0:hubspot", "tr_2:0:hubspot"}, "", []bool{false}, "", "replayed 2 of 2"},
		{"discard yes", []string{"discard", "--error-class", "validation"}, "yes\n", []bool{true, false}, "Discard 5 failed syncs? [y/N]", "discarded 5 of 5"},
		{"discard no", []string{"discard", "--destination", "stripe"}, "N\n", []bool{true}, "Discard 2 failed syncs? [y/N]", "2 failed syncs match"},
		{"discard ids dry run", []string{"discard", "tr_0:0:hubspot", "--dry-run"}, "", []bool{true}, "", "1 failed sync match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newFakeHub(t)
			seedFailures(h, 5)
			out, errOut, err := runCLI(t.Context(), t, c.stdin, append([]string{"admin"}, c.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var dry []bool
			for _, b := range h.bulk {
				if !strings.HasSuffix(b.path, c.args[0]) {
					t.Errorf("%s sent to %s", c.args[0], b.path)
				}
				dry = append(dry, b.req["dry_run"].(bool))
			}
			if fmt.Sprint(dry) != fmt.Sprint(c.wantDry) {
				t.Errorf("dry_run of the requests sent: %v, want %v", dry, c.wantDry)
			}
			if got := strings.Contains(errOut, "[y/N]"); got != (c.wantPrompt != "") || !strings.Contains(errOut, c.wantPrompt) {
				t.Errorf("prompt %q, want %q", errOut, c.wantPrompt)
			}
			if !strings.Contains(out, c.wantOut) {
				t.Errorf("output %q lacks %q", out, c.wantOut)
			}
			if len(dry) == 2 && fmt.Sprint(h.bulk[0].req["filter"]) != fmt.Sprint(h.bulk[1].req["filter"]) {
				t.Errorf("the dry run and the action used different filters: %v, %v", h.bulk[0].req, h.bulk[1].req)
			}
		})
	}
}

func TestAdminCLIBulkFilterSent(t *testing.T) {
	h := newFakeHub(t)
	_, _, err := runCLI(t.Context(), t, "", "admin", "replay", "--destination", "hubspot", "--resource-type", "Patient",
		"--since", "2026-11-22T00:00:00Z", "--until", "2026-11-23T00:00:00Z", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(h.bulk[0].req)
	want := `{"dry_run":true,"filter":{"destination":"hubspot","resource_type":"Patient","since":"2026-11-22T00:00:00Z","until":"2026-11-23T00:00:00Z"}}`
	if string(got) != want {
		t.Errorf("body %s\nwant %s", got, want)
	}
}

func TestAdminCLIReplayOne(t *testing.T) {
	h := newFakeHub(t)
	out, _, err := runCLI(t.Context(), t, "", "admin", "replay", "tr_0:0:hubspot", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dry run: would update at hubspot (compared with the record at the destination now)",
		"NAME             STATUS", "Patient.name     changed", "Patient.telecom  unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t.Context(), t, "", "admin", "replay", "tr_0:0:hubspot")
	if err != nil || !strings.Contains(out, "replayed tr_0:0:hubspot (idempotency key generation 2)") {
		t.Errorf("replay: %v %q", err, out)
	}
	if h.count("POST /admin/failures/tr_0:0:hubspot/replay") != 2 || len(h.bulk) != 0 {
		t.Errorf("requests %v", h.requests)
	}
}

func TestAdminCLIBulkNeedsIDsOrFilter(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"admin", "replay"}, "name failure IDs, or select failed syncs to replay"},
		{[]string{"admin", "discard", "a:0:b", "--destination", "x"}, "not both"},
	}
	for _, c := range cases {
		h := newFakeHub(t)
		_, _, err := runCLI(t.Context(), t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
		if len(h.auths) != 0 {
			t.Errorf("%v sent requests", c.args)
		}
	}
}

func TestAdminCLIPauseResume(t *testing.T) {
	cases := []struct{ verb, want string }{
		{"pause", "stripe paused: deliveries wait in the queue"},
		{"resume", "stripe resumed: deliveries flow"},
	}
	for _, c := range cases {
		h := newFakeHub(t)
		out, _, err := runCLI(t.Context(), t, "", "admin", c.verb, "stripe")
		if err != nil || strings.TrimSpace(out) != c.want {
			t.Errorf("%s: %v %q", c.verb, err, out)
		}
		if h.count("POST /admin/destinations/stripe/"+c.verb) != 1 {
			t.Errorf("%s: requests %v", c.verb, h.requests)
		}
	}
}
