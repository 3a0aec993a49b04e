package api_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-health/switchboard/hub/api"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// TestReadmeNamesEveryOpenRoute keeps the README's "Access control" list of
// routes that need no token true: every route open to anyone (or to a
// vendor's signature) is named there, and every route named there is open.
// /metrics was open and missing from the list.
func TestReadmeNamesEveryOpenRoute(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Access control\n")
	if start < 0 {
		t.Fatal(`README.md has no "## Access control" section`)
	}
	section := strings.TrimSpace(readme[start+len("\n## Access control\n"):])
	paragraph, _, _ := strings.Cut(section, "\n\n")
	paragraph = strings.Join(strings.Fields(paragraph), " ")

	open := map[string]bool{}
	for rule, access := range (&api.Server{}).Policy() {
		if access != api.Public && access != api.Signed {
			continue
		}
		method, path, _ := strings.Cut(rule, " ")
		path = regexp.MustCompile(`:(\w+)`).ReplaceAllString(path, "{$1}")
		var named string
		switch {
		case method == "GET" && (path == "/console" || path == "/console/*"):
			named = "the console's static files"
		case method == "GET" || method == "POST" && access == api.Signed:
			named = "`" + path + "`"
		default:
			named = "`" + method + " " + path + "`"
		}
		open[strings.Trim(named, "`")] = true
		if !strings.Contains(paragraph, named) {
			t.Errorf("%s needs no token, and the README's Access control paragraph does not name it (as %s)", rule, named)
		}
	}
	for _, m := range regexp.MustCompile("`((?:[A-Z]+ )?/[^`]*)`").FindAllStringSubmatch(paragraph, -1) {
		if !open[m[1]] {
			t.Errorf("the README's Access control paragraph names %s as needing no token, and the API's access rules do not open it (it needs a token, or it is no route of the API)", m[1])
		}
	}
}
