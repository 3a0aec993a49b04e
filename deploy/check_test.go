package deploy

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checker cross-checks decoded manifests. extraVars are variables named by
// routing files outside the manifests (deploy/switchboard.yaml); routes
// are the paths each role serves.
type checker struct {
	objs      []object
	extraVars []string
	routes    hubRoutes

	problems []string
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func all[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// checkManifests returns every problem found in objs.
func checkManifests(objs []object, extraVars []string, routes hubRoutes) []string {
	c := &checker{objs: objs, extraVars: extraVars, routes: routes}
	c.checkNamespaces()
	deps := all[*appsv1.Deployment](objs)
	for _, d := range deps {
		c.checkDeployment(d)
	}
	for _, j := range all[*batchv1.Job](objs) {
		c.checkPod("Job/"+j.Name, &j.Spec.Template.Spec, "")
		if !slices.Contains(j.Spec.Template.Spec.Containers[0].Args, "migrate") {
			c.addf("Job/%s: does not run `switchboard migrate`", j.Name)
		}
	}
	for _, s := range all[*corev1.Service](objs) {
		c.checkService(s, deps)
	}
	for _, p := range all[*policyv1.PodDisruptionBudget](objs) {
		if d := matchingDeployment(p.Spec.Selector, deps); d == nil {
			c.addf("PodDisruptionBudget/%s: selector matches no Deployment's pods", p.Name)
		}
	}
	for _, h := range all[*autoscalingv2.HorizontalPodAutoscaler](objs) {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !slices.ContainsFunc(deps, func(d *appsv1.Deployment) bool { return d.Name == ref.Name }) {
			c.addf("HorizontalPodAutoscaler/%s: scaleTargetRef %s %s/%s names no Deployment here", h.Name, ref.APIVersion, ref.Kind, ref.Name)
		}
	}
	for _, n := range all[*networkingv1.NetworkPolicy](objs) {
		if d := matchingDeployment(&n.Spec.PodSelector, deps); d == nil {
			c.addf("NetworkPolicy/%s: podSelector matches no Deployment's pods", n.Name)
		}
	}
	for _, cm := range all[*corev1.ConfigMap](objs) {
		for k := range cm.Data {
			if secretLike(k) {
				c.addf("ConfigMap/%s: %s looks like a secret: put it in a Secret", cm.Name, k)
			}
		}
	}
	sort.Strings(c.problems)
	return c.problems
}

func (c *checker) checkNamespaces() {
	for _, o := range c.objs {
		if _, ok := o.Obj.(*corev1.Namespace); ok {
			if o.meta().Name != namespace {
				c.addf("%s: namespace %q, want %q", o, o.meta().Name, namespace)
			}
			continue
		}
		if ns := o.meta().Namespace; ns != namespace {
			c.addf("%s: metadata.namespace %q, want %q", o, ns, namespace)
		}
	}
}

func matchingDeployment(sel *metav1.LabelSelector, deps []*appsv1.Deployment) *appsv1.Deployment {
	if sel == nil {
		return nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil
	}
	for _, d := range deps {
		if s.Matches(labels.Set(d.Spec.Template.Labels)) {
			return d
		}
	}
	return nil
}

func (c *checker) checkDeployment(d *appsv1.Deployment) {
	where := "Deployment/" + d.Name
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	switch {
	case d.Spec.Selector == nil || err != nil || sel.Empty():
		c.addf("%s: needs a non-empty selector", where)
	case !sel.Matches(labels.Set(d.Spec.Template.Labels)):
		c.addf("%s: selector %s does not match its own pod template labels", where, sel)
	}
	pod := &d.Spec.Template.Spec
	if len(pod.Containers) == 0 {
		c.addf("%s: no containers", where)
		return
	}
	args := pod.Containers[0].Args
	role := ""
	if i := slices.Index(args, "--role"); i >= 0 && i+1 < len(args) {
		role = args[i+1]
	}
	if !slices.Contains(args, "serve") || (role != "api" && role != "worker") {
		c.addf("%s: want args serve --role api|worker, got %q", where, args)
	}
	c.checkPod(where, pod, role)

	// The drain (SWITCHBOARD_SHUTDOWN_TIMEOUT) and any preStop pause must
	// end before the kubelet's SIGKILL.
	shutdown := 30 * time.Second
	if v, ok := c.envValue(&pod.Containers[0], "SWITCHBOARD_SHUTDOWN_TIMEOUT"); ok {
		if shutdown, err = time.ParseDuration(v); err != nil {
			c.addf("%s: SWITCHBOARD_SHUTDOWN_TIMEOUT %q: %v", where, v, err)
		}
	}
	var pause time.Duration
	if lc := pod.Containers[0].Lifecycle; lc != nil && lc.PreStop != nil && lc.PreStop.Sleep != nil {
		pause = time.Duration(lc.PreStop.Sleep.Seconds) * time.Second
	}
	grace := 30 * time.Second // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if grace <= shutdown+pause {
		c.addf("%s: terminationGracePeriodSeconds %s is not longer than SWITCHBOARD_SHUTDOWN_TIMEOUT %s + preStop %s", where, grace, shutdown, pause)
	}
	if v, ok := c.envValue(&pod.Containers[0], "SWITCHBOARD_ADDR"); ok {
		_, port, err := net.SplitHostPort(v)
		n, _ := strconv.Atoi(port)
		if err != nil || !hasPort(&pod.Containers[0], intstr.FromInt32(int32(n))) {
			c.addf("%s: SWITCHBOARD_ADDR %q does not listen on a container port", where, v)
		}
	}
	if v, _ := c.envValue(&pod.Containers[0], "SWITCHBOARD_AUTO_MIGRATE"); v != "false" {
		c.addf("%s: SWITCHBOARD_AUTO_MIGRATE must be false (the migration Job migrates), got %q", where, v)
	}

	// The routing file mounted must be loadable with this environment:
	// each variable it requires is set.
	for _, cm := range c.mountedConfigMaps(pod) {
		req, _ := routingVars([]byte(cm.Data[routingFileKey]))
		for _, v := range req {
			if _, ok := c.envSource(&pod.Containers[0], v); !ok {
				c.addf("%s: the routing file in ConfigMap/%s needs %s, which the container does not get", where, cm.Name, v)
			}
		}
	}
}

// checkPod checks what every hub pod must have; role is "" for the Job.
func (c *checker) checkPod(where string, pod *corev1.PodSpec, role string) {
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		c.addf("%s: pod securityContext needs runAsNonRoot and seccompProfile RuntimeDefault", where)
	}
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && c.configMap(v.ConfigMap.Name) == nil {
			c.addf("%s: volume %s names ConfigMap/%s, which is not in the manifests", where, v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && c.secret(v.Secret.SecretName) == nil {
			c.addf("%s: volume %s names Secret/%s, which is not in the manifests", where, v.Name, v.Secret.SecretName)
		}
	}
	for _, ctr := range slices.Concat(pod.InitContainers, pod.Containers) {
		cw := where + " container " + ctr.Name
		c.checkImage(cw, ctr.Image)
		c.checkResources(cw, ctr.Resources)
		c.checkSecurity(cw, ctr.SecurityContext)
		c.checkEnv(cw, &ctr)
		if role != "" {
			c.checkProbe(cw, "readinessProbe", ctr.ReadinessProbe, &ctr, role, "/readyz")
			c.checkProbe(cw, "livenessProbe", ctr.LivenessProbe, &ctr, role, "/healthz")
			if ctr.StartupProbe != nil {
				c.checkProbe(cw, "startupProbe", ctr.StartupProbe, &ctr, role, "")
			}
		}
	}
}

func (c *checker) checkImage(where, image string) {
	ref := image
	if i := strings.Index(ref, "@sha256:"); i >= 0 {
		if len(ref) < i+len("@sha256:")+64 {
			c.addf("%s: image %q: short digest", where, image)
		}
		return
	}
	name, tag, ok := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
	if !ok || tag == "" || tag == "latest" || name == "" {
		c.addf("%s: image %q must be pinned by a tag other than latest (or a digest)", where, image)
	}
}

func (c *checker) checkResources(where string, r corev1.ResourceRequirements) {
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := r.Requests[res]
		lim, okLim := r.Limits[res]
		switch {
		case !okReq || !okLim:
			c.addf("%s: needs %s requests and limits", where, res)
		case req.Cmp(lim) > 0:
			c.addf("%s: %s request %s is above its limit %s", where, res, req.String(), lim.String())
		}
	}
}

func (c *checker) checkSecurity(where string, sc *corev1.SecurityContext) {
	switch {
	case sc == nil:
		c.addf("%s: needs a securityContext", where)
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		c.addf("%s: securityContext needs runAsNonRoot: true", where)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		c.addf("%s: securityContext needs readOnlyRootFilesystem: true", where)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		c.addf("%s: securityContext needs allowPrivilegeEscalation: false", where)
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
		c.addf("%s: securityContext must drop ALL capabilities and add none", where)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		c.addf("%s: securityContext needs seccompProfile RuntimeDefault", where)
	}
}
