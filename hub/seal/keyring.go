package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Key is one named AES-256 key.
type Key struct {
	ID     string
	Secret []byte
}

// Keyring seals with its first key and opens with any of them. It is
// immutable after construction and safe for concurrent use.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
	order  []string
}

// NewKeyring builds a keyring; keys[0] is the active key.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no keys configured")
	}
	kr := &Keyring{active: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, k := range keys {
		if !kidPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("seal: key %d: id must match %s", i+1, kidPattern)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("seal: key %q: need %d bytes, got %d", k.ID, KeySize, len(k.Secret))
		}
		if _, dup := kr.aeads[k.ID]; dup {
			return nil, fmt.Errorf("seal: key id %q appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
		}
		kr.aeads[k.ID] = aead
		kr.order = append(kr.order, k.ID)
	}
	return kr, nil
}

// ParseKeys reads the configuration form "kid:base64key,kid2:base64key"
// (standard or URL base64, padded or not). The first key is the active one.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kid, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("seal: key %d: want kid:base64key", i+1)
		}
		secret, err := decodeBase64(b64)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: not base64", kid)
		}
		keys = append(keys, Key{ID: kid, Secret: secret})
	}
	if len(keys) == 0 {
		return nil, errors.New("seal: no keys in specification")
	}
	return keys, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("invalid base64")
}

// GenerateKey returns a fresh random key with the given id.
func GenerateKey(id string) (Key, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("seal: generate key: %w", err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// FormatKeys renders keys in the form ParseKeys reads.
func FormatKeys(keys ...Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret)
	}
	return strings.Join(parts, ",")
}

// ActiveID is the id of the key new envelopes are sealed with.
func (kr *Keyring) ActiveID() string { return kr.active }

// IDs lists the key ids, active first.
func (kr *Keyring) IDs() []string { return append([]string(nil), kr.order...) }
