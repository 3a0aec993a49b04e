// Package connectortest checks a connector against the seam's contract
// (package connectors), the way rivertest gives River's users test helpers
// instead of asking them to mock: a connector's test states how to build the
// connector against a vendor stand-in the kit controls, a sample delivery
// per resource type it takes and the PHI in those samples, and calls Run:
//
//	func TestContract(t *testing.T) {
//		connectortest.Run(t, connectortest.Options{
//			New: func(tg connectortest.Target) (connectors.Connector, error) {
//				return New(tg.Params("payments", `{api_key_env: KEY}`, map[string]string{"KEY": "sk_test"}))
//			},
//			Samples:  []connectors.Delivery{{ResourceType: "Patient", Interaction: connectors.Create, Resource: patient}},
//			Canaries: []string{"Quagmire", "zeb@example.org"},
//		})
//	}
//
// Run checks, each in its own subtest:
//
//   - Deliver: every sample is delivered against the vendor's ordinary
//     answers (Options.Answer), with at least one write reaching the vendor;
//     the other checks would prove nothing otherwise.
//   - IdempotencyKey: every write carries the delivery's IdempotencyKey (or
//     a key derived from it, "<key>:…"), the same on every try of an
//     attempt and on the queue's next attempt after a failed one.
//   - ErrorClasses: a vendor 4xx is Permanent, a 5xx, 408, 409 and 429
//     Retryable (connectors.ClassifyStatus, with the connector's documented
//     departures in Options.Classes); the error is a *connectors.Error
//     carrying the vendor's status; a 429's long Retry-After comes back as
//     Error.RetryAfter; a vendor that does not answer in time gives a
//     Retryable error, whether the per-try timeout or the caller's deadline
//     ends the attempt.
//   - NoPHI: nothing the connector logs (its logger, at Debug) and no error
//     it returns holds a canary, while the vendor's error answers echo the
//     request back as real vendors do.
//   - Webhook (when Options.Webhook is set): a body signed with a configured
//     secret verifies, a tampered body, a forged signature, an unknown
//     secret and a timestamp outside the tolerance do not (each an error
//     wrapping connectors.ErrUnauthenticated that names no secret and no
//     canary), both secrets verify during a rotation, and the vendor's
//     published vectors give what they say.
//
// A write is a request that is not a GET or HEAD, unless Options.IsWrite
// says otherwise (a token call is no write of the delivery). The kit's
// faults (error answers, stalls) go to writes; every other request gets the
// vendor's ordinary answer.
package connectortest

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
)

// Options describe the connector under test.
type Options struct {
	// New builds the connector under test against the kit's vendor
	// stand-in: base URL, per-try timeout, inline retries and logger from
	// the Target (Target.Params does it for a connector whose
	// configuration embeds outbound.Settings). Run builds a fresh one for
	// every scenario, so breakers and caches start closed and empty.
	New func(tg Target) (connectors.Connector, error)
	// Samples are deliveries the connector accepts, one per resource type
	// it takes. Empty IdempotencyKey, TransferID, Destination and Attempt
	// are filled in.
	Samples []connectors.Delivery
	// Canaries are PHI values present in the samples (a name, an email, a
	// birth date); each must occur in some sample's Resource or Related.
	Canaries []string
	// Answer is the vendor's ordinary answer to a request: a success the
	// connector can read (a created record's id), and for reads what it
	// needs to go on writing. Nil answers 200 with {"id":"kit-1"}.
	Answer func(w http.ResponseWriter, r *http.Request, body []byte)
	// ErrorBody is the body of the kit's error answers, given the status
	// and the request body. Nil echoes the request in {"message": …,
	// "error": {"message": …}}, as vendors quote what they refused.
	ErrorBody func(status int, request []byte) []byte
	// IsWrite says which requests are writes of the delivery, those whose
	// key is checked and that the kit's faults answer. Nil means any
	// method but GET and HEAD.
	IsWrite func(r *http.Request) bool
	// Key is where a write carries the idempotency key at this vendor. Nil
	// reads the Idempotency-Key header.
	Key func(r *http.Request, body []byte) string
	// Classes are the connector's documented departures from
	// connectors.ClassifyStatus for a write's answer, e.g. 401 Retryable
	// for a connector that fetches a fresh token.
	Classes map[int]connectors.Class
	// Webhook, when set, checks the connector's webhook verifier.
	Webhook *Webhook
}

// Target is the vendor stand-in a connector under test is pointed at.
type Target struct {
	// URL is the stand-in's base URL, to be the connector's base_url.
	URL string
	// Timeout is the per-try timeout the connector must use: the kit's
	// stall outlasts it.
	Timeout time.Duration
	// RetryMax is the number of inline retries the connector must use.
	RetryMax int
	// Logger is the connector's logger; Run scans what it receives.
	Logger *slog.Logger
}

// The kit's defaults for Target: short enough for many scenarios, long
// enough for a loaded machine to answer a request that is not stalled.
const (
	tryTimeout = 400 * time.Millisecond
	retryMax   = 1
)

// check is one contract check, reporting to r.
type check struct {
	name string
	run  func(r reporter, o *Options)
}

// checks are Run's subtests, in order.
var checks = []check{
	{"Deliver", checkDeliver},
	{"IdempotencyKey", checkIdempotencyKey},
	{"ErrorClasses", checkErrorClasses},
	{"NoPHI", checkNoPHI},
	{"Webhook", checkWebhook},
}

// T is what Run needs of a test: *testing.T, or a stand-in (the
// package's example prints what fails). With *testing.T each check is a
// subtest; otherwise the checks run in turn and name themselves in their
// reports.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// reporter is what a check reports to.
type reporter = T

// Run checks the connector o describes against the seam's contract, one
// subtest per check (see the package documentation).
func Run(t T, o Options) {
	t.Helper()
	if o.New == nil || len(o.Samples) == 0 {
		t.Errorf("connectortest: Options need New and at least one sample")
		return
	}
	if len(o.Canaries) == 0 {
		t.Errorf("connectortest: Options need the canary PHI values of the samples")
		return
	}
	for _, c := range o.Canaries {
		if !inSamples(o.Samples, c) {
			t.Errorf("connectortest: canary %q is in no sample: the PHI check would prove nothing", c)
			return
		}
	}
	for _, c := range checks {
		if c.name == "Webhook" && o.Webhook == nil {
			continue
		}
		if tt, ok := t.(*testing.T); ok {
			tt.Run(c.name, func(t *testing.T) { c.run(t, &o) })
			continue
		}
		c.run(named{t, c.name}, &o)
	}
}

// named prefixes a check's reports with its name.
type named struct {
	T
	check string
}

func (n named) Errorf(format string, args ...any) { n.T.Errorf(n.check+": "+format, args...) }
