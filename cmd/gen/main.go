// Command gen writes the files that list the connectors, from the connector
// registry (connectors/all) and each connector's config struct, so that
// adding a connector is its two folders and one line in connectors/all:
//
//   - README.md: the connector table (between its GENERATED markers)
//   - docs/connectors.md: every connector's configuration block
//
// Run it with `go generate ./connectors/all` (or `go run ./cmd/gen` from the
// repository's root); `go test ./cmd/gen/` fails while a file is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	_ "github.com/switchboard-health/switchboard/connectors/all"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	flag.Parse()
	if err := write(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// write rewrites the generated files under root that differ.
func write(root string) error {
	files, err := render(root)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(root, filepath.FromSlash(name))
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		fmt.Println("gen: wrote", name)
	}
	return nil
}
