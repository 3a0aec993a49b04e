package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/config"
)

// config check prints every setting with where it came from, never a
// secret's value, and lists every problem (settings, keys, routing file,
// connector blocks) in one go.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(routes, `destinations:
  payments:
    type: stripe
    config:
      base_url: http://127.0.0.1:12111
      api_key_env: CHECK_STRIPE_KEY
  ehr:
    type: fhir
    config: {base_url: "http://127.0.0.1:9090/fhir/R4"}
routes:
  - resource: Patient
    to: [payments, ehr]
`)
	sealSpec, macSpec, err := config.NewKeySpecs(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "settings.yaml")
	write(settings, "shutdown_timeout: 45s\nrole: worker\n")
	const pgPassword = "pw-c4n4ry-9137"
	base := map[string]string{
		"SWITCHBOARD_CONFIG": settings, "SWITCHBOARD_ROUTES": routes,
		"DATABASE_URL":          "postgres://sb:" + pgPassword + "@127.0.0.1:1/sb",
		"SWITCHBOARD_SEAL_KEYS": sealSpec, "SWITCHBOARD_HMAC_KEY": macSpec,
		"CHECK_STRIPE_KEY": "sk_test_c4n4ry51",
	}
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}

	t.Run("valid", func(t *testing.T) {
		out, err := runCheck(t, env(base))
		if err != nil {
			t.Fatalf("want OK, got %v\n%s", err, out)
		}
		for _, secret := range []string{pgPassword, sealSpec, macSpec, "sk_test_c4n4ry51"} {
			if strings.Contains(out, secret) {
				t.Errorf("config check printed a secret value %q", secret)
			}
		}
		for _, want := range []string{
			`SWITCHBOARD_SHUTDOWN_TIMEOUT\s+45s\s+file`,
			`SWITCHBOARD_ROLE\s+worker\s+file`,
			`SWITCHBOARD_RETRY_BASE\s+2s\s+default`,
			`DATABASE_URL\s+\*+ \(\d+ chars\)\s+env`,
			`CHECK_STRIPE_KEY\s+\*+ \(16 chars\)\s+env \(routing file\)`,
			`configuration OK \(role worker, PostgreSQL`,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("output lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("every problem at once", func(t *testing.T) {
		bad := map[string]string{}
		for k, v := range base {
			bad[k] = v
		}
		bad["SWITCHBOARD_ROLE"] = "boss"
		bad["SWITCHBOARD_LOG_FORMAT"] = "xml"
		bad["SWITCHBOARD_HMAC_KEY"] = "not base64!"
		delete(bad, "CHECK_STRIPE_KEY")
		out, err := runCheck(t, env(bad))
		if err == nil {
			t.Fatalf("want problems:\n%s", out)
		}
		for _, want := range []string{"4 problem(s)", "SWITCHBOARD_ROLE", "SWITCHBOARD_LOG_FORMAT", "SWITCHBOARD_HMAC_KEY: not standard base64",
			`destination "payments"`, "CHECK_STRIPE_KEY"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

func runCheck(t *testing.T, env func(string) (string, bool)) (string, error) {
	t.Helper()
	cmd := configCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetContext(t.Context())
	err := configCheck(cmd, env)
	return out.String(), err
}
