package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsAndErrorsListedTogether(t *testing.T) {
	c, err := FromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.MaxBodyBytes != 1<<20 || c.Role != RoleAll || !c.AutoMigrate {
		t.Fatalf("defaults: %+v", c)
	}
	_, err = FromEnv(envOf(map[string]string{
		"SWITCHBOARD_ROLE":           "boss",
		"SWITCHBOARD_RETRY_BASE":     "soon",
		"SWITCHBOARD_MAX_BODY_BYTES": "-1",
		"DATABASE_URL":               "postgres://x@127.0.0.1/db",
	}))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"SWITCHBOARD_ROLE", "SWITCHBOARD_RETRY_BASE", "SWITCHBOARD_MAX_BODY_BYTES", "SWITCHBOARD_SEAL_KEYS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error should name %s: %v", want, err)
		}
	}
}

func TestDevKeysAreGeneratedOnceForSQLiteOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "var", "dev-keys.env")
	c, _ := FromEnv(envOf(map[string]string{"SWITCHBOARD_DEV_KEYS": path}))
	k1, err := c.LoadKeys()
	if err != nil || !k1.Generated {
		t.Fatalf("generate: %v", err)
	}
	k2, err := c.LoadKeys()
	if err != nil || k2.Ring.ActiveID() != k1.Ring.ActiveID() {
		t.Fatalf("reload must give the same keys: %v", err)
	}
	pg := c
	pg.DatabaseURL = "postgres://x@127.0.0.1/db"
	if _, err := pg.LoadKeys(); err == nil {
		t.Fatal("PostgreSQL without configured keys must be refused")
	}
	pg.SealKeys, pg.HMACKey, err = NewKeySpecs(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if k, err := pg.LoadKeys(); err != nil || k.Generated {
		t.Fatalf("configured keys must load and not count as generated: %v", err)
	}
}
