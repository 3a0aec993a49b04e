package docs

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// layoutHeading starts the README section whose table lists the folders.
const layoutHeading = "## Layout"

// skipDir reports whether a directory is outside what the layout describes:
// hidden folders (.git), test inputs, and what make run creates (var).
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "testdata" || name == "var" ||
		name == "node_modules" || name == "vendor"
}

// goDirs returns the directories under root holding at least one .go file,
// slash-separated and relative to root, sorted.
func goDirs(root string) ([]string, error) {
	seen := map[string]bool{}
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
		if strings.HasSuffix(d.Name(), ".go") {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			seen[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list Go folders under %s: %w", root, err)
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs, nil
}

var backticked = regexp.MustCompile("`([^`]+)`")

// layoutFolders returns the folders the README's Layout table names: every
// backticked name in the first column of its rows, without a trailing slash.
func layoutFolders(readme string) ([]string, error) {
	sc := bufio.NewScanner(strings.NewReader(readme))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	in, found := false, false
	var folders []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == layoutHeading:
			in, found = true, true
			continue
		case in && strings.HasPrefix(line, "#"):
			in = false
		}
		if !in || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			folders = append(folders, strings.TrimSuffix(m[1], "/"))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read README: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("README has no %q section", layoutHeading)
	}
	if len(folders) == 0 {
		return nil, fmt.Errorf("README's %q section has no table of folders", layoutHeading)
	}
	return folders, nil
}

// placeholder is a <name> in a Layout row: one path segment, so that a row
// such as `connectors/<vendor>` covers every vendor's folder and a new
// vendor needs no row of its own.
var placeholder = regexp.MustCompile(`<[^>/]+>`)

// layoutPattern turns a row naming a placeholder into the folders it
// covers; nil for a plain folder.
func layoutPattern(f string) *regexp.Regexp {
	if !placeholder.MatchString(f) {
		return nil
	}
	return regexp.MustCompile("^" + placeholder.ReplaceAllString(regexp.QuoteMeta(f), `[^/]+`) + "$")
}

// layoutProblems compares the README's Layout table with the folders under
// root: a folder with Go files the table does not name, a folder named
// twice, and a name that is not a folder under root. A row with a
// placeholder (`mappings/<vendor>`) covers the folders it matches that no
// row names, and must match one.
func layoutProblems(root, readme string) ([]string, error) {
	listed, err := layoutFolders(readme)
	if err != nil {
		return nil, err
	}
	dirs, err := goDirs(root)
	if err != nil {
		return nil, err
	}
	var problems []string
	count := map[string]int{}
	var patterns []*regexp.Regexp
	for _, f := range listed {
		count[f]++
		if count[f] == 2 {
			problems = append(problems, fmt.Sprintf("README Layout: %s is listed more than once", f))
		}
		if p := layoutPattern(f); p != nil {
			if !slices.ContainsFunc(dirs, p.MatchString) {
				problems = append(problems, fmt.Sprintf("README Layout: %s matches no folder with Go files", f))
			}
			patterns = append(patterns, p)
			continue
		}
		if f != path.Clean(f) || path.IsAbs(f) || strings.HasPrefix(f, "..") {
			problems = append(problems, fmt.Sprintf("README Layout: %q is not a folder path inside the repository", f))
			continue
		}
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil || !fi.IsDir() {
			problems = append(problems, fmt.Sprintf("README Layout: %s is listed but is not a folder in the repository", f))
		}
	}
	for _, d := range dirs {
		if count[d] == 0 && !slices.ContainsFunc(patterns, func(p *regexp.Regexp) bool { return p.MatchString(d) }) {
			problems = append(problems, fmt.Sprintf("README Layout: %s holds Go files but has no row", d))
		}
	}
	return problems, nil
}
