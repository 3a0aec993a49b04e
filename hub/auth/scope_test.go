package auth_test

import (
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/auth"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		scope string
		want  string // canonical form; "" means invalid
	}{
		{"system/Patient.cu", "system/Patient.cu"},
		{"system/Patient.cruds", "system/Patient.cruds"},
		{"system/*.rs", "system/*.rs"},
		{"system/Appointment.s", "system/Appointment.s"},
		{"system/Patient.read", "system/Patient.rs"},
		{"system/Patient.write", "system/Patient.cud"},
		{"system/Patient.*", "system/Patient.cruds"},
		{"system/*.*", "system/*.cruds"},
		// SMART v2 fixes the order c, r, u, d, s.
		{"system/Patient.cdu", ""},
		{"system/Patient.rc", ""},
		{"system/Patient.sr", ""},
		{"system/Patient.rr", ""},
		{"system/Patient.crudsc", ""},
		{"system/Patient.x", ""},
		{"system/Patient.R", ""},
		{"system/Patient.", ""},
		{"system/Patient", ""},
		{"system/.rs", ""},
		{"system/patient.rs", ""},
		{"system/Pat-ient.rs", ""},
		{"system/Patient.rs?category=x", ""}, // granular scopes would be widened if the suffix were dropped
		{"system/Patient.rs ", ""},
		{" system/Patient.rs", ""},
		{"system/Patient.read.write", ""},
		{"system/**.rs", ""},
		{"System/Patient.rs", ""},
		{"patient/Patient.rs", ""},
		{"user/*.cruds", ""},
		{"system/Patient.Read", ""},
		{"openid", ""},
		{"", ""},
	} {
		sc, err := auth.ParseScope(tc.scope)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseScope(%q) = %v, want an error", tc.scope, sc)
			}
			continue
		}
		if err != nil || sc.String() != tc.want {
			t.Errorf("ParseScope(%q) = %v, %v; want %s", tc.scope, sc, err, tc.want)
		}
	}
}

func TestAllows(t *testing.T) {
	app := func(scopes ...string) *auth.Principal {
		return &auth.Principal{ID: "cl_0123456789abcdef", Role: auth.RoleApp, Scopes: scopes}
	}
	for _, tc := range []struct {
		name string
		p    *auth.Principal
		typ  string
		want string // the permissions of "cruds" allowed
	}{
		{"exact v2 scope", app("system/Patient.cu"), "Patient", "cu"},
		{"other type", app("system/Patient.cu"), "Appointment", ""},
		{"wildcard type", app("system/*.rs"), "Observation", "rs"},
		{"v1 read", app("system/Patient.read"), "Patient", "rs"},
		{"v1 write", app("system/Patient.write"), "Patient", "cud"},
		{"v1 star", app("system/Patient.*"), "Patient", "cruds"},
		{"scopes add up", app("system/Patient.r", "system/*.s", "system/Patient.d"), "Patient", "rds"},
		{"out of order is ignored, not read as cdu", app("system/Patient.cdu"), "Patient", ""},
		{"malformed scope beside a good one", app("system/Patient.cdu", "system/Patient.r"), "Patient", "r"},
		{"granular scope ignored", app("system/Observation.rs?category=laboratory"), "Observation", ""},
		{"patient scope ignored", app("patient/Patient.cruds"), "Patient", ""},
		{"user scope ignored", app("user/*.cruds"), "Patient", ""},
		{"OIDC scopes ignored", app("openid", "profile"), "Patient", ""},
		{"no scopes", app(), "Patient", ""},
		{"empty scope", app(""), "Patient", ""},
		{"type is case-sensitive", app("system/Patient.cruds"), "patient", ""},
		{"wildcard is not a type to ask about", app("system/*.cruds"), "*", ""},
		{"empty type", app("system/*.cruds"), "", ""},
		{"admin has no FHIR access", &auth.Principal{Role: auth.RoleAdmin, Scopes: []string{"system/*.cruds"}}, "Patient", ""},
		{"auditor has no FHIR access", &auth.Principal{Role: auth.RoleAuditor, Scopes: []string{"system/*.cruds"}}, "Patient", ""},
		{"unknown role", &auth.Principal{Role: "root", Scopes: []string{"system/*.cruds"}}, "Patient", ""},
		{"nil principal", nil, "Patient", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got strings.Builder
			for _, perm := range []byte("cruds") {
				if tc.p.Allows(tc.typ, perm) {
					got.WriteByte(perm)
				}
			}
			if got.String() != tc.want {
				t.Errorf("allowed %q, want %q", got.String(), tc.want)
			}
		})
	}
	for _, perm := range []byte("xRC*\x00") {
		if app("system/*.cruds").Allows("Patient", perm) {
			t.Errorf("unknown permission %q allowed", perm)
		}
	}
}

// FuzzParseScope checks that whatever a client or an issuer puts in a
// scope, the parser never panics and never grants more than the scope's
// own canonical form says.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"system/Patient.cu", "system/*.read", "system/Patient.cdu", "patient/*.rs", "system/A.*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := auth.ParseScope(s)
		if err != nil {
			return
		}
		again, err := auth.ParseScope(sc.String())
		if err != nil || again != sc {
			t.Fatalf("%q parses to %v, whose canonical form parses to %v, %v", s, sc, again, err)
		}
		p := &auth.Principal{Role: auth.RoleApp, Scopes: []string{s}}
		for _, perm := range []byte("cruds") {
			if p.Allows("Patient", perm) && (!strings.ContainsRune(sc.Perms, rune(perm)) ||
				sc.ResourceType != "*" && sc.ResourceType != "Patient") {
				t.Fatalf("%q allows %c on Patient beyond %v", s, perm, sc)
			}
		}
	})
}
