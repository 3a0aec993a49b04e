package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/apiclient"
)

// countingWriter counts what the command wrote and says when it has seen
// at least `at` bytes.
type countingWriter struct {
	mu      sync.Mutex
	n       int64
	lines   int
	at      int64
	reached chan struct{}
}

func newCountingWriter(at int64) *countingWriter {
	return &countingWriter{at: at, reached: make(chan struct{})}
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	before := w.n
	w.n += int64(len(p))
	w.lines += bytes.Count(p, []byte("\n"))
	if before < w.at && w.n >= w.at {
		close(w.reached)
	}
	return len(p), nil
}

// exportLines is the export test's body size: large enough that buffering
// it would show, 200k rows.
const exportLines = 200_000

func exportLine(i int) string {
	return fmt.Sprintf(`{"seq":%d,"at":"2026-11-23T10:00:00Z","event":"delivery_attempt","outcome":"delivered","prev_hash":"p%d","hash":"h%d"}`+"\n", i, i-1, i)
}

// streamExport serves exportLines rows, and after the first half waits
// until the client has written most of that half on: a client that read
// the whole body before writing would never get there.
func streamExport(t *testing.T, h *fakeHub, cw *countingWriter) (total int64) {
	var half int64
	for i := 1; i <= exportLines; i++ {
		n := int64(len(exportLine(i)))
		if i <= exportLines/2 {
			half += n
		}
		total += n
	}
	// Slack for the bytes in flight: socket, transport and copy buffers.
	cw.at = half - 256<<10
	h.export = func(w http.ResponseWriter) {
		bw := bufio.NewWriterSize(w, 32<<10)
		for i := 1; i <= exportLines; i++ {
			bw.WriteString(exportLine(i))
			if i == exportLines/2 {
				bw.Flush()
				w.(http.Flusher).Flush()
				select {
				case <-cw.reached:
				case <-time.After(10 * time.Second):
					t.Error("the command wrote nothing while the export was under way: it buffers the body")
				}
			}
		}
		bw.Flush()
	}
	return total
}

func TestAuditExportStreams(t *testing.T) {
	h := newFakeHub(t)
	cw := newCountingWriter(0)
	total := streamExport(t, h, cw)
	var errOut bytes.Buffer
	if err := runCLITo(t.Context(), cw, &errOut, "", "audit", "export", "--destination", "hubspot"); err != nil {
		t.Fatal(err)
	}
	if cw.n != total || cw.lines != exportLines {
		t.Errorf("wrote %d bytes, %d lines; want %d, %d", cw.n, cw.lines, total, exportLines)
	}
}

