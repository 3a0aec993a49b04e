package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func mustKey(t *testing.T, id string) Key {
	t.Helper()
	k, err := GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTripAndBinding(t *testing.T) {
	k1 := mustKey(t, "k1")
	kr, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	canary := []byte(`{"resourceType":"Patient","name":[{"family":"Zzcanaryfamily"}]}`)
	aad := []byte("switchboard.deliver|tr_1|0|ehr")
	env, err := kr.Seal(canary, aad)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	if bytes.Contains(raw, []byte("Zzcanary")) {
		t.Fatal("envelope JSON contains plaintext")
	}
	if !strings.Contains(string(raw), `"kid":"k1"`) {
		t.Fatalf("envelope must carry its key id: %s", raw)
	}
	got, err := kr.Open(env, aad)
	if err != nil || !bytes.Equal(got, canary) {
		t.Fatalf("open: %v %q", err, got)
	}

	tests := []struct {
		name   string
		mutate func(e *Envelope) []byte
		want   error
	}{
		{"other job's aad", func(e *Envelope) []byte { return []byte("switchboard.deliver|tr_2|0|ehr") }, ErrOpen},
		{"flipped ciphertext bit", func(e *Envelope) []byte { e.Data[0] ^= 1; return aad }, ErrOpen},
		{"short nonce", func(e *Envelope) []byte { e.Nonce = e.Nonce[:4]; return aad }, ErrOpen},
		{"unknown key id", func(e *Envelope) []byte { e.KID = "gone"; return aad }, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env
			e.Data = append([]byte(nil), env.Data...)
			e.Nonce = append([]byte(nil), env.Nonce...)
			a := tt.mutate(&e)
			if _, err := kr.Open(e, a); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	old, next := mustKey(t, "2026-01"), mustKey(t, "2026-11")
	before, _ := NewKeyring(old)
	aad := []byte("a")
	env, _ := before.Seal([]byte("payload"), aad)

	// Rotate: the new key goes first, the old one stays to open what it sealed.
	after, err := NewKeyring(next, old)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := after.Open(env, aad); err != nil || string(pt) != "payload" {
		t.Fatalf("old envelope must open after rotation: %v", err)
	}
	moved, err := after.Reseal(env, aad)
	if err != nil || moved.KID != "2026-11" {
		t.Fatalf("reseal: %v kid=%s", err, moved.KID)
	}
	// Retiring the old key shreds what is still sealed under it.
	retired, _ := NewKeyring(next)
	if _, err := retired.Open(env, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key must not open: %v", err)
	}
	if pt, err := retired.Open(moved, aad); err != nil || string(pt) != "payload" {
		t.Fatalf("resealed envelope must open: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	a, b := mustKey(t, "a"), mustKey(t, "b")
	keys, err := ParseKeys(FormatKeys(a, b))
	if err != nil || len(keys) != 2 || keys[0].ID != "a" || !bytes.Equal(keys[1].Secret, b.Secret) {
		t.Fatalf("parse: %v %+v", err, keys)
	}
	bad := []struct{ name, spec string }{
		{"empty", ""},
		{"no colon", "abc"},
		{"not base64", "k:***"},
	}
	for _, tt := range bad {
		if _, err := ParseKeys(tt.spec); err == nil {
			t.Errorf("%s: want error", tt.name)
		}
	}
	if _, err := NewKeyring(Key{ID: "short", Secret: []byte("x")}); err == nil {
		t.Error("short key must be refused")
	}
	if _, err := NewKeyring(a, a); err == nil {
		t.Error("duplicate kid must be refused")
	}
	if _, err := NewKeyring(Key{ID: "bad id!", Secret: a.Secret}); err == nil {
		t.Error("bad kid must be refused")
	}
}
