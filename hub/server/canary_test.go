package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

// A Patient with a unique family name passes through; afterwards neither the
// database files nor the logs hold that name anywhere, while the EHR sandbox
// (the vendor, which is meant to have it) does: a positive control that
// proves the name was really sent.
func TestCanaryPHIIsNeverAtRest(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			h := start(t, d)
			family := fmt.Sprintf("Zqxcanary%08d", rand.IntN(1e8))
			email := strings.ToLower(family) + "@canary.example"
			body := strings.NewReplacer("Chalmers", family, "peter@example.org", email).Replace(patient)
			r := h.post("/fhir/R4/Patient", body, "Idempotency-Key", "canary-"+family)
			if r.status != http.StatusAccepted {
				t.Fatalf("%d %s", r.status, r.body)
			}
			loc := r.header.Get("Content-Location")
			if st := h.waitFor(loc, 10*time.Second); st.State != "delivered" {
				t.Fatalf("not delivered: %+v", st)
			}
			// And a second one left failing in the queue, so a sealed payload is at rest during the scan.
			h.ehrFaults(`{"fail_next": 1000, "fail_status": 503}`)
			r2 := h.post("/fhir/R4/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"`+family+`"}}`)
			if r2.status != http.StatusAccepted {
				t.Fatalf("%d %s", r2.status, r2.body)
			}
			time.Sleep(500 * time.Millisecond)

			// Positive control: the vendor got the name.
			resp, err := http.Get(h.ehr.URL + "/fhir/R4/Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|12345")
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			_, _ = got.ReadFrom(resp.Body)
			resp.Body.Close()
			if !strings.Contains(got.String(), family) {
				t.Fatalf("positive control failed: the sandbox does not have the canary: %s", got.String())
			}

			h.assertNoCanary(d, [][]byte{[]byte(family), []byte(email)})
			st := h.do(http.MethodGet, loc, "", "")
			if bytes.Contains(st.body, []byte(family)) {
				t.Fatal("canary in the status response")
			}
		})
	}
}

// assertNoCanary fails the test if any needle is in the hub's database
// files (SQLite's folder, or PostgreSQL's data directory after a
// checkpoint) or its logs.
func (h *harness) assertNoCanary(dialect string, needles [][]byte) {
	t := h.t
	t.Helper()
	var scanned []string
	if dialect == dialectSQLite {
		scanned = scanFiles(t, filepath.Dir(h.sqlitePath), needles)
	} else {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, h.pgURL)
		if err != nil {
			t.Fatal(err)
		}
		// Push everything from shared buffers into the data files.
		if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		scanned = scanFiles(t, testenv.PostgresDataDir(t), needles)
	}
	if len(scanned) == 0 {
		t.Fatal("scanned no database files")
	}
	t.Logf("scanned %d database files for %d canaries", len(scanned), len(needles))
	logs := h.logs.String()
	if len(logs) == 0 {
		t.Fatal("captured no logs")
	}
	for _, n := range needles {
		if strings.Contains(logs, string(n)) {
			t.Fatalf("canary %q found in the logs", n)
		}
	}
}

// scanFiles fails the test if any needle occurs in any regular file under
// dir, and returns the files read.
func scanFiles(t *testing.T, dir string, needles [][]byte) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // files vanish under a running database
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		files = append(files, path)
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("canary %q found at rest in %s", n, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
