package webhook

import (
	"strings"
	"testing"
)

func TestDerivedID(t *testing.T) {
	// Computed independently with Python:
	//   h = sha256(); for p in parts: h.update(struct.pack(">Q", len(p)) + p)
	const want = "calcom:f3238f7dcc314f84304ca63bc37ceb6c310a58a20dc33562d5e2fe5d2adfe6f5"
	if got := DerivedID("calcom", "BOOKING_CREATED", "bFJeNb2uX8ANpT3JL5EfXw", "2026-01-15T10:00:00.000Z"); got != want {
		t.Errorf("DerivedID = %s, want %s", got, want)
	}
	if DerivedID("x", "ab", "c") == DerivedID("x", "a", "bc") {
		t.Error("part boundaries do not change the id")
	}
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{
		"payment_intent.succeeded":  "payment_intent.succeeded",
		"BOOKING_CREATED":           "BOOKING_CREATED",
		"contact.associationChange": "contact.associationChange",
		"":                          "",
		"two words":                 "",
		"line\nbreak":               "",
		"ünïcode":                   "",
		strings.Repeat("a", 129):    "",
	} {
		if got := Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}
