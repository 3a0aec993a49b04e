package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/switchboard-health/switchboard/hub/config"
)

// composeFiles are what deploy/compose.yaml reads, copied into a scratch
// folder with each env file made from its committed example.
var composeFiles = map[string]string{
	"compose.yaml":     "compose.yaml",
	"switchboard.yaml": "switchboard.yaml",
	"compose.env":      "compose.env.example",
	"postgres.env":     "postgres.env.example",
}

// loadCompose loads compose (the text of compose.yaml) with compose-go,
// which validates it against the Compose specification's JSON schema and
// checks its consistency (services, volumes and dependencies named). With
// resolveEnv false, each service's Environment holds only its literal
// `environment:` entries, not what its env files add.
func loadCompose(t *testing.T, compose string, resolveEnv bool) (*types.Project, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for dst, src := range composeFiles {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if dst == "compose.yaml" {
			data = []byte(compose)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(dir), cli.WithEnv(nil), cli.WithConsistency(true)}
	if !resolveEnv {
		opts = append(opts, cli.WithoutEnvironmentResolution)
	}
	po, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return po.LoadProject(context.Background())
}

func readCompose(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The services deploy/compose.yaml must have.
const (
	svcPostgres = "postgres"
	svcMigrate  = "migrate"
	svcAPI      = "api"
	svcWorker   = "worker"
)

// hubServices run the switchboard image.
var hubServices = []string{svcMigrate, svcAPI, svcWorker}

// checkCompose returns every problem of a loaded project (literal
// environment only); knownVar says whether the hub or the routing file
// reads a variable.
func checkCompose(p *types.Project, knownVar func(string) bool) []string {
	var problems []string
	addf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, name := range slices.Concat([]string{svcPostgres}, hubServices, []string{"vendorsim", "stripe-mock"}) {
		if _, ok := p.Services[name]; !ok {
			addf("compose: no service %q", name)
		}
	}
	for name, s := range p.Services {
		for dep := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				addf("compose: service %s depends on %s, which does not exist", name, dep)
			}
		}
		img := s.Image
		if i := strings.Index(img, "@sha256:"); i < 0 {
			_, tag, ok := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
			if img == "" || !ok || tag == "" || tag == "latest" {
				addf("compose: service %s: image %q must be pinned by a tag other than latest", name, img)
			}
		}
		if name != svcMigrate && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
			addf("compose: service %s has no healthcheck", name)
		}
		for k, v := range s.Environment {
			if v != nil && secretLike(k) {
				addf("compose: service %s: %s is a secret written in the compose file: put it in an env_file", name, k)
			}
		}
	}
	if s, ok := p.Services[svcPostgres]; ok && !strings.HasPrefix(s.Image, "postgres:15") {
		addf("compose: postgres image %q, want PostgreSQL 15", s.Image)
	}
	if s, ok := p.Services[svcMigrate]; ok && !slices.Equal([]string(s.Command), []string{"migrate"}) {
		addf("compose: migrate command %q, want [migrate]", s.Command)
	}
	for _, name := range hubServices {
		s, ok := p.Services[name]
		if !ok {
			continue
		}
		if len(s.EnvFiles) == 0 {
			addf("compose: service %s has no env_file for its secrets", name)
		}
		for k := range s.Environment {
			if !knownVar(k) {
				addf("compose: service %s: %s is not read by the hub nor named by the routing file", name, k)
			}
		}
	}
	for _, sv := range []struct{ name, role string }{{svcAPI, "api"}, {svcWorker, "worker"}} {
		s, ok := p.Services[sv.name]
		if !ok {
			continue
		}
		cmd := []string(s.Command)
		i := slices.Index(cmd, "--role")
		if !slices.Contains(cmd, "serve") || i < 0 || i+1 >= len(cmd) || cmd[i+1] != sv.role {
			addf("compose: service %s command %q, want serve --role %s", sv.name, cmd, sv.role)
		}
		if v := s.Environment["SWITCHBOARD_AUTO_MIGRATE"]; v == nil || *v != "false" {
			addf("compose: service %s must set SWITCHBOARD_AUTO_MIGRATE=false (the migrate service migrates)", sv.name)
		}
		for dep, cond := range map[string]string{svcMigrate: types.ServiceConditionCompletedSuccessfully, svcPostgres: types.ServiceConditionHealthy} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != cond {
				addf("compose: service %s must depend on %s with condition %s", sv.name, dep, cond)
			}
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= 30*time.Second {
			addf("compose: service %s: stop_grace_period must be longer than SWITCHBOARD_SHUTDOWN_TIMEOUT (30s)", sv.name)
		}
	}
	if s, ok := p.Services[svcAPI]; ok && !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 8080 && pc.Published != "" }) {
		addf("compose: api does not publish port 8080")
	}
	sort.Strings(problems)
	return problems
}

func composeKnownVar(t *testing.T) func(string) bool {
	vars := composeRoutingVars(t)
	return func(name string) bool { return config.Documented(name) || slices.Contains(vars, name) }
}

