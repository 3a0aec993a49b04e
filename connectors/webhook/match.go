package webhook

import (
	"crypto/hmac"
	"strconv"
)

// MatchAny reports whether any of sigs equals mac(key) for any of keys:
// the rule every verifier applies so that a request signed with either the
// old or the new secret verifies during a rotation, and a header carrying
// several signatures verifies if one of them is good. Every pair is
// compared with hmac.Equal and the loop never stops early, so only the
// numbers of keys and signatures, which are not secret, show in the timing.
func MatchAny(keys, sigs [][]byte, mac func(key []byte) []byte) bool {
	matched := false
	for _, key := range keys {
		want := mac(key)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				matched = true
			}
		}
	}
	return matched
}

// ParseDigits parses an unsigned decimal integer of 1 to 18 digits (enough
// for Unix milliseconds for the next 30 million years). Signs, spaces and
// anything longer are malformed, where strconv.ParseInt would take "+1" or
// "-1" and a verifier would then sign text the sender never sent.
func ParseDigits(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
