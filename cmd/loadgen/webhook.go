package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-health/switchboard/connectors/webhook"
	"github.com/switchboard-health/switchboard/hub/config"
	"github.com/switchboard-health/switchboard/hub/store"
)

// The webhook phase measures how fast the hub acknowledges a vendor's
// webhook: POST /webhooks/sink, signed with Standard Webhooks, answered 200
// once the event is verified, de-duplicated and stored with its job in one
// transaction (hub/webhook/intake.go). The target is a p99 under 20 ms at
// the benchmark load (-c concurrent senders).
const (
	// webhookSecretVar names the variable the sink's webhook_secrets_env
	// points at; the load generator sets it in the hub's environment.
	webhookSecretVar = "LOADGEN_WEBHOOK_SECRET"
	// webhookP99Target is the acknowledgement latency the hub must stay under.
	webhookP99Target = 20 * time.Millisecond
	// webhookDupEvery: after every dupEvery distinct events, one is re-sent
	// (vendors retry when an answer is slow or lost), so 10% duplicates.
	webhookDupEvery = 10
)

// newWebhookSecret returns a serialized Standard Webhooks secret
// ("whsec_<base64>") and its raw key.
func newWebhookSecret() (string, []byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", nil, fmt.Errorf("webhook secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key), key, nil
}

// webhookRun is one webhook round: latencies of every POST, distinct and
// duplicate, and what the hub answered.
type webhookRun struct {
	run
	accepted, duplicate   int // outcomes the API answered
	wantAccepted, wantDup int
	jobsDone, jobs        int // webhook jobs worked by the end of the round
}

// webhookEvent is a small FHIR-flavoured event about synthetic patient i:
// ids and a made-up MRN only, no names, dates of birth or other PHI.
func webhookEvent(i int) []byte {
	return fmt.Appendf(nil, `{"type":"patient.updated","timestamp":%q,"data":{"resourceType":"Patient","id":"wh-%07d",`+
		`"meta":{"versionId":"1"},"identifier":[{"system":"https://clinic.example/mrn","value":"MRN-W%07d"}],"active":true}}`,
		time.Now().UTC().Format(time.RFC3339), i, i)
}

// webhookPlan is the order events are sent in: every distinct event once,
// and after every webhookDupEvery of them a re-send of one sent about
// 4×conc requests earlier (usually answered by then; when it is still in
// flight the intake must de-duplicate concurrently, which it does).
func webhookPlan(n, conc int) []int {
	plan := make([]int, 0, n+n/webhookDupEvery)
	lag := 4 * conc
	for k := range n {
		plan = append(plan, k)
		if (k+1)%webhookDupEvery == 0 {
			dup := k - lag
			if dup < 0 {
				dup = k - (webhookDupEvery - 1)
			}
			plan = append(plan, dup)
		}
	}
	return plan
}

// hubWebhook runs one webhook round against a hub of role "all": its River
// workers work the webhook jobs while the requests are measured, as in
// production. Latency is the client's: the full HTTP round trip to the 200.
func (e *env) hubWebhook(ctx context.Context, round int) (webhookRun, error) {
	// Earlier rounds' events would only make the de-duplication index bigger.
	if _, err := e.pool.Exec(ctx, `TRUNCATE switchboard_webhook`); err != nil {
		return webhookRun{}, err
	}
	h, err := e.hub(ctx, config.RoleAll)
	if err != nil {
		return webhookRun{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.Store.Close()
		return webhookRun{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Serve(sctx, ln) }()
	url := "http://" + ln.Addr().String() + "/webhooks/sink"

	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	idPrefix := "msg_" + hex.EncodeToString(nonce) + "_r" + strconv.Itoa(round) + "_"
	bodies := make([][]byte, e.o.n)
	for i := range bodies {
		bodies[i] = webhookEvent(i)
	}
	plan := webhookPlan(e.o.n, e.o.conc)
	var accepted, duplicate atomic.Int64
	send := func(i int) error {
		k := plan[i]
		id, body, now := idPrefix+strconv.Itoa(k), bodies[k], time.Now()
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderID, id)
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(e.whKey, id, now, body))
		resp, err := e.http.Do(req)
		if err != nil {
			return err
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(answer))
		}
		var a struct {
			Outcome string `json:"outcome"`
		}
		_ = json.Unmarshal(answer, &a)
		switch a.Outcome {
		case "accepted":
			accepted.Add(1)
		case "duplicate":
			duplicate.Add(1)
		default:
			return fmt.Errorf("200 with outcome %q", a.Outcome)
		}
		return nil
	}
	var r run
	if e.o.webhookRate > 0 {
		r = openLoop(len(plan), e.o.webhookRate, send)
	} else {
		r = closedLoop(len(plan), e.o.conc, send)
	}
	wr := webhookRun{run: r, accepted: int(accepted.Load()), duplicate: int(duplicate.Load()),
		wantAccepted: e.o.n, wantDup: len(plan) - e.o.n}
	// How far the workers kept up while the requests were measured.
	wr.jobsDone, wr.jobs, err = store.KindCount(ctx, store.PgxQuerier(e.pool), "switchboard.webhook")
	cancel()
	if serr := <-done; serr != nil {
		log.Printf("webhook round %d: serve: %v", round, serr)
	}
	if err != nil {
		return wr, fmt.Errorf("count webhook jobs: %w", err)
	}
	if wr.accepted != wr.wantAccepted || wr.duplicate != wr.wantDup {
		log.Printf("webhook round %d: answered %d accepted / %d duplicate, want %d / %d",
			round, wr.accepted, wr.duplicate, wr.wantAccepted, wr.wantDup)
	}
	return wr, nil
}

