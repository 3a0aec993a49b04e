package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzSettingsFile: whatever settings file SWITCHBOARD_CONFIG names (the
// file `switchboard config check` and every command read), loading it
// gives a configuration or a list of errors, never a panic; a setting
// taken from the file is one the reference documents with a file key, and
// the seal and HMAC keys are never taken from a file.
func FuzzSettingsFile(f *testing.F) {
	for _, s := range []string{
		"addr: 127.0.0.1:9090\nmax_body_bytes: 2048\n",
		"role: api\nauto_migrate: false\n",
		"seal_keys: k1:AAAA\n",
		"unknown: 1\n",
		"addr: [1, 2]\n",
		"public_url: https://hub.example.com/\ntrusted_proxies: 10.0.0.0/8\n",
		"", "-", "{", "addr: &a *a", "max_body_bytes: -1\ntry_timeout: 0s\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "settings.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := FromEnv(envOf(map[string]string{"SWITCHBOARD_CONFIG": path}))
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("an error that says nothing")
			}
			return
		}
		for _, v := range Reference {
			if c.Source(v.Env) == "file" && v.Key == "" {
				t.Fatalf("%s was taken from the file, which has no key for it", v.Env)
			}
		}
		if c.SealKeys != "" || c.HMACKey != "" {
			t.Fatal("a seal or HMAC key was taken from a settings file")
		}
	})
}