func TestComposeFile(t *testing.T) {
	p, err := loadCompose(t, readCompose(t), false)
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	for _, problem := range checkCompose(p, composeKnownVar(t)) {
		t.Error(problem)
	}
	// Every image Compose builds comes from a stage of deploy/Dockerfile.
	stages := parseDockerfile(t, "Dockerfile")
	for name, s := range p.Services {
		if s.Build == nil {
			continue
		}
		if filepath.Base(s.Build.Dockerfile) != "Dockerfile" || !slices.ContainsFunc(stages, func(st dockerStage) bool { return st.Name == s.Build.Target }) {
			t.Errorf("compose: service %s builds %s target %q, which deploy/Dockerfile does not have", name, s.Build.Dockerfile, s.Build.Target)
		}
	}
	// With the env files resolved, as `docker compose up` does, the hub
	// services get every variable the routing file requires.
	full, err := loadCompose(t, readCompose(t), true)
	if err != nil {
		t.Fatalf("compose-go with env files: %v", err)
	}
	data, err := os.ReadFile("switchboard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	required, _ := routingVars(data)
	for _, name := range hubServices[1:] {
		for _, v := range required {
			if _, ok := full.Services[name].Environment[v]; !ok {
				t.Errorf("compose: service %s does not get %s, which deploy/switchboard.yaml requires", name, v)
			}
		}
	}
}

// TestComposeEnvExamples keeps the example env files to variables the hub
// (or the routing file, or PostgreSQL's image) reads.
func TestComposeEnvExamples(t *testing.T) {
	known := composeKnownVar(t)
	for name := range envFile(t, "compose.env.example") {
		if !known(name) {
			t.Errorf("compose.env.example: %s is not read by the hub nor named by deploy/switchboard.yaml", name)
		}
	}
	if _, ok := envFile(t, "postgres.env.example")["POSTGRES_PASSWORD"]; !ok {
		t.Error("postgres.env.example: no POSTGRES_PASSWORD")
	}
}

func TestComposeCheckerCatchesBreakage(t *testing.T) {
	cases := []struct {
		name string
		edit func(string) string    // the compose text, before loading
		mut  func(p *types.Project) // or the loaded project
		want string
	}{
		{name: "unknown key (schema)", edit: func(s string) string {
			return strings.Replace(s, "    stop_grace_period: 40s\n", "    stop_grace_period: 40s\n    stop_grace: 40s\n", 1)
		}, want: "stop_grace"},
		{name: "wrong type (schema)", edit: func(s string) string {
			return strings.Replace(s, "      retries: 12\n", "      retries: twelve\n", 1)
		}, want: "retries"},
		{name: "depends on a missing service", mut: func(p *types.Project) {
			p.Services[svcAPI].DependsOn["migrations"] = types.ServiceDependency{Condition: types.ServiceConditionCompletedSuccessfully}
		}, want: "depends on migrations, which does not exist"},
		{name: "worker runs the api role", mut: func(p *types.Project) {
			s := p.Services[svcWorker]
			s.Command = types.ShellCommand{"serve", "--role", "api"}
			p.Services[svcWorker] = s
		}, want: "service worker command"},
		{name: "no healthcheck", mut: func(p *types.Project) {
			s := p.Services["vendorsim"]
			s.HealthCheck = nil
			p.Services["vendorsim"] = s
		}, want: "service vendorsim has no healthcheck"},
		{name: "secret literal", mut: func(p *types.Project) {
			v := "sk_live_123"
			p.Services[svcWorker].Environment["STRIPE_API_KEY"] = &v
		}, want: "STRIPE_API_KEY is a secret written in the compose file"},
		{name: "image on latest", mut: func(p *types.Project) {
			s := p.Services["stripe-mock"]
			s.Image = "stripe/stripe-mock:latest"
			p.Services["stripe-mock"] = s
		}, want: "must be pinned"},
		{name: "api migrating on its own", mut: func(p *types.Project) {
			delete(p.Services[svcAPI].Environment, "SWITCHBOARD_AUTO_MIGRATE")
		}, want: "api must set SWITCHBOARD_AUTO_MIGRATE=false"},
		{name: "started before migration", mut: func(p *types.Project) {
			p.Services[svcWorker].DependsOn[svcMigrate] = types.ServiceDependency{Condition: types.ServiceConditionStarted}
		}, want: "worker must depend on migrate with condition service_completed_successfully"},
		{name: "undocumented variable", mut: func(p *types.Project) {
			v := "debug"
			p.Services[svcAPI].Environment["SWITCHBOARD_LOGLEVEL"] = &v
		}, want: "SWITCHBOARD_LOGLEVEL is not read by the hub"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := readCompose(t)
			if tc.edit != nil {
				edited := tc.edit(text)
				if edited == text {
					t.Fatal("the edit did not change compose.yaml: update the case")
				}
				text = edited
			}
			p, err := loadCompose(t, text, false)
			var problems []string
			if err != nil {
				problems = append(problems, err.Error())
			} else {
				if tc.mut != nil {
					tc.mut(p)
				}
				problems = checkCompose(p, composeKnownVar(t))
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("want a problem containing %q, got:\n%s", tc.want, strings.Join(problems, "\n"))
			}
		})
	}
}
