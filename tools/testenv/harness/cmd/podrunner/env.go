package main

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Objects the kubelet reads to build a container's environment.
type envSources struct {
	configMaps map[string]map[string]string // name -> data
	secrets    map[string]map[string][]byte // name -> data
	services   map[string]string            // the Services' link variables (serviceEnv)
}

// serviceEnv: the variables the kubelet makes of Services for a pod in namespace ns
// (pkg/kubelet/kubelet_pods.go getServiceEnvVarMap, pkg/kubelet/envvars FromServices): the
// `kubernetes` Service of `default` always, and, with enableServiceLinks (the default), every Service
// of the pod's namespace that has a ClusterIP: NAME_SERVICE_HOST, NAME_SERVICE_PORT[_PORTNAME],
// and Docker's link variables NAME_PORT, NAME_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR].
func serviceEnv(services []corev1.Service, ns string, links bool) map[string]string {
	m := map[string]string{}
	for _, s := range services {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		master := s.Namespace == metav1.NamespaceDefault && s.Name == "kubernetes"
		if !master && (s.Namespace != ns || !links) {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		m[name+"_SERVICE_HOST"] = ip
		m[name+"_SERVICE_PORT"] = strconv.Itoa(int(s.Spec.Ports[0].Port))
		for i, sp := range s.Spec.Ports {
			port := strconv.Itoa(int(sp.Port))
			if sp.Name != "" {
				m[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(sp.Name, "-", "_"))] = port
			}
			proto := string(corev1.ProtocolTCP)
			if sp.Protocol != "" {
				proto = string(sp.Protocol)
			}
			url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
			if i == 0 {
				m[name+"_PORT"] = url
			}
			prefix := name + "_PORT_" + port + "_" + strings.ToUpper(proto)
			m[prefix], m[prefix+"_PROTO"], m[prefix+"_PORT"], m[prefix+"_ADDR"] = url, strings.ToLower(proto), port, ip
		}
	}
	return m
}

// resolveEnv builds a container's environment as the kubelet does (pkg/kubelet/kubelet_pods.go,
// makeEnvironmentVariables): envFrom first (prefix, invalid keys skipped), then env in order, each
// `value` expanded with $(VAR) against the variables defined so far ($$ escapes, unknown references
// kept verbatim, third_party/forked/golang/expansion), fieldRef, configMapKeyRef and secretKeyRef.
// A missing non-optional source is an error, as the kubelet's CreateContainerConfigError.
func resolveEnv(pod *corev1.Pod, c *corev1.Container, src envSources) (map[string]string, []string, error) {
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, from := range c.EnvFrom {
		data, err := envFromData(from, src)
		if err != nil {
			return nil, nil, err
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	// $(VAR) sees the container's variables first, then the Services' (expansion.MappingFuncFor).
	visible := func() map[string]string {
		m := make(map[string]string, len(env)+len(src.services))
		for k, v := range src.services {
			m[k] = v
		}
		for k, v := range env {
			m[k] = v
		}
		return m
	}
	for _, e := range c.Env {
		v, err := envValue(pod, e, visible(), src)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		set(e.Name, v)
	}
	keys := make([]string, 0, len(src.services))
	for k := range src.services {
		if _, ok := env[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		set(k, src.services[k])
	}
	return env, order, nil
}

func envFromData(from corev1.EnvFromSource, src envSources) (map[string]string, error) {
	out := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		cm, ok := src.configMaps[from.ConfigMapRef.Name]
		if !ok {
			if optional(from.ConfigMapRef.Optional) {
				return out, nil
			}
			return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
		}
		for k, v := range cm {
			out[k] = v
		}
	case from.SecretRef != nil:
		s, ok := src.secrets[from.SecretRef.Name]
		if !ok {
			if optional(from.SecretRef.Optional) {
				return out, nil
			}
			return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
		}
		for k, v := range s {
			out[k] = string(v)
		}
	}
	return out, nil
}

func optional(b *bool) bool { return b != nil && *b }

func envValue(pod *corev1.Pod, e corev1.EnvVar, env map[string]string, src envSources) (string, error) {
	if e.ValueFrom == nil {
		return expand(e.Value, env), nil
	}
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		return fieldRef(pod, vf.FieldRef.FieldPath)
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		if v, ok := src.configMaps[r.Name][r.Key]; ok {
			return v, nil
		}
		if optional(r.Optional) {
			return "", nil
		}
		return "", fmt.Errorf("key %q of configmap %q not found", r.Key, r.Name)
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		if v, ok := src.secrets[r.Name][r.Key]; ok {
			return string(v), nil
		}
		if optional(r.Optional) {
			return "", nil
		}
		return "", fmt.Errorf("key %q of secret %q not found", r.Key, r.Name)
	}
	return "", fmt.Errorf("resourceFieldRef is not supported by the test runner")
}

// fieldRef: the downward API fields the kubelet resolves for env (pkg/fieldpath and podFieldSelectorRuntimeValue).
func fieldRef(pod *corev1.Pod, path string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, 0, len(pod.Status.PodIPs))
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("fieldRef %q is not supported", path)
}

// subscript: `metadata.labels['key']` -> key.
func subscript(path, field string) (string, bool) {
	rest, ok := strings.CutPrefix(path, field+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// expand is the kubelet's $(VAR) expansion: $(NAME) of a defined variable is replaced, $$ is a
// literal $, and anything else (an undefined name, an unclosed reference) is left as written.
func expand(in string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] != '$' || i+1 >= len(in) {
			b.WriteByte(in[i])
			continue
		}
		switch next := in[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '(':
			end := strings.IndexByte(in[i+2:], ')')
			if end < 0 {
				b.WriteString(in[i:])
				return b.String()
			}
			name := in[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(in[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
