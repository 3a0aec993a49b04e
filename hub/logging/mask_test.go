package logging

import "testing"

func TestMaskText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"reply to canary.patient@example.test now", "reply to [redacted] now"},
		{"a+b_c@mail.sub.example.org.", "[redacted]."},
		{"ssn 123-45-6789.", "ssn [redacted]."},
		{"call +1 555-013-4567 today", "call [redacted] today"},
		{"+15550134567", "[redacted]"},
		{"+1 (555) 013-4567", "[redacted]"},
		{"(555) 013-4567", "[redacted]"},
		{"555-013-4567, 555.013.4567, 555 013 4567", "[redacted], [redacted], [redacted]"},
		{"1-555-013-4567", "[redacted]"},
		{"123-45-6789 and 987-65-4321", "[redacted] and [redacted]"},
		// kept: timestamps, dates, ids, numbers without phone/SSN shape
		{"2026-11-23T04:55:17.123456789Z", "2026-11-23T04:55:17.123456789Z"},
		{"retry at 2026-11-23 04:55:17 +0000", "retry at 2026-11-23 04:55:17 +0000"},
		{"birth 1970-01-01", "birth 1970-01-01"},
		{"550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440000"},
		{"job 1234567890 took 987654321ns", "job 1234567890 took 987654321ns"},
		{"10.100.200.255:5432", "10.100.200.255:5432"},
		{"1123-45-67890", "1123-45-67890"},
		{"user@localhost", "user@localhost"},
		{"", ""},
	}
	for _, c := range cases {
		if got := MaskText(c.in); got != c.want {
			t.Errorf("MaskText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzMaskText(f *testing.F) {
	for _, s := range []string{"canary.patient@example.test", "+1 555-013-4567", "123-45-6789", "2026-11-23T04:55:17Z", "(555) 013-4567 x", "+1.5550134567", "a@b.cd", "1 555 013 4567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if phiValue.MatchString(s) && !suspicious(s) {
			t.Fatalf("the prefilter skips %q, which holds %q", s, phiValue.FindString(s))
		}
		out := MaskText(s)
		if m := phiValue.FindString(out); m != "" {
			t.Fatalf("MaskText(%q) = %q still holds %q", s, out, m)
		}
	})
}
