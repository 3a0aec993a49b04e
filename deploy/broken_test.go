package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func find[T interface{ GetName() string }](t *testing.T, objs []object, name string) T {
	t.Helper()
	for _, o := range all[T](objs) {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, name)
	return zero
}

func container(t *testing.T, objs []object, deployment string) *corev1.Container {
	return &find[*appsv1.Deployment](t, objs, deployment).Spec.Template.Spec.Containers[0]
}

// TestCheckerCatchesBrokenManifests breaks a copy of the real manifests in
// one way per case, in memory, and expects the decoder or the checker to
// name the problem; the real files stay untouched.
func TestCheckerCatchesBrokenManifests(t *testing.T) {
	routes := servedRoutes(t)
	extra := composeRoutingVars(t)
	cases := []struct {
		name string
		file string                     // edit this file's text before decoding, if set
		edit func(string) string        // the text edit
		mut  func(*testing.T, []object) // or change the decoded objects
		want string                     // a problem containing this
	}{
		{name: "unknown field", file: "service.yaml",
			edit: func(s string) string {
				return strings.Replace(s, "  type: ClusterIP\n", "  type: ClusterIP\n  sessionAffinty: None\n", 1)
			},
			want: `json: unknown field "sessionAffinty"`},
		{name: "misspelt field in a pod template", file: "worker-deployment.yaml",
			edit: func(s string) string { return strings.Replace(s, "readinessProbe:", "readinesProbe:", 1) },
			want: `json: unknown field "readinesProbe"`},
		{name: "wrong value type", file: "hpa.yaml",
			edit: func(s string) string { return strings.Replace(s, "maxReplicas: 10", "maxReplicas: ten", 1) },
			want: "strict decode"},
		{name: "unknown kind", file: "pdb.yaml",
			edit: func(s string) string {
				return strings.Replace(s, "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett", 1)
			},
			want: "unknown kind policy/v1 PodDisruptionBudgett"},
		{name: "old API version", file: "hpa.yaml",
			edit: func(s string) string { return strings.Replace(s, "autoscaling/v2", "autoscaling/v2beta2", 1) },
			want: "unknown kind autoscaling/v2beta2"},
		{name: "service selector matches nothing", mut: func(t *testing.T, o []object) {
			find[*corev1.Service](t, o, "switchboard-api").Spec.Selector["app.kubernetes.io/component"] = "apii"
		}, want: "Service/switchboard-api: selector"},
		{name: "service targets a port the pods lack", mut: func(t *testing.T, o []object) {
			find[*corev1.Service](t, o, "switchboard-api").Spec.Ports[0].TargetPort = intstr.FromString("https")
		}, want: "targets https"},
		{name: "deployment selector misses its own pods", mut: func(t *testing.T, o []object) {
			find[*appsv1.Deployment](t, o, "switchboard-worker").Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "workers"
		}, want: "does not match its own pod template labels"},
		{name: "probe on a route the hub does not serve", mut: func(t *testing.T, o []object) {
			container(t, o, "switchboard-api").ReadinessProbe.HTTPGet.Path = "/nope"
		}, want: `readinessProbe path "/nope" is not a route the hub serves`},
		{name: "worker probe on an API-only route", mut: func(t *testing.T, o []object) {
			p := container(t, o, "switchboard-worker").LivenessProbe
			p.HTTPGet.Path = "/fhir/R4/metadata"
		}, want: `livenessProbe path "/fhir/R4/metadata" is not a route the hub serves in role worker`},
		{name: "probe on a port that is not a container port", mut: func(t *testing.T, o []object) {
			container(t, o, "switchboard-worker").LivenessProbe.HTTPGet.Port = intstr.FromInt32(9090)
		}, want: "livenessProbe port 9090 is not a container port"},
		{name: "missing probe", mut: func(t *testing.T, o []object) {
			container(t, o, "switchboard-worker").ReadinessProbe = nil
		}, want: "needs a readinessProbe on /readyz"},
		{name: "secret moved into a ConfigMap", mut: func(t *testing.T, o []object) {
			delete(find[*corev1.Secret](t, o, "switchboard-secrets").StringData, "DATABASE_URL")
			find[*corev1.ConfigMap](t, o, "switchboard-settings").Data["DATABASE_URL"] = "postgres://u:p@db/switchboard"
		}, want: "ConfigMap/switchboard-settings: DATABASE_URL looks like a secret"},
		{name: "secret taken from a ConfigMap key", mut: func(t *testing.T, o []object) {
			ctr := container(t, o, "switchboard-worker")
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "HUBSPOT_TOKEN", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "switchboard-settings"}, Key: "SWITCHBOARD_LOG_LEVEL"}}})
		}, want: "env HUBSPOT_TOKEN is a secret taken from ConfigMap/switchboard-settings"},
		{name: "secret as a literal value", mut: func(t *testing.T, o []object) {
			ctr := container(t, o, "switchboard-api")
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "SWITCHBOARD_HMAC_KEY", Value: "c2VjcmV0"})
		}, want: "SWITCHBOARD_HMAC_KEY is a secret given as a literal value"},
		{name: "secretKeyRef to a key the Secret lacks", mut: func(t *testing.T, o []object) {
			ctr := container(t, o, "switchboard-api")
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "STRIPE_API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "switchboard-secrets"}, Key: "STRIPE_KEY"}}})
		}, want: "secretKeyRef key STRIPE_KEY is not in Secret/switchboard-secrets"},
		{name: "envFrom a missing Secret", mut: func(t *testing.T, o []object) {
			ctr := container(t, o, "switchboard-worker")
			ctr.EnvFrom[slices.IndexFunc(ctr.EnvFrom, func(e corev1.EnvFromSource) bool { return e.SecretRef != nil })].SecretRef.Name = "secrets"
		}, want: "envFrom names Secret/secrets, which is not in the manifests"},
		{name: "configMapKeyRef to a missing ConfigMap", mut: func(t *testing.T, o []object) {
			ctr := container(t, o, "switchboard-api")
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "SWITCHBOARD_LOG_LEVEL", ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "level"}}})
		}, want: "configMapKeyRef names ConfigMap/settings"},
		{name: "undocumented variable", mut: func(t *testing.T, o []object) {
			find[*corev1.ConfigMap](t, o, "switchboard-settings").Data["SWITCHBOARD_LOGLEVEL"] = "debug"
		}, want: "sets SWITCHBOARD_LOGLEVEL, which the hub does not read"},
		{name: "routing file needs a credential the pods lack", mut: func(t *testing.T, o []object) {
			cm := find[*corev1.ConfigMap](t, o, "switchboard-routes")
			cm.Data[routingFileKey] = strings.Replace(cm.Data[routingFileKey], "token_env: HUBSPOT_TOKEN", "token_env: HUBSPOT_ACCESS_TOKEN", 1)
		}, want: "needs HUBSPOT_ACCESS_TOKEN, which the container does not get"},
		{name: "no resource limits", mut: func(t *testing.T, o []object) {
			container(t, o, "switchboard-worker").Resources.Limits = nil
		}, want: "switchboard-worker container switchboard: needs cpu requests and limits"},
		{name: "image on latest", mut: func(t *testing.T, o []object) {
			container(t, o, "switchboard-api").Image = "ghcr.io/switchboard-health/switchboard:latest"
		}, want: "must be pinned by a tag"},
		{name: "image without a tag", mut: func(t *testing.T, o []object) {
			container(t, o, "switchboard-api").Image = "localhost:5000/switchboard"
		}, want: "must be pinned by a tag"},
		{name: "writable root filesystem", mut: func(t *testing.T, o []object) {
			f := false
			container(t, o, "switchboard-api").SecurityContext.ReadOnlyRootFilesystem = &f
		}, want: "readOnlyRootFilesystem"},
		{name: "grace period shorter than the drain", mut: func(t *testing.T, o []object) {
			g := int64(30)
			find[*appsv1.Deployment](t, o, "switchboard-worker").Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, want: "terminationGracePeriodSeconds 30s is not longer than SWITCHBOARD_SHUTDOWN_TIMEOUT 30s"},
		{name: "listening on another port than the probes", mut: func(t *testing.T, o []object) {
			find[*corev1.ConfigMap](t, o, "switchboard-settings").Data["SWITCHBOARD_ADDR"] = "0.0.0.0:9000"
		}, want: `SWITCHBOARD_ADDR "0.0.0.0:9000" does not listen on a container port`},
		{name: "serve migrating on its own", mut: func(t *testing.T, o []object) {
			delete(find[*corev1.ConfigMap](t, o, "switchboard-settings").Data, "SWITCHBOARD_AUTO_MIGRATE")
		}, want: "SWITCHBOARD_AUTO_MIGRATE must be false"},
		{name: "worker deployment without its role", mut: func(t *testing.T, o []object) {
			container(t, o, "switchboard-worker").Args = []string{"serve"}
		}, want: "want args serve --role api|worker"},
		{name: "PDB selects nothing", mut: func(t *testing.T, o []object) {
			find[*policyv1.PodDisruptionBudget](t, o, "switchboard-worker").Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "switchbored"
		}, want: "PodDisruptionBudget/switchboard-worker: selector matches no Deployment"},
		{name: "HPA scales a missing Deployment", mut: func(t *testing.T, o []object) {
			find[*autoscalingv2.HorizontalPodAutoscaler](t, o, "switchboard-api").Spec.ScaleTargetRef.Name = "api"
		}, want: "scaleTargetRef apps/v1 Deployment/api names no Deployment"},
		{name: "NetworkPolicy selects nothing", mut: func(t *testing.T, o []object) {
			find[*networkingv1.NetworkPolicy](t, o, "switchboard-api-ingress").Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] = "web"
		}, want: "NetworkPolicy/switchboard-api-ingress: podSelector matches no Deployment"},
		{name: "object in another namespace", mut: func(t *testing.T, o []object) {
			find[*corev1.Service](t, o, "switchboard-api").Namespace = "default"
		}, want: `metadata.namespace "default"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := readAll(t) // a fresh copy for every case
			if tc.file != "" {
				before := string(files[tc.file])
				after := tc.edit(before)
				if after == before {
					t.Fatalf("the edit did not change %s: update the case", tc.file)
				}
				files[tc.file] = []byte(after)
			}
			objs, problems := decodeAll(files)
			if tc.mut != nil {
				if len(problems) > 0 {
					t.Fatalf("the real manifests do not decode: %v", problems)
				}
				tc.mut(t, objs)
			}
			problems = append(problems, checkManifests(objs, extra, routes)...)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("want a problem containing %q, got %d:\n%s", tc.want, len(problems), strings.Join(problems, "\n"))
			}
		})
	}
}
