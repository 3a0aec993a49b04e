package docs

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// modulePath is the module's import path.
const modulePath = "github.com/switchboard-health/switchboard"

// vendors lists the vendors the repository maps: the folders of mappings/
// but fhir, the standard every vendor's data is mapped to.
func vendors(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "mappings"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "fhir" && !skipDir(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// vendorProblems lists where the hub's own code (hub/, tests aside) names
// a vendor: an import of a vendor's mapping or connector package, or a
// string literal that is a vendor's name
// (docs/decisions/0014-the-hub-names-no-vendor.md).
func vendorProblems(root string) ([]string, error) {
	names, err := vendors(root)
	if err != nil {
		return nil, err
	}
	vendor := map[string]bool{}
	for _, n := range names {
		vendor[n] = true
	}
	var problems []string
	fset := token.NewFileSet()
	err = filepath.WalkDir(filepath.Join(root, "hub"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			line := fset.Position(lit.Pos()).Line
			for _, dir := range []string{"mappings/", "connectors/"} {
				if v, ok := strings.CutPrefix(s, modulePath+"/"+dir); ok && vendor[v] {
					problems = append(problems, fmt.Sprintf("%s:%d imports %s", rel, line, s))
					return true
				}
			}
			if vendor[strings.ToLower(s)] {
				problems = append(problems, fmt.Sprintf("%s:%d names the vendor %q", rel, line, s))
			}
			return true
		})
		return nil
	})
	return problems, err
}
