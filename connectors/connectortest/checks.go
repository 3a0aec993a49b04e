package connectortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// sample returns the i-th sample with the fields the hub fills in set.
func (o *Options) sample(i, attempt int) connectors.Delivery {
	d := o.Samples[i]
	if d.IdempotencyKey == "" {
		d.IdempotencyKey = fmt.Sprintf("kit-key-%d-%s", i, d.ResourceType)
	}
	if d.TransferID == "" {
		d.TransferID = fmt.Sprintf("kit-transfer-%d", i)
	}
	if d.Destination == "" {
		d.Destination = "kit"
	}
	d.Attempt = attempt
	return d
}

// deliver is one delivery attempt, bounded so a connector that hangs fails
// the check instead of the test binary.
func deliver(v *vendor, conn connectors.Connector, d connectors.Delivery) (connectors.Result, error) {
	return deliverWithin(v, conn, d, 20*tryTimeout)
}

// deliverWithin is one delivery attempt under the caller's deadline.
func deliverWithin(v *vendor, conn connectors.Connector, d connectors.Delivery, within time.Duration) (connectors.Result, error) {
	v.setAttempt(d.Attempt)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return conn.Deliver(ctx, d)
}

// checkDeliver: every sample goes through against the ordinary answers.
func checkDeliver(r reporter, o *Options) {
	r.Helper()
	for i := range o.Samples {
		v, conn := newVendor(r, o)
		if conn == nil {
			return
		}
		d := o.sample(i, 1)
		if _, err := deliver(v, conn, d); err != nil {
			r.Errorf("sample %d (%s): Deliver against the vendor's ordinary answers: %v", i, d.ResourceType, err)
			continue
		}
		if len(v.recorded()) == 0 {
			r.Errorf("sample %d (%s): Deliver succeeded but no write reached the vendor", i, d.ResourceType)
		}
	}
}

// derived reports whether a vendor key belongs to the delivery's key: the
// key itself, or one derived from it for a call of several ("<key>:item:1").
func derived(got, key string) bool {
	return got == key || strings.HasPrefix(got, key+":")
}

// checkIdempotencyKey: the key reaches the vendor on every write of every
// try, and the queue's next attempt repeats it.
func checkIdempotencyKey(r reporter, o *Options) {
	r.Helper()
	for i := range o.Samples {
		v, conn := newVendor(r, o)
		if conn == nil {
			return
		}
		// Attempt 1: every write fails, so every inline try is the same
		// write; attempt 2: the vendor is well again.
		v.scenario(all(fault{status: http.StatusServiceUnavailable}))
		d := o.sample(i, 1)
		_, err1 := deliver(v, conn, d)
		first := v.recorded()
		v.scenario(nil)
		d.Attempt = 2
		_, err2 := deliver(v, conn, d)
		second := v.recorded()
		name := fmt.Sprintf("sample %d (%s)", i, d.ResourceType)
		if err1 == nil {
			r.Errorf("%s: Deliver succeeded although every write was answered 503", name)
		}
		if err2 != nil {
			r.Errorf("%s: the retry after a 503 failed against the ordinary answers: %v", name, err2)
		}
		if len(first) == 0 || len(second) == 0 {
			r.Errorf("%s: no write reached the vendor (attempt 1: %d, attempt 2: %d)", name, len(first), len(second))
			continue
		}
		for _, w := range append(append([]write(nil), first...), second...) {
			if !derived(w.key, d.IdempotencyKey) {
				r.Errorf("%s: attempt %d, %s %s carried idempotency key %q, want %q (or %q…)",
					name, w.attempt, w.method, w.path, w.key, d.IdempotencyKey, d.IdempotencyKey+":")
			}
		}
		for _, w := range first[1:] {
			if w.key != first[0].key {
				r.Errorf("%s: an inline retry of %s %s carried key %q, the first try %q", name, w.method, w.path, w.key, first[0].key)
			}
		}
		if second[0].key != first[0].key {
			r.Errorf("%s: attempt 2 sent key %q, attempt 1 %q: a retry must repeat it", name, second[0].key, first[0].key)
		}
	}
}

// statuses are the vendor answers ErrorClasses tries on every write.
var statuses = []int{400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503}

// longRetryAfter is longer than any connector waits inline, so it must come
// back in the error for the queue.
const longRetryAfter = 120 * time.Second

// want is the class a write's answer status must give.
func (o *Options) want(status int) connectors.Class {
	if c, ok := o.Classes[status]; ok {
		return c
	}
	return connectors.ClassifyStatus(status)
}

