package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dockerStage is one FROM … AS name block of a Dockerfile, with its
// instructions joined onto single lines.
type dockerStage struct {
	From, Name string
	Lines      []string
}

func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		f := strings.Fields(line)
		if strings.EqualFold(f[0], "FROM") {
			st := dockerStage{From: f[1]}
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				st.Name = f[3]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].Lines = append(stages[len(stages)-1].Lines, line)
		}
	}
	for _, l := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "#") && cur.Len() == 0 {
			continue
		}
		if strings.HasSuffix(strings.TrimRight(l, " "), "\\") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(l, " "), "\\") + " ")
			continue
		}
		cur.WriteString(l)
		flush()
	}
	flush()
	return stages
}

// TestDockerfile checks what can be checked without a Docker engine: the
// stages and targets Compose builds, pinned bases, the packages built
// exist, and the final image's user, port, entrypoint and address.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	byName := map[string]dockerStage{}
	for _, s := range stages {
		byName[s.Name] = s
		if !strings.Contains(s.From, ":") && byName[s.From].Name == "" {
			t.Errorf("FROM %s: pin the base image by tag or digest", s.From)
		}
		if strings.HasSuffix(s.From, ":latest") {
			t.Errorf("FROM %s: not latest", s.From)
		}
		for _, l := range s.Lines {
			if !strings.HasPrefix(l, "RUN") || !strings.Contains(l, "go build") {
				continue
			}
			for _, f := range strings.Fields(l) {
				if strings.HasPrefix(f, "./") {
					if _, err := os.Stat(filepath.Join("..", f)); err != nil {
						t.Errorf("stage %s builds %s: %v", s.Name, f, err)
					}
				}
			}
			if !strings.Contains(l, "-trimpath") {
				t.Errorf("stage %s: go build without -trimpath", s.Name)
			}
		}
	}
	if b, ok := byName["build"]; !ok || b.From != "golang:1.26-bookworm" || !slices.ContainsFunc(b.Lines, func(l string) bool { return strings.Contains(l, "CGO_ENABLED=0") }) {
		t.Errorf("want a build stage FROM golang:1.26-bookworm with CGO_ENABLED=0")
	}
	if last := stages[len(stages)-1]; last.Name != "switchboard" {
		t.Errorf("the last (default) stage is %q, want switchboard", last.Name)
	}
	for _, target := range []string{"switchboard", "vendorsim"} {
		s, ok := byName[target]
		if !ok {
			t.Errorf("no stage %q (compose.yaml builds it)", target)
			continue
		}
		if s.From != "gcr.io/distroless/static-debian12:nonroot" {
			t.Errorf("stage %s FROM %s, want distroless static nonroot", target, s.From)
		}
		if !slices.Contains(s.Lines, "USER nonroot") {
			t.Errorf("stage %s: no USER nonroot", target)
		}
	}
	sb := byName["switchboard"]
	for _, want := range []string{`ENTRYPOINT ["/switchboard"]`, `CMD ["serve"]`, "EXPOSE 8080"} {
		if !slices.Contains(sb.Lines, want) {
			t.Errorf("stage switchboard: no %s", want)
		}
	}
	if !slices.ContainsFunc(sb.Lines, func(l string) bool {
		return strings.HasPrefix(l, "ENV ") && strings.Contains(l, "SWITCHBOARD_ADDR=0.0.0.0:8080")
	}) {
		t.Error("stage switchboard: SWITCHBOARD_ADDR=0.0.0.0:8080 not set")
	}
	if !slices.ContainsFunc(sb.Lines, func(l string) bool { return strings.Contains(l, "-X main.version=") }) &&
		!slices.ContainsFunc(byName["build-switchboard"].Lines, func(l string) bool { return strings.Contains(l, "-X main.version=") }) {
		t.Error("the switchboard binary is built without -X main.version")
	}
}
