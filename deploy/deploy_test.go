package deploy

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/switchboard-health/switchboard/connectors"
	_ "github.com/switchboard-health/switchboard/connectors/all"
	"github.com/switchboard-health/switchboard/hub/api"
	"github.com/switchboard-health/switchboard/hub/metrics"
	"github.com/switchboard-health/switchboard/hub/route"
	"github.com/switchboard-health/switchboard/hub/validation"
)

// servedRoutes asks the hub's real HTTP handler which GET paths each role
// serves, so a probe cannot name a route the hub does not have.
func servedRoutes(t *testing.T) hubRoutes {
	t.Helper()
	out := hubRoutes{}
	for role, healthOnly := range map[string]bool{"api": false, "worker": true} {
		s := &api.Server{HealthOnly: healthOnly, Metrics: metrics.New("test", role),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		e, ok := s.Handler().(*api.Router)
		if !ok {
			t.Fatalf("api.Server.Handler is a %T, not *api.Router: update servedRoutes", s.Handler())
		}
		for _, r := range e.Routes() {
			if r.Method == "GET" && !strings.Contains(r.Path, ":") && !strings.Contains(r.Path, "*") {
				out[role] = append(out[role], r.Path)
			}
		}
		sort.Strings(out[role])
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if !slices.Contains(out["worker"], p) || !slices.Contains(out["api"], p) {
			t.Fatalf("the hub no longer serves %s in every role: %v", p, out)
		}
	}
	return out
}

// composeRoutingVars are the variables deploy/switchboard.yaml names.
func composeRoutingVars(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("switchboard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	req, opt := routingVars(data)
	return slices.Concat(req, opt)
}

func readAll(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := readManifests(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", manifestDir)
	}
	return files
}

func TestManifestsDecodeStrictly(t *testing.T) {
	objs, problems := decodeAll(readAll(t))
	for _, p := range problems {
		t.Error(p)
	}
	// The manifests a deployment needs, each present.
	have := map[string]int{}
	for _, o := range objs {
		have[kindOf(o.Obj)]++
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Job", "Deployment", "Service",
		"PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"} {
		if have[k] == 0 {
			t.Errorf("no %s in %s", k, manifestDir)
		}
	}
	if have["Deployment"] != 2 {
		t.Errorf("want two Deployments (api and worker), have %d", have["Deployment"])
	}
}

func TestManifestsCrossCheck(t *testing.T) {
	objs, problems := decodeAll(readAll(t))
	if len(problems) > 0 {
		t.Fatalf("decode: %v", problems)
	}
	for _, p := range checkManifests(objs, composeRoutingVars(t), servedRoutes(t)) {
		t.Error(p)
	}
}

// TestSecretTemplateHoldsPlaceholders keeps real values out of the
// committed Secret.
func TestSecretTemplateHoldsPlaceholders(t *testing.T) {
	objs, _ := decodeAll(readAll(t))
	for _, s := range all[*corev1.Secret](objs) {
		if len(s.Data) > 0 {
			t.Errorf("Secret/%s: use stringData with REPLACE-ME placeholders, not data", s.Name)
		}
		for k, v := range s.StringData {
			if !strings.HasPrefix(v, "REPLACE-ME") {
				t.Errorf("Secret/%s: %s is not a REPLACE-ME placeholder", s.Name, k)
			}
		}
	}
}

// kustomization is the part of kustomize's Kustomization the manifests
// use, decoded strictly so a misspelt field fails.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images"`
}

// secretTemplate is left out of the kustomization on purpose: applying it
// would overwrite the real Secret with placeholders.
const secretTemplate = "secret.template.yaml"

func TestKustomizationListsEveryManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || k.Namespace != namespace {
		t.Errorf("kustomization.yaml: apiVersion %q kind %q namespace %q", k.APIVersion, k.Kind, k.Namespace)
	}
	for name := range readAll(t) {
		listed := slices.Contains(k.Resources, name)
		if name == secretTemplate && listed {
			t.Errorf("kustomization.yaml lists %s: kubectl apply -k would overwrite the real Secret", name)
		}
		if name != secretTemplate && !listed {
			t.Errorf("kustomization.yaml does not list %s", name)
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(manifestDir, r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	objs, _ := decodeAll(readAll(t))
	for _, d := range all[*appsv1.Deployment](objs) {
		img := d.Spec.Template.Spec.Containers[0].Image
		if !slices.ContainsFunc(k.Images, func(i struct {
			Name    string `json:"name"`
			NewName string `json:"newName,omitempty"`
			NewTag  string `json:"newTag,omitempty"`
			Digest  string `json:"digest,omitempty"`
		}) bool {
			return strings.HasPrefix(img, i.Name+":") && (i.NewTag != "" || i.Digest != "")
		}) {
			t.Errorf("kustomization.yaml images: does not pin %s", img)
		}
	}
}

// envFile reads KEY=VALUE lines (comments and blanks skipped).
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		out[k] = v
	}
	return out
}

// loadRouting loads a routing file as the hub does at start-up (expansion,
// strict parse, resource types) and builds every destination's connector,
// which validates its own block and reads its credentials from env.
func loadRouting(t *testing.T, path string, env map[string]string) {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	table, err := route.Load(path, validation.IsResourceType, lookup)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, name := range table.DestinationNames() {
		d := table.Destinations[name]
		spec, ok := connectors.Lookup(d.Type)
		if !ok {
			t.Errorf("%s: destination %s: unknown connector type %q", path, name, d.Type)
			continue
		}
		if _, err := spec.New(connectors.Params{Name: name, Decode: d.Decoder(), Env: lookup,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// TestRoutingFilesLoad loads deploy/switchboard.yaml with the credentials
// of compose.env.example, and the ConfigMap's routing file with the
// Secret template's keys and the settings ConfigMap: both start a hub.
func TestRoutingFilesLoad(t *testing.T) {
	t.Run("compose", func(t *testing.T) {
		loadRouting(t, "switchboard.yaml", envFile(t, "compose.env.example"))
	})
	t.Run("kubernetes", func(t *testing.T) {
		objs, _ := decodeAll(readAll(t))
		env := map[string]string{}
		var routing string
		for _, cm := range all[*corev1.ConfigMap](objs) {
			for k, v := range cm.Data {
				if k == routingFileKey {
					routing = v
				} else {
					env[k] = v
				}
			}
		}
		// Plausible values in place of the placeholders: the test checks
		// that every variable is there, not what it holds.
		for _, s := range all[*corev1.Secret](objs) {
			for k := range s.StringData {
				env[k] = "whsec_c2VjcmV0LWZvci10aGUtdGVzdC1vbmx5LTAxMjM0NTY3"
			}
		}
		if routing == "" {
			t.Fatalf("no ConfigMap holds %s", routingFileKey)
		}
		path := filepath.Join(t.TempDir(), routingFileKey)
		if err := os.WriteFile(path, []byte(routing), 0o600); err != nil {
			t.Fatal(err)
		}
		loadRouting(t, path, env)
	})
}