// checkErrorClasses: a write's failure is classified as the seam says.
func checkErrorClasses(r reporter, o *Options) {
	r.Helper()
	for i := range o.Samples {
		for _, status := range statuses {
			f := fault{status: status}
			if status == http.StatusTooManyRequests {
				f.retryAfter = fmt.Sprint(int(longRetryAfter.Seconds()))
			}
			v, conn := newVendor(r, o)
			if conn == nil {
				return
			}
			v.scenario(all(f))
			d := o.sample(i, 1)
			_, err := deliver(v, conn, d)
			name := fmt.Sprintf("sample %d (%s), vendor answers %d", i, d.ResourceType, status)
			if len(v.recorded()) == 0 {
				r.Errorf("%s: no write reached the vendor", name)
				continue
			}
			var ce *connectors.Error
			switch {
			case err == nil:
				r.Errorf("%s: Deliver succeeded", name)
				continue
			case !errors.As(err, &ce):
				r.Errorf("%s: error %q is no *connectors.Error", name, err)
				continue
			}
			if want := o.want(status); ce.Class != want {
				r.Errorf("%s: class %s, want %s (%v)", name, ce.Class, want, err)
			}
			if ce.Status != status {
				r.Errorf("%s: the error's Status is %d", name, ce.Status)
			}
			if status == http.StatusTooManyRequests && (ce.RetryAfter < longRetryAfter-5*time.Second || ce.RetryAfter > longRetryAfter) {
				r.Errorf("%s with Retry-After %d: the error's RetryAfter is %s, want the vendor's %s",
					name, int(longRetryAfter.Seconds()), ce.RetryAfter, longRetryAfter)
			}
		}
		// The vendor does not answer: the per-try timeout ends the
		// attempt, or the caller's deadline (the job's) ends it during the
		// inline retry. The deadline leaves a loaded machine time to get
		// the first write out.
		for _, within := range []struct {
			name string
			d    time.Duration
		}{{"", 20 * tryTimeout}, {" before the caller's deadline", tryTimeout + tryTimeout/2}} {
			v, conn := newVendor(r, o)
			if conn == nil {
				return
			}
			v.scenario(all(fault{stall: true}))
			d := o.sample(i, 1)
			_, err := deliverWithin(v, conn, d, within.d)
			name := fmt.Sprintf("sample %d (%s), vendor does not answer%s", i, d.ResourceType, within.name)
			switch {
			case len(v.recorded()) == 0:
				r.Errorf("%s: no write reached the vendor", name)
			case err == nil:
				r.Errorf("%s: Deliver succeeded", name)
			case connectors.ClassOf(err) != connectors.Retryable:
				r.Errorf("%s: class %s, want %s (%v)", name, connectors.ClassOf(err), connectors.Retryable, err)
			}
		}
	}
}

// checkNoPHI: the connector's logs and errors hold no canary, whatever the
// vendor answers (its error answers quote the request back).
func checkNoPHI(r reporter, o *Options) {
	r.Helper()
	scenarios := []struct {
		name  string
		fault func(int) *fault
	}{
		{"ordinary answers", nil},
		{"vendor does not answer", all(fault{stall: true})},
	}
	for _, s := range statuses {
		f := fault{status: s}
		if s == http.StatusTooManyRequests {
			f.retryAfter = "1"
		}
		scenarios = append(scenarios, struct {
			name  string
			fault func(int) *fault
		}{fmt.Sprintf("vendor answers %d", s), all(f)})
	}
	for i := range o.Samples {
		for _, s := range scenarios {
			v, conn := newVendor(r, o)
			if conn == nil {
				return
			}
			v.scenario(s.fault)
			d := o.sample(i, 1)
			_, err := deliver(v, conn, d)
			name := fmt.Sprintf("sample %d (%s), %s", i, d.ResourceType, s.name)
			if err != nil {
				for _, c := range o.Canaries {
					if strings.Contains(err.Error(), c) {
						r.Errorf("%s: the error holds canary %q: %s", name, c, err)
					}
				}
			}
			logs := v.logs.String()
			for _, c := range o.Canaries {
				if strings.Contains(logs, c) {
					r.Errorf("%s: the connector logged canary %q:\n%s", name, c, logs)
				}
			}
		}
	}
}

// inSamples reports whether s occurs in a sample's resource or related.
func inSamples(samples []connectors.Delivery, s string) bool {
	for _, d := range samples {
		if bytes.Contains(d.Resource, []byte(s)) {
			return true
		}
		for _, rel := range d.Related {
			if bytes.Contains(rel, []byte(s)) {
				return true
			}
		}
	}
	return false
}
