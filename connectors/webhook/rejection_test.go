package webhook

import "testing"

// TestRejectionCode sorts every verifier's phrase into a code: the codes
// label a metric and the transfer log's aggregated rejections (issue 14
// §2), so a phrase in the wrong bucket would hide an attack's kind.
func TestRejectionCode(t *testing.T) {
	for _, tc := range []struct{ scheme, reason, want string }{
		{"config", "webhooks are not configured for this destination (webhook_secrets_env)", CodeNotConfigured},
		{"stripe", "no secret configured", CodeNotConfigured},
		{"hubspot", "no client secret configured", CodeNotConfigured},
		{"stripe", "missing Stripe-Signature header", CodeMissingSignature},
		{"standard", "missing webhook-id header", CodeMissingSignature},
		{"hubspot", "missing X-HubSpot-Request-Timestamp header", CodeMissingSignature},
		{"standard", "malformed webhook-timestamp header", CodeMalformedSignature},
		{"calcom", "malformed X-Cal-Signature-256 header (is a secret set on the Cal.com webhook?)", CodeMalformedSignature},
		{"stripe", "no timestamp in Stripe-Signature header", CodeMalformedSignature},
		{"stripe", "no v1 signature in Stripe-Signature header", CodeMalformedSignature},
		{"hubspot", "request method or URL not passed to the verifier", CodeMalformedSignature},
		{"standard", "timestamp outside tolerance", CodeStaleTimestamp},
		{"stripe", "signed body has no event id", CodeBadJSON},
		{"standard", "no signature matched", CodeBadSignature},
	} {
		if got := (&Rejection{Scheme: tc.scheme, Reason: tc.reason}).Code(); got != tc.want {
			t.Errorf("%s %q: code %q, want %q", tc.scheme, tc.reason, got, tc.want)
		}
	}
}
