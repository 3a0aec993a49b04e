package auth

import (
	"errors"
	"fmt"
	"strings"
)

// Permission bits, in SMART v2's order c, r, u, d, s.
const (
	permCreate uint8 = 1 << iota
	permRead
	permUpdate
	permDelete
	permSearch
)

const permLetters = "cruds"

func permBit(p byte) uint8 {
	if i := strings.IndexByte(permLetters, p); i >= 0 {
		return 1 << i
	}
	return 0
}

// Scope is one parsed SMART system scope.
type Scope struct {
	// ResourceType is a FHIR resource type name or "*" for every type.
	ResourceType string
	// Perms is the granted permissions in canonical v2 form ("cruds" order),
	// also for v1 scopes: system/Patient.read gives "rs".
	Perms string
	perms uint8
}

// ParseScope parses a SMART App Launch system scope:
//
//	system/<ResourceType|*>.<perms>    v2: perms a non-empty subsequence of "cruds"
//	system/<ResourceType|*>.read       v1: same as .rs
//	system/<ResourceType|*>.write      v1: same as .cud
//	system/<ResourceType|*>.*          v1: same as .cruds
//
// Parsing is strict, because a scope the parser misreads could widen
// access: letters out of order (system/Patient.cdu), repeated, unknown or
// upper-case are errors, as is anything after the permissions. That
// includes SMART v2's granular "?param=value" suffix: it narrows a scope
// the hub cannot enforce, so the scope is refused rather than read as the
// wider scope without it.
//
// patient/ and user/ scopes are errors too. They limit access to one
// patient's compartment or to what a signed-in user may see; the hub is a
// system-to-system service with no launch context and no patient
// compartments, so it could honour them only by ignoring the limit.
func ParseScope(s string) (Scope, error) {
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Scope{}, errors.New("a scope looks like system/Patient.rs")
	}
	switch ctx {
	case "system":
	case "patient", "user":
		return Scope{}, fmt.Errorf("%s/ scopes are not supported: the hub grants system/ scopes only", ctx)
	default:
		return Scope{}, errors.New("a scope starts with system/")
	}
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok {
		return Scope{}, errors.New("a scope names the permissions after a dot, e.g. system/Patient.rs")
	}
	if !validType(typ) {
		return Scope{}, errors.New("the resource type must be a FHIR type name such as Patient, or *")
	}
	var bits uint8
	switch perms {
	case "read":
		bits = permRead | permSearch
	case "write":
		bits = permCreate | permUpdate | permDelete
	case "*":
		bits = permCreate | permRead | permUpdate | permDelete | permSearch
	default:
		// A subsequence of "cruds": each letter must come after the last.
		next := 0
		for i := 0; i < len(perms); i++ {
			j := strings.IndexByte(permLetters[next:], perms[i])
			if j < 0 {
				return Scope{}, errors.New("permissions are letters of c, r, u, d, s, each at most once and in that order")
			}
			next += j + 1
			bits |= 1 << (next - 1)
		}
		if bits == 0 {
			return Scope{}, errors.New("a scope needs at least one permission")
		}
	}
	var canon strings.Builder
	for i := range len(permLetters) {
		if bits&(1<<i) != 0 {
			canon.WriteByte(permLetters[i])
		}
	}
	return Scope{ResourceType: typ, Perms: canon.String(), perms: bits}, nil
}

// String returns the scope in canonical v2 form.
func (s Scope) String() string { return "system/" + s.ResourceType + "." + s.Perms }

// validType reports whether t is "*" or shaped like a FHIR resource type
// name (an upper-case ASCII letter, then letters). Whether the name is a
// real R4 type is for the caller to check where it matters (the CLI does,
// to catch typos); an unknown name here can only fail to match.
func validType(t string) bool {
	if t == "*" {
		return true
	}
	if len(t) == 0 || len(t) > 64 || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}
