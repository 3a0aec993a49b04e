package auth_test

import (
	"fmt"

	"github.com/switchboard-health/switchboard/hub/auth"
)

// An app allowed to create and update patients and to read and search
// every resource type. The third scope is out of SMART v2's c, r, u, d, s
// order, so it grants nothing (rather than being guessed at).
func ExamplePrincipal_Allows() {
	app := &auth.Principal{ID: "cl_0123456789abcdef", Name: "scheduling", Role: auth.RoleApp,
		Scopes: []string{"system/Patient.cu", "system/*.rs", "system/Appointment.dc"}}
	fmt.Println(app.Allows("Patient", 'c'), app.Allows("Patient", 'd'))
	fmt.Println(app.Allows("Appointment", 's'), app.Allows("Appointment", 'd'))
	// Output:
	// true false
	// true false
}
