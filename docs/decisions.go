package docs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// decisionsDir is where the decision records live, relative to the root.
const decisionsDir = "docs/decisions"

var (
	// citation finds "docs/decisions/" followed by a four-digit number and
	// whatever name follows it.
	citation = regexp.MustCompile(`docs/decisions/([0-9]{4}[A-Za-z0-9._-]*)`)
	// recordName is the only form a decision record's file name takes.
	recordName = regexp.MustCompile(`^[0-9]{4}-[a-z0-9]+(-[a-z0-9]+)*\.md$`)
	// indexLink is a link to a record from the index.
	indexLink = regexp.MustCompile(`\]\(([0-9]{4}[^)]*)\)`)
)

// citedExtensions are the files scanned for citations: code, SQL and docs.
var citedExtensions = []string{".go", ".md", ".sql"}

// citationProblems scans the files under root for citations of decision
// records and reports each that does not name an existing record by its
// full file name, as file:line.
func citationProblems(root string) ([]string, error) {
	var problems []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !slices.Contains(citedExtensions, filepath.Ext(p)) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range citation.FindAllStringSubmatch(line, -1) {
				// A citation may end a sentence: keep the name up to ".md".
				name := m[1]
				if i := strings.Index(name, ".md"); i >= 0 {
					name = name[:i+len(".md")]
				} else {
					name = strings.TrimRight(name, ".")
				}
				where := fmt.Sprintf("%s:%d", filepath.ToSlash(rel), i+1)
				if !recordName.MatchString(name) {
					problems = append(problems, fmt.Sprintf("%s: cite %s/%s by its full file name (NNNN-title.md)", where, decisionsDir, name))
					continue
				}
				fi, err := os.Stat(filepath.Join(root, decisionsDir, name))
				if err != nil || !fi.Mode().IsRegular() {
					problems = append(problems, fmt.Sprintf("%s: cites %s/%s, which does not exist", where, decisionsDir, name))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan for citations under %s: %w", root, err)
	}
	return problems, nil
}

// requiredSections are the parts every decision record has, each as a
// "## Name" heading; Status may also be a "Status: …" line.
var requiredSections = []string{"Status", "Context", "Decision", "Consequences"}

// hasSection reports whether text (starting with a newline) has the section.
func hasSection(text, name string) bool {
	return strings.Contains(text, "\n## "+name+"\n") || strings.Contains(text, "\n## "+name+" \n") ||
		(name == "Status" && strings.Contains(text, "\nStatus: "))
}

// recordProblems checks the records in root's docs/decisions: well-formed
// names, one record per number, a title carrying that number, the required
// sections, a link from the index (README.md) to each record, and no link
// from the index or a record to a record that is missing.
func recordProblems(root string) ([]string, error) {
	dir := filepath.Join(root, decisionsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list decision records: %w", err)
	}
	index, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		return nil, fmt.Errorf("read the decisions index: %w", err)
	}
	linked := map[string]bool{}
	for _, m := range indexLink.FindAllStringSubmatch(string(index), -1) {
		linked[m[1]] = true
	}
	var problems []string
	byNumber := map[string]string{}
	records := map[string]bool{}
	// links are the records each record links to, checked once all are known.
	links := map[string][]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "README.md" {
			continue
		}
		if !recordName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("%s/%s: a record is named NNNN-title.md (lower case, hyphens)", decisionsDir, name))
			continue
		}
		records[name] = true
		num := name[:4]
		if other, ok := byNumber[num]; ok {
			problems = append(problems, fmt.Sprintf("%s/%s: number %s is already %s", decisionsDir, name, num, other))
		}
		byNumber[num] = name
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		text := "\n" + strings.ReplaceAll(string(b), "\r\n", "\n")
		if title, _, _ := strings.Cut(text[1:], "\n"); !strings.HasPrefix(title, "# ") || !strings.Contains(title, num) {
			problems = append(problems, fmt.Sprintf("%s/%s: the first line is its title with its number, \"# %s. Title\"", decisionsDir, name, num))
		}
		for _, s := range requiredSections {
			if !hasSection(text, s) {
				problems = append(problems, fmt.Sprintf("%s/%s: no %q section", decisionsDir, name, s))
			}
		}
		for _, m := range indexLink.FindAllStringSubmatch(text, -1) {
			links[name] = append(links[name], m[1])
		}
		if !linked[name] {
			problems = append(problems, fmt.Sprintf("%s/README.md: the index does not link %s", decisionsDir, name))
		}
	}
	for l := range linked {
		if !records[l] {
			problems = append(problems, fmt.Sprintf("%s/README.md: the index links %s, which does not exist", decisionsDir, l))
		}
	}
	for from, to := range links {
		for _, l := range to {
			if !records[l] {
				problems = append(problems, fmt.Sprintf("%s/%s: links %s, which does not exist", decisionsDir, from, l))
			}
		}
	}
	slices.Sort(problems)
	return problems, nil
}