func TestAuditExportToFile(t *testing.T) {
	h := newFakeHub(t)
	total := streamExport(t, h, newCountingWriter(0))
	h.export = func(w http.ResponseWriter) { // no gate: the file is the writer
		for i := 1; i <= exportLines; i++ {
			w.Write([]byte(exportLine(i)))
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.ndjson")
	_, errOut, err := runCLI(t.Context(), t, "", "audit", "export", "--out", path, "--format", "csv", "--from", "2026-11-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) != total || bytes.Count(b, []byte("\n")) != exportLines {
		t.Fatalf("file: %d bytes, %v; want %d", len(b), err, total)
	}
	if !strings.Contains(errOut, fmt.Sprintf("wrote %d bytes to %s", total, path)) {
		t.Errorf("stderr %q", errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestAuditVerify(t *testing.T) {
	h := newFakeHub(t)
	cp := filepath.Join(t.TempDir(), "audit.checkpoint")
	ok := func(rows, head int64) apiclient.VerifyReport {
		return apiclient.VerifyReport{OK: true, Rows: rows, Head: apiclient.Checkpoint{Seq: head, Hash: fmt.Sprintf("h%d", head)}}
	}
	broken := apiclient.VerifyReport{Rows: 7, Head: apiclient.Checkpoint{Seq: 12, Hash: "h12"},
		Break: &apiclient.Break{Seq: 7, Reason: "hash does not match the row's columns (the row was altered)"}}
	// The steps run in order against one checkpoint file.
	steps := []struct {
		name      string
		report    apiclient.VerifyReport
		args      []string
		wantQuery string
		wantOut   string
		broken    bool
		wantFile  string // the checkpoint file after the step
	}{
		{"first run creates the checkpoint", ok(10, 10), nil, "", "ok: 10 rows verified, head seq 10", false, `{"seq":10,"hash":"h10"}`},
		{"second run checks against it and moves it", ok(12, 12), nil, "checkpoint_hash=h10&checkpoint_seq=10", "checkpoint row 10 holds", false, `{"seq":12,"hash":"h12"}`},
		{"broken chain", broken, nil, "checkpoint_hash=h12&checkpoint_seq=12", "BROKEN at row 7: hash does not match the row's columns (the row was altered)", true, `{"seq":12,"hash":"h12"}`},
		{"broken chain as JSON", broken, []string{"-o", "json"}, "checkpoint_hash=h12&checkpoint_seq=12", `"reason": "hash does not match`, true, `{"seq":12,"hash":"h12"}`},
	}
	for i, s := range steps {
		h.verify = s.report
		out, _, err := runCLI(t.Context(), t, "", append([]string{"audit", "verify", "--checkpoint", cp}, s.args...)...)
		if s.broken != errors.Is(err, errBroken) || !s.broken && err != nil {
			t.Errorf("%s: error %v, want broken %v", s.name, err, s.broken)
		}
		if !strings.Contains(out, s.wantOut) {
			t.Errorf("%s: output %q lacks %q", s.name, out, s.wantOut)
		}
		if got := h.verifyQueries[i]; got != s.wantQuery {
			t.Errorf("%s: query %q, want %q", s.name, got, s.wantQuery)
		}
		b, _ := os.ReadFile(cp)
		if strings.TrimSpace(string(b)) != s.wantFile {
			t.Errorf("%s: checkpoint file %s, want %s", s.name, b, s.wantFile)
		}
	}

	if err := os.WriteFile(cp, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t.Context(), t, "", "audit", "verify", "--checkpoint", cp); err == nil || !strings.Contains(err.Error(), "is not") {
		t.Errorf("a damaged checkpoint file: %v", err)
	}
}

// tailTransfers returns the transfer ids of the rows tail printed, and
// whether it printed an audit_read row.
func tailTransfers(t *testing.T, out string) (ids []string, reads bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "SEQ") {
		t.Fatalf("no header:\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if f[2] == "audit_read" {
			reads = true
			continue
		}
		ids = append(ids, f[len(f)-1])
	}
	return ids, reads
}

func transferRange(from, to int) []string {
	var ids []string
	for i := from; i <= to; i++ {
		ids = append(ids, fmt.Sprintf("tr_%d", i))
	}
	return ids
}

func TestAuditTailLastRows(t *testing.T) {
	cases := []struct {
		name     string
		seed     int
		args     []string
		maxReads int // requests to /audit/log
	}{
		{"small log", 50, nil, 1},
		{"large log", 5000, nil, 30},
		{"large log, filtered", 5000, []string{"--event", "delivery_attempt"}, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newFakeHub(t)
			h.addDeliveries(c.seed)
			out, _, err := runCLI(t.Context(), t, "", append([]string{"audit", "tail"}, c.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			ids, reads := tailTransfers(t, out)
			if want := transferRange(c.seed-19, c.seed); fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Errorf("printed %v\nwant %v", ids, want)
			}
			if reads {
				t.Errorf("printed its own audit_read rows:\n%s", out)
			}
			if n := h.count("GET /audit/log"); n > c.maxReads {
				t.Errorf("%d requests to find the end, want at most %d", n, c.maxReads)
			}
		})
	}
}

func TestAuditTailFollow(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		wantReads bool
	}{
		{"own reads hidden", nil, false},
		{"own reads shown", []string{"--own-reads"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newFakeHub(t)
			h.addDeliveries(30)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			go func() {
				// New rows once the tail is following, in two bursts.
				for h.count("GET /audit/log") < 3 {
					time.Sleep(10 * time.Millisecond)
				}
				h.addDeliveries(2)
				time.Sleep(200 * time.Millisecond)
				h.addDeliveries(1)
			}()
			out, errOut, err := runCLI(ctx, t, "", append([]string{"audit", "tail", "--follow", "--interval", "100ms"}, c.args...)...)
			if err != nil {
				t.Fatalf("an interrupted follow is a normal end: %v\n%s", err, errOut)
			}
			ids, reads := tailTransfers(t, out)
			// Rows appended later carry the next seq, after the reads' rows.
			if len(ids) != 23 || fmt.Sprint(ids[:20]) != fmt.Sprint(transferRange(11, 30)) {
				t.Fatalf("printed %v", ids)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Errorf("%s printed twice", id)
				}
				seen[id] = true
			}
			if reads != c.wantReads {
				t.Errorf("audit_read rows printed: %v, want %v", reads, c.wantReads)
			}
		})
	}
}

func TestAuditTailJSON(t *testing.T) {
	h := newFakeHub(t)
	h.addDeliveries(25)
	out, _, err := runCLI(t.Context(), t, "", "audit", "tail", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	var r apiclient.Row
	if err := json.Unmarshal([]byte(lines[19]), &r); err != nil || r.Seq != 25 || r.TransferID != "tr_25" {
		t.Errorf("last line %s: %+v %v", lines[19], r, err)
	}
}

func TestAuditDigest(t *testing.T) {
	h := newFakeHub(t)
	doc := []byte(`{"resourceType":"Patient","id":"x"}`)
	sum := sha256.Sum256(doc)
	digest := hex.EncodeToString(sum[:])
	h.addDeliveries(3)
	h.rows[1].PayloadDigest = digest
	path := filepath.Join(t.TempDir(), "patient.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t.Context(), t, "", "audit", "digest", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "digest: "+digest+"\n1 matching delivery row\n") || !strings.Contains(out, "tr_2") {
		t.Errorf("output:\n%s", out)
	}
	out, _, err = runCLI(t.Context(), t, string(doc), "audit", "digest", "-", "-o", "json")
	var res apiclient.DigestResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Digest != digest || len(res.Matches) != 1 {
		t.Errorf("stdin, JSON: %v %s", err, out)
	}
}
