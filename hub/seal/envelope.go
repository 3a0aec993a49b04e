package seal

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// Version is the envelope format version.
const Version = 1

// Envelope is what River's tables hold instead of a payload: the id of the
// key that sealed it, a fresh GCM nonce and the ciphertext (JSON encodes the
// byte slices as base64).
type Envelope struct {
	V     int    `json:"v"`
	KID   string `json:"kid"`
	Nonce []byte `json:"nonce"`
	Data  []byte `json:"ct"`
}

// ErrUnknownKey means the envelope was sealed with a key that is no longer
// configured: the payload is gone (shredded by key retirement).
var ErrUnknownKey = errors.New("seal: envelope key is not configured (retired or shredded)")

// ErrOpen means authentication failed: the ciphertext, nonce or additional
// data was altered, or the envelope belongs to another job.
var ErrOpen = errors.New("seal: envelope failed authentication")

// Seal encrypts plaintext under the active key, bound to aad.
func (kr *Keyring) Seal(plaintext, aad []byte) (Envelope, error) {
	aead := kr.aeads[kr.active]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Envelope{}, fmt.Errorf("seal: nonce: %w", err)
	}
	return Envelope{V: Version, KID: kr.active, Nonce: nonce, Data: aead.Seal(nil, nonce, plaintext, aad)}, nil
}

// Open decrypts an envelope sealed with aad.
func (kr *Keyring) Open(env Envelope, aad []byte) ([]byte, error) {
	if env.V != Version {
		return nil, fmt.Errorf("seal: envelope version %d not supported", env.V)
	}
	aead, ok := kr.aeads[env.KID]
	if !ok {
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, env.KID)
	}
	if len(env.Nonce) != aead.NonceSize() {
		return nil, ErrOpen
	}
	pt, err := aead.Open(nil, env.Nonce, env.Data, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Reseal moves an envelope to the active key (key rotation). An envelope
// already under the active key is returned unchanged.
func (kr *Keyring) Reseal(env Envelope, aad []byte) (Envelope, error) {
	if env.KID == kr.active {
		return env, nil
	}
	pt, err := kr.Open(env, aad)
	if err != nil {
		return Envelope{}, err
	}
	defer clear(pt)
	return kr.Seal(pt, aad)
}
