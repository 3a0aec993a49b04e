package webhook

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// DerivedID returns prefix + ":" + the hex SHA-256 of parts, for vendors
// that send no event id. Each part is length-prefixed before hashing, so
// ("ab", "c") and ("a", "bc") give different ids. Hashing keeps the id a
// fixed length and keeps whatever the parts hold out of the id, which is
// logged and stored as the de-duplication key.
func DerivedID(prefix string, parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return prefix + ":" + hex.EncodeToString(h.Sum(nil))
}

// maxLabel bounds an event type: the longest real ones (Stripe's
// "v1.billing.meter.error_report_triggered", HubSpot's
// "contact.associationChange") are well under it.
const maxLabel = 128

// Label returns s if it looks like a vendor event type (1 to 128 of
// A-Z a-z 0-9 _ . : -), and "" otherwise. Event types come from signed
// bodies but are logged and used as metric labels, so anything that does
// not look like an identifier is dropped rather than passed on.
func Label(s string) string {
	if len(s) == 0 || len(s) > maxLabel {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '.', c == ':', c == '-':
		default:
			return ""
		}
	}
	return s
}
