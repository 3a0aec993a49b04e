package transferlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/switchboard-health/switchboard/hub/seal"
)

// SubjectHash is how the log keys a subject: the MAC of a reference such
// as "Patient/123" or "Patient?identifier=system|value". The same
// reference always gives the same hash, so an auditor can ask for one
// patient's transfers, and without the key the hash reveals nothing.
func SubjectHash(mac seal.MAC, ref string) string {
	return mac.Sum([]byte("audit-subject"), []byte(ref))
}

// Digest is the keyed digest of a resource document as the log records it
// (Row.PayloadDigest): the MAC of its canonical JSON, so the same content
// with other whitespace or key order gives the same digest, while any
// change to a value gives another (see Canonical). An error means the
// document is not one JSON value; it never quotes the document.
func Digest(mac seal.MAC, resource []byte) (string, error) {
	canon, err := Canonical(resource)
	if err != nil {
		return "", err
	}
	return mac.Sum([]byte("payload"), canon), nil
}

var errNotJSON = errors.New("transfer log: digest: the document is not JSON")

// Canonical re-encodes one JSON document in the hub's canonical form, the
// one the transfer log's payload digests and the idempotency check of
// accepted requests (package transfer) compare: the document decoded and
// encoded again by encoding/json, so object keys sorted, no whitespace,
// strings re-escaped one way and no HTML escaping. Numbers are kept as
// written rather than rewritten as IEEE doubles (RFC 8785 would): a FHIR
// decimal's precision is part of its value (70.50 is not 70.5), and
// digits beyond a double's are not lost. An error means doc is not one
// JSON value; it never quotes the document.
func Canonical(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errNotJSON
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one value", errNotJSON)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("transfer log: digest: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
