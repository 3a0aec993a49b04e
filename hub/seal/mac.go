package seal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// MAC computes keyed hashes for values the hub must compare but never hold:
// a client's Idempotency-Key, a request body, a patient reference in the
// transfer log. Without the key the digests reveal nothing and cannot be
// brute-forced from guesses.
type MAC struct{ key []byte }

// NewMAC builds a MAC from a key of at least 32 bytes.
func NewMAC(key []byte) (MAC, error) {
	if len(key) < 32 {
		return MAC{}, errors.New("seal: HMAC key must be at least 32 bytes")
	}
	return MAC{key: append([]byte(nil), key...)}, nil
}

// Sum returns the hex HMAC-SHA256 of the parts, each length-prefixed so that
// ("ab","c") and ("a","bc") differ.
func (m MAC) Sum(parts ...[]byte) string {
	h := hmac.New(sha256.New, m.key)
	var n [8]byte
	for _, p := range parts {
		l := uint64(len(p))
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
