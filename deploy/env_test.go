package deploy

import (
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchboard-health/switchboard/hub/config"
)

// knownVar reports whether the hub reads name (its configuration
// reference) or a routing file names it.
func (c *checker) knownVar(name string) bool {
	if config.Documented(name) || slices.Contains(c.extraVars, name) {
		return true
	}
	for _, cm := range all[*corev1.ConfigMap](c.objs) {
		if data, ok := cm.Data[routingFileKey]; ok {
			req, opt := routingVars([]byte(data))
			if slices.Contains(req, name) || slices.Contains(opt, name) {
				return true
			}
		}
	}
	return false
}

func (c *checker) checkEnv(where string, ctr *corev1.Container) {
	for _, ef := range ctr.EnvFrom {
		if ef.Prefix != "" {
			c.addf("%s: envFrom prefix %q renames variables; the hub reads them by name", where, ef.Prefix)
		}
		switch {
		case ef.ConfigMapRef != nil:
			cm := c.configMap(ef.ConfigMapRef.Name)
			if cm == nil {
				c.addf("%s: envFrom names ConfigMap/%s, which is not in the manifests", where, ef.ConfigMapRef.Name)
				continue
			}
			for k := range cm.Data {
				if !c.knownVar(k) {
					c.addf("%s: ConfigMap/%s sets %s, which the hub does not read and no routing file names", where, cm.Name, k)
				}
			}
		case ef.SecretRef != nil:
			s := c.secret(ef.SecretRef.Name)
			if s == nil {
				c.addf("%s: envFrom names Secret/%s, which is not in the manifests", where, ef.SecretRef.Name)
				continue
			}
			for _, k := range secretKeys(s) {
				if !c.knownVar(k) {
					c.addf("%s: Secret/%s sets %s, which the hub does not read and no routing file names", where, s.Name, k)
				}
			}
		}
	}
	for _, e := range ctr.Env {
		if !c.knownVar(e.Name) {
			c.addf("%s: env %s is not read by the hub (config reference) nor named by a routing file", where, e.Name)
		}
		vf := e.ValueFrom
		switch {
		case vf == nil:
			if secretLike(e.Name) {
				c.addf("%s: env %s is a secret given as a literal value: use a secretKeyRef", where, e.Name)
			}
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			s := c.secret(ref.Name)
			if s == nil {
				c.addf("%s: env %s: secretKeyRef names Secret/%s, which is not in the manifests", where, e.Name, ref.Name)
			} else if !slices.Contains(secretKeys(s), ref.Key) && (ref.Optional == nil || !*ref.Optional) {
				c.addf("%s: env %s: secretKeyRef key %s is not in Secret/%s", where, e.Name, ref.Key, ref.Name)
			}
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			if secretLike(e.Name) {
				c.addf("%s: env %s is a secret taken from ConfigMap/%s: use a secretKeyRef", where, e.Name, ref.Name)
			}
			cm := c.configMap(ref.Name)
			if cm == nil {
				c.addf("%s: env %s: configMapKeyRef names ConfigMap/%s, which is not in the manifests", where, e.Name, ref.Name)
			} else if _, ok := cm.Data[ref.Key]; !ok && (ref.Optional == nil || !*ref.Optional) {
				c.addf("%s: env %s: configMapKeyRef key %s is not in ConfigMap/%s", where, e.Name, ref.Key, ref.Name)
			}
		}
	}
}

// envSource says where a container's variable comes from: "env",
// "configmap" or "secret"; ok is false when it is not set at all.
func (c *checker) envSource(ctr *corev1.Container, name string) (string, bool) {
	for _, e := range ctr.Env {
		if e.Name == name {
			switch {
			case e.ValueFrom == nil:
				return "env", true
			case e.ValueFrom.SecretKeyRef != nil:
				return "secret", true
			default:
				return "configmap", true
			}
		}
	}
	for _, ef := range ctr.EnvFrom {
		if ef.ConfigMapRef != nil {
			if cm := c.configMap(ef.ConfigMapRef.Name); cm != nil {
				if _, ok := cm.Data[name]; ok {
					return "configmap", true
				}
			}
		}
		if ef.SecretRef != nil {
			if s := c.secret(ef.SecretRef.Name); s != nil && slices.Contains(secretKeys(s), name) {
				return "secret", true
			}
		}
	}
	return "", false
}

