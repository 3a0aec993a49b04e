package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

type results struct {
	bareAccept, svcAccept, hubAccept, bareE2E, hubE2E []run
	webhook                                           []webhookRun
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianOf(rs []run, f func(run) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (res results) markdown(o options, pg string) string {
	var b strings.Builder
	rate := func(r run) float64 { return r.perSec() }
	p50 := func(r run) float64 { return ms(r.pct(0.50)) }
	p99 := func(r run) float64 { return ms(r.pct(0.99)) }
	fails := func(rs []run) int {
		n := 0
		for _, r := range rs {
			n += r.failures
		}
		return n
	}
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (cmd/loadgen) on %s. %s, Go %s, GOMAXPROCS %d, %s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS+"/"+runtime.GOARCH, runtime.Version(), runtime.GOMAXPROCS(0), pg)
	fmt.Fprintf(&b, "PostgreSQL with its default durability settings (fsync and synchronous_commit on). Medians of %d rounds, all measured in this one run; the load generator, the hub and the baseline share the machine.\n\n", o.rounds)
	fmt.Fprintf(&b, "## Accept path (%d requests per round, %d concurrent clients)\n\n", o.n, o.conc)
	b.WriteString("| | per second | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| bare River: one job inserted per transaction | %.0f | %.2f | %.2f | %d |\n",
		medianOf(res.bareAccept, rate), medianOf(res.bareAccept, p50), medianOf(res.bareAccept, p99), fails(res.bareAccept))
	fmt.Fprintf(&b, "| Switchboard: `POST /fhir/R4/Patient` → 202 | %.0f | %.2f | %.2f | %d |\n",
		medianOf(res.hubAccept, rate), medianOf(res.hubAccept, p50), medianOf(res.hubAccept, p99), fails(res.hubAccept))
	fmt.Fprintf(&b, "| **ratio hub / bare** | **%.0f%%** | | | |\n", 100*medianOf(res.hubAccept, rate)/medianOf(res.bareAccept, rate))
	fmt.Fprintf(&b, "| (diagnostic) the hub's accept transaction alone: no HTTP, no validation | %.0f | %.2f | %.2f | %d |\n\n",
		medianOf(res.svcAccept, rate), medianOf(res.svcAccept, p50), medianOf(res.svcAccept, p99), fails(res.svcAccept))
	webhookMarkdown(&b, o, res.webhook)
	fmt.Fprintf(&b, "## End to end (%d deliveries per round to a local HTTP sink, %d workers)\n\n", o.e2eN, o.workers)
	b.WriteString("| | deliveries per second | errors |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| bare River: worker POSTs the same 2 KB JSON | %.0f | %d |\n", medianOf(res.bareE2E, rate), fails(res.bareE2E))
	fmt.Fprintf(&b, "| Switchboard: unseal, map, outbound client, record outcome | %.0f | %d |\n", medianOf(res.hubE2E, rate), fails(res.hubE2E))
	fmt.Fprintf(&b, "| **ratio hub / bare** | **%.0f%%** | |\n\n", 100*medianOf(res.hubE2E, rate)/medianOf(res.bareE2E, rate))
	b.WriteString("Per-round numbers (per second): ")
	for i := range res.hubAccept {
		fmt.Fprintf(&b, "round %d accept bare %.0f / hub %.0f, e2e bare %.0f / hub %.0f; ", i+1,
			res.bareAccept[i].perSec(), res.hubAccept[i].perSec(), res.bareE2E[i].perSec(), res.hubE2E[i].perSec())
	}
	b.WriteString("\n")
	return b.String()
}
