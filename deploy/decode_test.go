package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifestDir holds the Kubernetes manifests the tests check.
const manifestDir = "kubernetes"

// namespace is where every namespaced object must live.
const namespace = "switchboard"

// object is one decoded YAML document of a manifest file.
type object struct {
	File  string // base name of the file
	Index int    // document number in the file, from 0
	Obj   any    // a pointer to the k8s.io/api type of its kind
}

func (o object) String() string {
	m := o.meta()
	return fmt.Sprintf("%s#%d %s/%s", o.File, o.Index, kindOf(o.Obj), m.Name)
}

func (o object) meta() *metav1.ObjectMeta {
	switch v := o.Obj.(type) {
	case *corev1.Namespace:
		return &v.ObjectMeta
	case *corev1.ServiceAccount:
		return &v.ObjectMeta
	case *corev1.ConfigMap:
		return &v.ObjectMeta
	case *corev1.Secret:
		return &v.ObjectMeta
	case *corev1.Service:
		return &v.ObjectMeta
	case *appsv1.Deployment:
		return &v.ObjectMeta
	case *batchv1.Job:
		return &v.ObjectMeta
	case *policyv1.PodDisruptionBudget:
		return &v.ObjectMeta
	case *autoscalingv2.HorizontalPodAutoscaler:
		return &v.ObjectMeta
	case *networkingv1.NetworkPolicy:
		return &v.ObjectMeta
	}
	return &metav1.ObjectMeta{}
}

// kinds are the only objects the manifests may hold, by apiVersion and
// kind: anything else (a typo, an API group the tests do not know) fails.
var kinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
}

func kindOf(obj any) string {
	t := fmt.Sprintf("%T", obj)
	return t[strings.LastIndex(t, ".")+1:]
}

// decodeManifest splits one file into YAML documents and decodes each
// strictly into its official type: an unknown or duplicated field, a wrong
// value type or an unknown kind is a problem. Comment-only documents are
// skipped.
func decodeManifest(file string, data []byte) ([]object, []string) {
	var objs []object
	var problems []string
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: read YAML document %d: %v", file, i, err))
			break
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(raw, &tm); err != nil {
			problems = append(problems, fmt.Sprintf("%s#%d: %v", file, i, err))
			continue
		}
		if tm.APIVersion == "" && tm.Kind == "" {
			if len(bytes.TrimSpace(stripComments(raw))) > 0 {
				problems = append(problems, fmt.Sprintf("%s#%d: document without apiVersion and kind", file, i))
			}
			continue
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s#%d: unknown kind %s %s", file, i, tm.APIVersion, tm.Kind))
			continue
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			problems = append(problems, fmt.Sprintf("%s#%d %s: strict decode: %v", file, i, tm.Kind, err))
			continue
		}
		objs = append(objs, object{File: file, Index: i, Obj: obj})
	}
	return objs, problems
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$`)

func stripComments(b []byte) []byte { return commentLine.ReplaceAll(b, nil) }

// readManifests reads every *.yaml file of dir but kustomization.yaml,
// keyed by base name.
func readManifests(dir string) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, p := range paths {
		if filepath.Base(p) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(p)] = b
	}
	return files, nil
}

// decodeAll decodes files in name order.
func decodeAll(files map[string][]byte) ([]object, []string) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []object
	var problems []string
	for _, n := range names {
		o, p := decodeManifest(n, files[n])
		objs = append(objs, o...)
		problems = append(problems, p...)
	}
	return objs, problems
}