// envValue is a non-secret variable's value as the container sees it.
func (c *checker) envValue(ctr *corev1.Container, name string) (string, bool) {
	for _, e := range ctr.Env {
		if e.Name == name {
			if e.ValueFrom == nil {
				return e.Value, true
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				if cm := c.configMap(r.Name); cm != nil {
					v, ok := cm.Data[r.Key]
					return v, ok
				}
			}
			return "", false
		}
	}
	for _, ef := range ctr.EnvFrom {
		if ef.ConfigMapRef != nil {
			if cm := c.configMap(ef.ConfigMapRef.Name); cm != nil {
				if v, ok := cm.Data[name]; ok {
					return v, true
				}
			}
		}
	}
	return "", false
}

func (c *checker) mountedConfigMaps(pod *corev1.PodSpec) []*corev1.ConfigMap {
	var out []*corev1.ConfigMap
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			if cm := c.configMap(v.ConfigMap.Name); cm != nil {
				if _, ok := cm.Data[routingFileKey]; ok {
					out = append(out, cm)
				}
			}
		}
	}
	return out
}

func (c *checker) checkProbe(where, kind string, p *corev1.Probe, ctr *corev1.Container, role, want string) {
	if p == nil {
		if want != "" {
			c.addf("%s: needs a %s on %s", where, kind, want)
		}
		return
	}
	if p.HTTPGet == nil {
		c.addf("%s: %s must be an httpGet probe", where, kind)
		return
	}
	if want != "" && p.HTTPGet.Path != want {
		c.addf("%s: %s path %q, want %s", where, kind, p.HTTPGet.Path, want)
	}
	if !slices.Contains(c.routes[role], p.HTTPGet.Path) {
		c.addf("%s: %s path %q is not a route the hub serves in role %s (%v)", where, kind, p.HTTPGet.Path, role, c.routes[role])
	}
	if !hasPort(ctr, p.HTTPGet.Port) {
		c.addf("%s: %s port %s is not a container port", where, kind, p.HTTPGet.Port.String())
	}
}

func hasPort(ctr *corev1.Container, port intstr.IntOrString) bool {
	return slices.ContainsFunc(ctr.Ports, func(p corev1.ContainerPort) bool {
		if port.Type == intstr.String {
			return p.Name == port.StrVal
		}
		return p.ContainerPort == port.IntVal
	})
}

func (c *checker) checkService(s *corev1.Service, deps []*appsv1.Deployment) {
	where := "Service/" + s.Name
	if len(s.Spec.Selector) == 0 {
		c.addf("%s: needs a selector", where)
		return
	}
	d := matchingDeployment(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}, deps)
	if d == nil {
		c.addf("%s: selector %v matches no Deployment's pod template labels", where, s.Spec.Selector)
		return
	}
	for _, p := range s.Spec.Ports {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port)
		}
		if !slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(ctr corev1.Container) bool { return hasPort(&ctr, target) }) {
			c.addf("%s: port %s targets %s, which Deployment/%s does not expose", where, p.Name, target.String(), d.Name)
		}
	}
}

func (c *checker) configMap(name string) *corev1.ConfigMap {
	for _, cm := range all[*corev1.ConfigMap](c.objs) {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

func (c *checker) secret(name string) *corev1.Secret {
	for _, s := range all[*corev1.Secret](c.objs) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func secretKeys(s *corev1.Secret) []string {
	var keys []string
	for k := range s.StringData {
		keys = append(keys, k)
	}
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