// webhookMarkdown writes the webhook section of the report.
func webhookMarkdown(b *strings.Builder, o options, rs []webhookRun) {
	if len(rs) == 0 {
		return
	}
	runs := make([]run, len(rs))
	var errs, mismatched int
	for i, r := range rs {
		runs[i] = r.run
		errs += r.failures
		if r.accepted != r.wantAccepted || r.duplicate != r.wantDup {
			mismatched++
		}
	}
	at := func(p float64) func(run) float64 { return func(r run) float64 { return ms(r.pct(p)) } }
	p99 := medianOf(runs, at(0.99))
	verdict := "**PASS**"
	if p99 >= ms(webhookP99Target) || errs > 0 || mismatched > 0 {
		verdict = "**FAIL**"
	}
	load := fmt.Sprintf("%d concurrent senders, as fast as answered", o.conc)
	if o.webhookRate > 0 {
		load = fmt.Sprintf("arriving at a fixed %d per second, whatever the answers' pace (open loop)", o.webhookRate)
	}
	fmt.Fprintf(b, "## Webhook acknowledgement (%d signed events + %d re-sent duplicates per round, %s)\n\n",
		rs[0].wantAccepted, rs[0].wantDup, load)
	fmt.Fprintf(b, "Target: p99 under %d ms. `POST /webhooks/sink` (Standard Webhooks, HMAC-SHA256) → 200 once verified, de-duplicated and stored with its River job in one transaction; latency is the sender's full HTTP round trip. The hub runs as role `all`: its River workers work the webhook jobs during the measurement.\n\n",
		webhookP99Target.Milliseconds())
	b.WriteString("| | per second | p50 ms | p90 ms | p99 ms | max ms | errors | p99 < 20 ms |\n|---|---:|---:|---:|---:|---:|---:|:---:|\n")
	fmt.Fprintf(b, "| Switchboard: `POST /webhooks/sink` → 200 | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %s |\n\n",
		medianOf(runs, func(r run) float64 { return r.perSec() }), medianOf(runs, at(0.50)), medianOf(runs, at(0.90)),
		p99, medianOf(runs, at(1)), errs+mismatched, verdict)
	b.WriteString("Per round: ")
	for i, r := range rs {
		fmt.Fprintf(b, "round %d %.0f/s, p50 %.2f, p99 %.2f, max %.2f ms, answered %d accepted / %d duplicate (want %d / %d), webhook jobs worked by the end %d of %d; ",
			i+1, r.perSec(), ms(r.pct(0.50)), ms(r.pct(0.99)), ms(r.pct(1)), r.accepted, r.duplicate, r.wantAccepted, r.wantDup, r.jobsDone, r.jobs)
	}
	b.WriteString("\n\n")
}

// openLoop starts op(i) at a fixed rate, each in its own goroutine, so a
// slow answer delays no later request (the vendors' side of a webhook
// does not wait for the previous one): latency is then what a vendor sees
// at that load, not a queue the load generator built.
func openLoop(n, perSec int, op func(i int) error) run {
	lat := make([]time.Duration, n)
	var failures atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(perSec)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			if err := op(i); err != nil {
				if failures.Add(1) == 1 {
					log.Printf("first error: %v", err)
				}
			}
			lat[i] = time.Since(t)
		}()
	}
	wg.Wait()
	return run{n: n, elapsed: time.Since(start), lat: lat, failures: int(failures.Load())}
}
