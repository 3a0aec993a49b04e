package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/connectors"
)

// TestGeneratedFilesAreCurrent fails when a connector was added, removed or
// changed (its Docs, its config struct's tags) without `go generate
// ./connectors/all`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	files, err := render("../..")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("../..", filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./connectors/all", name)
		}
	}
}

// TestEveryConnectorIsListed: each registered connector has its row and its
// configuration section, with every field of its block, and documents its
// vendor and what it receives.
func TestEveryConnectorIsListed(t *testing.T) {
	table, ref := connectorTable(), string(configReference())
	if len(connectors.Types()) < 5 {
		t.Fatalf("registered: %v; connectors/all imports them all", connectors.Types())
	}
	for _, typ := range connectors.Types() {
		s, _ := connectors.Lookup(typ)
		if s.Docs.Vendor == "" || s.Docs.Receives == "" || s.Docs.IDs == "" {
			t.Errorf("%s: Spec.Docs needs Vendor, Receives and IDs for the README", typ)
		}
		if !strings.Contains(table, "| `"+typ+"` |") {
			t.Errorf("the connector table has no row for %s", typ)
		}
		_, section, _ := strings.Cut(ref, "\n## `"+typ+"`\n")
		section, _, _ = strings.Cut(section, "\n## ")
		if len(s.Fields) == 0 {
			t.Errorf("%s documents no configuration field (Spec.Config)", typ)
		}
		for f := range s.Fields {
			if !strings.Contains(section, "| `"+f+"` |") {
				t.Errorf("%s: %s lacks field %s", typ, configDoc, f)
			}
		}
	}
}

func TestReplaceBetween(t *testing.T) {
	doc := []byte("head\n" + beginTable + "\nold\n" + endTable + "\ntail\n")
	got, err := replaceBetween(doc, beginTable, endTable, "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "head\n" + beginTable + "\nnew\n" + endTable + "\ntail\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := replaceBetween([]byte("no markers\n"), beginTable, endTable, "x"); err == nil {
		t.Error("no error without markers")
	}
}
