// Command loadgen measures Switchboard against a bare River baseline in the
// same run, on the same PostgreSQL, and writes the table to BENCHMARKS.md.
//
//	accept:     the hub's accept path (HTTP, FHIR validation, routing,
//	            sealing, transfer + delivery rows + River job in one
//	            transaction) vs a bare program inserting one River job per
//	            transaction, at the same concurrency.
//	webhook:    signed Standard Webhooks events (10% re-sent duplicates)
//	            POSTed to /webhooks/sink at the same concurrency, the River
//	            workers running: acknowledgement latency against a 20 ms p99.
//	end-to-end: jobs worked to a local HTTP sink: the hub's deliver worker
//	            (unseal, map, outbound client with breaker and retries,
//	            outcome recorded) vs a bare River worker doing the same POST.
//
// Every phase runs -rounds times; the table shows medians and hub/bare
// ratios. It is a load generator, not a test: run it with `make bench`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"sort"
	"time"
)

type options struct {
	db         string
	n          int
	e2eN       int
	conc       int
	workers    int
	rounds     int
	out        string
	cpuProfile string
	// webhookRate is the webhook phase's arrival rate (0: closed loop at -c).
	webhookRate int
	whProfile   string
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", os.Getenv("DATABASE_URL"), "PostgreSQL URL of an empty database (required)")
	flag.IntVar(&o.n, "n", 4000, "requests per accept round, distinct events per webhook round")
	flag.IntVar(&o.e2eN, "e2e-n", 4000, "deliveries per end-to-end round")
	flag.IntVar(&o.conc, "c", 16, "concurrent clients on the accept path")
	flag.IntVar(&o.workers, "workers", 50, "River workers for end-to-end (hub and bare alike)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds per phase (the table shows medians)")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "markdown file to write")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the hub's accept rounds here")
	flag.IntVar(&o.webhookRate, "webhook-rate", 200, "webhooks per second in the webhook phase (open loop); 0 sends closed-loop at -c")
	flag.StringVar(&o.whProfile, "webhook-cpuprofile", "", "write a CPU profile of the last webhook round here")
	flag.Parse()
	if o.db == "" {
		log.Fatal("loadgen: -db or DATABASE_URL is required (make bench starts a throwaway PostgreSQL)")
	}
	ctx := context.Background()
	env, err := newEnv(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	defer env.close()

	var res results
	for r := 1; r <= o.rounds; r++ {
		log.Printf("round %d/%d", r, o.rounds)
		must(env.reset(ctx))
		res.bareAccept = append(res.bareAccept, must2(env.bareAccept(ctx)))
		must(env.reset(ctx))
		res.svcAccept = append(res.svcAccept, must2(env.serviceAccept(ctx)))
		must(env.reset(ctx))
		var stop func()
		if o.cpuProfile != "" && r == o.rounds {
			stop = startProfile(o.cpuProfile)
		}
		res.hubAccept = append(res.hubAccept, must2(env.hubAccept(ctx)))
		if stop != nil {
			stop()
		}
		must(env.reset(ctx))
		stop = nil
		if o.whProfile != "" && r == o.rounds {
			stop = startProfile(o.whProfile)
		}
		res.webhook = append(res.webhook, must2(env.hubWebhook(ctx, r)))
		if stop != nil {
			stop()
		}
		must(env.reset(ctx))
		res.bareE2E = append(res.bareE2E, must2(env.bareE2E(ctx)))
		must(env.reset(ctx))
		res.hubE2E = append(res.hubE2E, must2(env.hubE2E(ctx)))
	}
	md := res.markdown(o, env.describe(ctx))
	fmt.Print(md)
	if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
}

func startProfile(path string) func() {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func must2[T any](v T, err error) T {
	must(err)
	return v
}

// run is one measured round.
type run struct {
	n        int
	elapsed  time.Duration
	lat      []time.Duration // per request, accept rounds only
	failures int
}

func (r run) perSec() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r run) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}
