package audit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/switchboard-health/switchboard/hub/audit"
	"github.com/switchboard-health/switchboard/hub/seal"
	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
	"github.com/switchboard-health/switchboard/hub/transferlog"
)

// seedLarge chains n delivery rows (every column set, as a busy hub's
// log) on SQLite and returns the audit routes over them.
func seedLarge(tb testing.TB, n int) *echo.Echo {
	tb.Helper()
	mac, err := seal.NewMAC([]byte(strings.Repeat("k", 32)))
	if err != nil {
		tb.Fatal(err)
	}
	st := testenv.Store(tb, store.SQLite)
	l := &transferlog.Log{Store: st, MAC: mac}
	ctx := context.Background()
	const batch = 5000
	rows := make([]transferlog.Row, 0, batch)
	for i := range n {
		rows = append(rows, transferlog.Row{At: base.Add(time.Duration(i) * time.Millisecond), Event: transferlog.EventDeliveryAttempt,
			TransferID: fmt.Sprintf("tr_%012d", i/3), Direction: transferlog.Outbound, Source: "switchboard",
			Destination: "payments", ResourceType: "Appointment", Interaction: "update",
			SubjectHash: transferlog.SubjectHash(mac, fmt.Sprintf("Patient/%d", i%5000)), Outcome: "delivered",
			HTTPStatus: 200, Attempt: 1 + i%3, LatencyMS: int64(20 + i%200), Actor: "switchboard",
			PayloadDigest: mac.Sum([]byte(fmt.Sprint(i))), Detail: map[string]any{"entry": i % 7, "key_generation": 1}})
		if len(rows) == batch || i == n-1 {
			if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return transferlog.Stage(ctx, tx, rows...) }); err != nil {
				tb.Fatal(err)
			}
			if err := l.Flush(ctx); err != nil {
				tb.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	e := echo.New()
	(&audit.Handlers{Log: l, MAC: mac, Actor: func(echo.Context) string { return "cl_bench" }}).Register(e.Group("/audit"))
	return e
}

// discard is a ResponseWriter that drops the body, counting it, and can
// sample the live heap as the export goes.
type discard struct {
	header  http.Header
	status  int
	written int64
	// sampleEvery > 0 samples the live heap (after a GC) every so many bytes.
	sampleEvery int64
	nextSample  int64
	peakLive    uint64
}

func (d *discard) Header() http.Header { return d.header }
func (d *discard) WriteHeader(s int)   { d.status = s }
func (d *discard) Flush()              {}
func (d *discard) Write(p []byte) (int, error) {
	d.written += int64(len(p))
	if d.sampleEvery > 0 && d.written >= d.nextSample {
		d.nextSample = d.written + d.sampleEvery
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		d.peakLive = max(d.peakLive, ms.HeapAlloc)
	}
	return len(p), nil
}

// export runs one full export and returns the writer and the bytes
// allocated meanwhile.
func export(tb testing.TB, e *echo.Echo, format string, sampleEvery int64) (*discard, uint64) {
	tb.Helper()
	w := &discard{header: http.Header{}, sampleEvery: sampleEvery}
	req := httptest.NewRequest(http.MethodGet, "/audit/export?format="+format, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	e.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	if w.status != http.StatusOK {
		tb.Fatalf("export: status %d", w.status)
	}
	return w, after.TotalAlloc - before.TotalAlloc
}

// BenchmarkExport100k exports 100,000 chained rows as NDJSON through the
// handler to a discarding client. rows/s is the export rate; B/row is what
// it allocates per row (garbage, not growth: see
// TestExportMemoryIsConstant); live-heap-MiB is the largest live heap seen.
func BenchmarkExport100k(b *testing.B) {
	const n = 100_000
	e := seedLarge(b, n)
	for _, format := range []string{"ndjson", "csv"} {
		b.Run(format, func(b *testing.B) {
			var alloc uint64
			var peak uint64
			var bytes int64
			start := time.Now()
			for b.Loop() {
				w, a := export(b, e, format, 8<<20)
				alloc += a
				peak = max(peak, w.peakLive)
				bytes = w.written
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(alloc)/float64(n*b.N), "B/row")
			b.ReportMetric(float64(peak)/(1<<20), "live-heap-MiB")
			b.ReportMetric(float64(bytes)/n, "out-B/row")
		})
	}
}

// TestExportMemoryIsConstant exports 10,000 and 100,000 rows: the bytes
// allocated per row and the largest live heap must not grow with the
// log, or a year of rows would take the hub down on export.
func TestExportMemoryIsConstant(t *testing.T) {
	type result struct {
		perRow   float64
		peakLive uint64
	}
	measure := func(n int) result {
		e := seedLarge(t, n)
		export(t, e, "ndjson", 0) // warm up: pools, prepared statements
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		w, alloc := export(t, e, "ndjson", 1<<20)
		t.Logf("%d rows: %.0f B allocated per row, live heap at most %.1f MiB (%.1f MiB before), %.1f MiB out",
			n, float64(alloc)/float64(n), float64(w.peakLive)/(1<<20), float64(base.HeapAlloc)/(1<<20), float64(w.written)/(1<<20))
		return result{float64(alloc) / float64(n), w.peakLive}
	}
	small, large := measure(10_000), measure(100_000)
	if large.perRow > small.perRow*1.25 {
		t.Errorf("allocation per row grows with the log: %.0f B at 10k rows, %.0f B at 100k", small.perRow, large.perRow)
	}
	// 2 MiB of slack for GC timing; a leak of 50 B a row would add 4 MiB.
	if large.peakLive > small.peakLive+2<<20 {
		t.Errorf("live heap grows with the log: %d B at 10k rows, %d B at 100k", small.peakLive, large.peakLive)
	}
}
