package connectortest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// recorder stands in for *testing.T to see what a check reports.
type recorder struct {
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Cleanup(f func())    { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// run runs one check of o and returns what it reported.
func run(name string, o Options) []string {
	r := &recorder{}
	defer func() {
		for i := len(r.cleanups) - 1; i >= 0; i-- {
			r.cleanups[i]()
		}
	}()
	for _, c := range checks {
		if c.name == name {
			c.run(r, &o)
			return r.errs
		}
	}
	panic("no check " + name)
}

// TestSoundFakePasses is the baseline: a connector that keeps the contract
// passes every check, so the failures below are the defects'.
func TestSoundFakePasses(t *testing.T) {
	o := fakeOptions(sound)
	o.Webhook = fakeWebhook(soundVerifier)
	Run(t, o)
}

// TestEachCheckCatchesItsDefect runs each check against a fake connector
// with the defect that check is for: the check must fail, naming it (the
// same checks pass the sound fake, TestSoundFakePasses).
func TestEachCheckCatchesItsDefect(t *testing.T) {
	tests := []struct {
		defect defect
		check  string
		want   string // in one of the check's reports
	}{
		{nothingSent, "Deliver", "no write reached the vendor"},
		{noKey, "IdempotencyKey", `carried idempotency key ""`},
		{keyPerAttempt, "IdempotencyKey", "a retry must repeat it"},
		{all4xxRetryable, "ErrorClasses", "vendor answers 404: class retryable, want permanent"},
		{all5xxPermanent, "ErrorClasses", "vendor answers 503: class permanent, want retryable"},
		{dropsRetryAfter, "ErrorClasses", "the error's RetryAfter is 0s"},
		{timeoutIsFinal, "ErrorClasses", "vendor does not answer: class permanent, want retryable"},
		{bareErrors, "ErrorClasses", "is no *connectors.Error"},
		{logsResource, "NoPHI", `logged canary "Quagmire"`},
		{echoesVendor, "NoPHI", `the error holds canary "zeb@example.org"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.defect), func(t *testing.T) {
			errs := run(tt.check, fakeOptions(tt.defect))
			if !contains(errs, tt.want) {
				t.Errorf("%s on a connector that %s reported %q, want a report with %q", tt.check, tt.defect, errs, tt.want)
			}
		})
	}
}

// TestWebhookCheckCatchesEachDefect does the same for webhook verifiers.
func TestWebhookCheckCatchesEachDefect(t *testing.T) {
	tests := []struct {
		defect webhookDefect
		want   string
	}{
		{bodyUnsigned, "a tampered body: verified"},
		{noTolerance, "a signature older than the tolerance: verified"},
		{firstSecretOnly, "during a rotation, a body signed with the new secret: refused"},
		{quotesSecret, "the error quotes a secret or canary"},
		{plainError, "does not wrap connectors.ErrUnauthenticated"},
	}
	for _, tt := range tests {
		t.Run(string(tt.defect), func(t *testing.T) {
			o := fakeOptions(sound)
			o.Webhook = fakeWebhook(tt.defect)
			errs := run("Webhook", o)
			if !contains(errs, tt.want) {
				t.Errorf("Webhook on a verifier that %s reported %q, want a report with %q", tt.defect, errs, tt.want)
			}
		})
	}
}

// TestWebhookCheckHoldsTheVectors: a vector whose verdict the verifier
// contradicts fails the check.
func TestWebhookCheckHoldsTheVectors(t *testing.T) {
	o := fakeOptions(sound)
	o.Webhook = fakeWebhook(soundVerifier)
	o.Webhook.Vectors[0].Valid = false
	if errs := run("Webhook", o); !contains(errs, "vector independent: verified") {
		t.Errorf("a vector wrongly marked invalid passed: %q", errs)
	}
	o.Webhook = fakeWebhook(soundVerifier)
	o.Webhook.Vectors[0].Request.Body = []byte(`{ }`)
	if errs := run("Webhook", o); !contains(errs, "vector independent: refused") {
		t.Errorf("a vector with a changed body passed: %q", errs)
	}
}

func contains(errs []string, want string) bool {
	for _, e := range errs {
		if strings.Contains(e, want) {
			return true
		}
	}
	return false
}

// TestKeyWhereTheVendorWantsIt: a vendor's own key field, read by
// Options.Key, satisfies the check that the header alone would fail.
func TestKeyWhereTheVendorWantsIt(t *testing.T) {
	o := fakeOptions(keyInBody)
	if errs := run("IdempotencyKey", o); !contains(errs, `carried idempotency key ""`) {
		t.Fatalf("without Key the header is read: %q", errs)
	}
	o.Key = func(_ *http.Request, body []byte) string {
		var b struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(body, &b)
		return b.RequestID
	}
	if errs := run("IdempotencyKey", o); len(errs) != 0 {
		t.Errorf("with Key reading request_id: %q", errs)
	}
}

// TestRunRefusesOptionsThatProveNothing: a canary that is in no sample
// would make the PHI check pass whatever the connector does.
func TestRunRefusesOptionsThatProveNothing(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"canary in no sample", func(o *Options) { o.Canaries = []string{"Nobody"} }, `canary "Nobody" is in no sample`},
		{"no canaries", func(o *Options) { o.Canaries = nil }, "need the canary PHI values"},
		{"no samples", func(o *Options) { o.Samples = nil }, "at least one sample"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fakeOptions(sound)
			tt.edit(&o)
			r := &recorder{}
			Run(r, o)
			if !contains(r.errs, tt.want) {
				t.Errorf("Run reported %q, want %q", r.errs, tt.want)
			}
		})
	}
}

// TestRunWithoutTestingT names the failing check in each report when the
// checks are not subtests.
func TestRunWithoutTestingT(t *testing.T) {
	r := &recorder{}
	defer func() {
		for _, f := range r.cleanups {
			f()
		}
	}()
	o := fakeOptions(noKey)
	Run(r, o)
	if len(r.errs) == 0 || !strings.HasPrefix(r.errs[0], "IdempotencyKey: ") {
		t.Errorf("reports %q, want each to start with its check", r.errs)
	}
}
