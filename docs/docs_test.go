package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository, seen from this package's folder.
const root = ".."

func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	problems, err := layoutProblems(root, string(readme))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestHubNamesNoVendor: the hub's code knows vendors only through the
// connector interfaces and the routing file.
func TestHubNamesNoVendor(t *testing.T) {
	problems, err := vendorProblems(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func TestVendorProblems(t *testing.T) {
	dir := tree(t, map[string]string{
		"mappings/acme/acme.go":   "package acme",
		"mappings/fhir/fhir.go":   "package fhir",
		"hub/ok/ok.go":            "package ok\n\nimport _ \"" + modulePath + "/mappings/fhir\"\n\nvar s = \"fhir\"\n",
		"hub/ok/ok_test.go":       "package ok\n\nimport _ \"" + modulePath + "/mappings/acme\"\n",
		"hub/bad/imports.go":      "package bad\n\nimport _ \"" + modulePath + "/mappings/acme\"\n",
		"hub/bad/connector.go":    "package bad\n\nimport _ \"" + modulePath + "/connectors/acme\"\n",
		"hub/bad/literal.go":      "package bad\n\nfunc f() string { return \"Acme\" }\n",
		"hub/bad/testdata/x.go":   "package ignored\n\nvar s = \"acme\"\n",
		"connectors/acme/acme.go": "package acme\n\nvar s = \"acme\"\n",
	})
	got, err := vendorProblems(dir)
	if err != nil {
		t.Fatal(err)
	}
	expectProblems(t, got, []string{"hub/bad/imports.go:3 imports " + modulePath + "/mappings/acme",
		"hub/bad/connector.go:3 imports " + modulePath + "/connectors/acme", `hub/bad/literal.go:3 names the vendor "Acme"`})
}

func TestCitedDecisionsExist(t *testing.T) {
	problems, err := citationProblems(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func TestDecisionRecordsAreWellFormed(t *testing.T) {
	problems, err := recordProblems(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// The checks above pass on the repository; these prove that each fails when
// it should, on small trees made for the purpose.

// tree writes files (slash paths to contents) under a temporary root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// expectProblems checks that got holds exactly one problem containing each
// of want, and nothing else.
func expectProblems(t *testing.T, got []string, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
		return
	}
	for _, w := range want {
		n := 0
		for _, g := range got {
			if strings.Contains(g, w) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("want one problem mentioning %q, got:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestLayoutProblems(t *testing.T) {
	files := map[string]string{
		"hub/api/api.go":          "package api",
		"hub/api/testdata/x.go":   "package ignored",
		"hub/seal/seal_test.go":   "package seal",
		"connectors/connector.go": "package connectors",
		"connectors/acme/acme.go": "package acme",
		"connectors/zeta/zeta.go": "package zeta",
		"testdata/fhir/p.json":    "{}",
		".git/hooks/x.go":         "package ignored",
		"var/run/x.go":            "package ignored",
	}
	const head = "# X\n\n## Layout\n\n| folder | holds |\n|---|---|\n"
	const after = "\n## Next\n\n| `hub/elsewhere` | not in the layout section |\n"
	tests := []struct {
		name   string
		readme string
		want   []string
	}{
		{"complete", head + "| `hub/api`, `hub/seal` | a |\n| `connectors/` | b |\n| `connectors/acme`, `connectors/zeta` | v |\n| `testdata/` | c |\n" + after, nil},
		{"a placeholder covers every vendor", head + "| `hub/api`, `hub/seal` | a |\n| `connectors/` | b |\n| `connectors/<vendor>` | v |\n" + after, nil},
		{"a placeholder matching nothing", head + "| `hub/api`, `hub/seal` | a |\n| `connectors/`, `connectors/<vendor>` | b |\n| `mappings/<vendor>` | v |\n" + after,
			[]string{"mappings/<vendor> matches no folder"}},
		{"a package missing", head + "| `hub/api` | a |\n| `connectors` | b |\n| `connectors/<vendor>` | v |\n" + after,
			[]string{"hub/seal holds Go files but has no row"}},
		{"a vendor missing", head + "| `hub/api`, `hub/seal` | a |\n| `connectors`, `connectors/acme` | b |\n" + after,
			[]string{"connectors/zeta holds Go files but has no row"}},
		{"a folder that is gone", head + "| `hub/api`, `hub/seal`, `hub/gone` | a |\n| `connectors`, `connectors/<vendor>` | b |\n" + after,
			[]string{"hub/gone is listed but is not a folder"}},
		{"a file is not a folder", head + "| `hub/api`, `hub/seal`, `hub/api/api.go` | a |\n| `connectors`, `connectors/<vendor>` | b |\n",
			[]string{"hub/api/api.go is listed but is not a folder"}},
		{"listed twice", head + "| `hub/api`, `hub/seal` | a |\n| `connectors`, `connectors/<vendor>`, `hub/api` | b |\n",
			[]string{"hub/api is listed more than once"}},
		{"outside the repository", head + "| `hub/api`, `hub/seal`, `../x` | a |\n| `connectors`, `connectors/<vendor>` | b |\n",
			[]string{`"../x" is not a folder path`}},
	}
	dir := tree(t, files)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := layoutProblems(dir, tt.readme)
			if err != nil {
				t.Fatal(err)
			}
			expectProblems(t, got, tt.want)
		})
	}
	for _, readme := range []string{"# X\n\nno layout\n", "# X\n\n## Layout\n\nprose only\n"} {
		if _, err := layoutProblems(dir, readme); err == nil {
			t.Errorf("README %q: no error for a missing layout table", readme)
		}
	}
}

// cite builds a citation without writing one into this file, which the
// repository's own scan reads too.
func cite(name string) string { return "docs/" + "decisions/" + name }

// record is a well-formed decision record numbered num.
func record(num, title string) string {
	return "# " + num + ". " + title + "\n\nStatus: Accepted\n\n## Context\n\nc\n\n## Decision\n\nd\n\n## Consequences\n\ne\n"
}

func TestCitationProblems(t *testing.T) {
	base := map[string]string{
		"docs/decisions/README.md":         "[0001](0001-first.md)\n",
		cite("0001-first.md"):              record("0001", "First"),
		"hub/ok.go":                        "// see (" + cite("0001-first.md") + ").\n// and " + cite("0001-first.md") + ".\n",
		"README.md":                        "Decisions: " + cite("0001-first.md") + ", " + cite("") + "README.md\n",
		"hub/testdata/ignored.go":          "// " + cite("0404-nowhere.md") + "\n",
		"deploy/notes.txt":                 "not scanned: " + cite("0404-nowhere.md") + "\n",
		"hub/store/migrations/00001_x.sql": "-- " + cite("0001-first.md") + "\n",
	}
	tests := []struct {
		name string
		add  map[string]string
		want []string
	}{
		{"all resolve", nil, nil},
		{"missing record in Go", map[string]string{"hub/bad.go": "package hub\n\n// x (" + cite("0002-missing.md") + ")\n"},
			[]string{"hub/bad.go:3: cites " + cite("0002-missing.md") + ", which does not exist"}},
		{"missing record in SQL", map[string]string{"m.sql": "-- " + cite("0003-gone.md") + ".\n"},
			[]string{"m.sql:1: cites " + cite("0003-gone.md")}},
		{"number only", map[string]string{"a.md": "see " + cite("0001") + "\n"},
			[]string{"a.md:1: cite " + cite("0001") + " by its full file name"}},
		{"wrong case", map[string]string{"b.go": "// " + cite("0001-First.md") + "\n"},
			[]string{"b.go:1: cite " + cite("0001-First.md") + " by its full file name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range base {
				files[k] = v
			}
			for k, v := range tt.add {
				files[k] = v
			}
			got, err := citationProblems(tree(t, files))
			if err != nil {
				t.Fatal(err)
			}
			expectProblems(t, got, tt.want)
		})
	}
}

func TestRecordProblems(t *testing.T) {
	index := "| [0001](0001-first.md) | a |\n| [0002](0002-second.md) | b |\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"well formed", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First"), "0002-second.md": record("0002", "Second"),
		}, nil},
		{"a number used twice", map[string]string{
			"README.md": index + "[x](0002-other.md)\n", "0001-first.md": record("0001", "First"),
			"0002-second.md": record("0002", "Second"), "0002-other.md": record("0002", "Other"),
		}, []string{"number 0002 is already"}},
		{"not in the index", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First"), "0002-second.md": record("0002", "Second"),
			"0003-third.md": record("0003", "Third"),
		}, []string{"the index does not link 0003-third.md"}},
		{"index links a missing record", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First"),
		}, []string{"the index links 0002-second.md, which does not exist"}},
		{"a section missing", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First"),
			"0002-second.md": strings.Replace(record("0002", "Second"), "## Consequences", "## Outcome", 1),
		}, []string{`0002-second.md: no "Consequences" section`}},
		{"status as a heading", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First"),
			"0002-second.md": strings.Replace(record("0002", "Second"), "Status: Accepted", "## Status\n\nAccepted", 1),
		}, nil},
		{"no status", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First"),
			"0002-second.md": strings.Replace(record("0002", "Second"), "Status: Accepted", "Accepted", 1),
		}, []string{`0002-second.md: no "Status" section`}},
		{"title with another number", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First"), "0002-second.md": record("0009", "Second"),
		}, []string{`0002-second.md: the first line is its title`}},
		{"a record links a missing record", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First") + "\nSee [0004](0004-fourth.md).\n",
			"0002-second.md": record("0002", "Second"),
		}, []string{"0001-first.md: links 0004-fourth.md, which does not exist"}},
		{"badly named", map[string]string{
			"README.md": index, "0001-first.md": record("0001", "First"), "0002-second.md": record("0002", "Second"),
			"0003_Third.md": record("0003", "Third"),
		}, []string{"0003_Third.md: a record is named NNNN-title.md"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range tt.files {
				files["docs/decisions/"+k] = v
			}
			got, err := recordProblems(tree(t, files))
			if err != nil {
				t.Fatal(err)
			}
			expectProblems(t, got, tt.want)
		})
	}
}
