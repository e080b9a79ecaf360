package main

import (
	"fmt"
	"net"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Endpoints as the EndpointSlice controller computes them (pkg/controller/endpointslice): the pods of
// the Service's namespace its selector matches, ready ones (or all with publishNotReadyAddresses),
// each Service port's targetPort resolved against the pod's container ports. The runner computes them
// itself because the API server refuses loopback addresses in EndpointSlices ("may not be in the
// loopback range"), and only pods the runner runs (loopback pod IPs) are ever endpoints here:
// nothing connects to kwok's fake pod IPs.
type endpoint struct {
	pod *corev1.Pod
	ip  string
}

func serviceEndpoints(svc *corev1.Service, pods []corev1.Pod) []endpoint {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []endpoint
	for i := range pods {
		p := &pods[i]
		ip := net.ParseIP(p.Status.PodIP)
		if p.Namespace != svc.Namespace || ip == nil || !ip.IsLoopback() || p.DeletionTimestamp != nil ||
			!sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		if !svc.Spec.PublishNotReadyAddresses && !podReady(p) {
			continue
		}
		out = append(out, endpoint{pod: p, ip: p.Status.PodIP})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ip < out[b].ip })
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targetPort: the pod port a Service port reaches (a number, or a container port's name).
func targetPort(sp corev1.ServicePort, p *corev1.Pod) (int32, bool) {
	tp := sp.TargetPort
	if tp.IntValue() > 0 {
		return int32(tp.IntValue()), true
	}
	if tp.String() == "" || tp.String() == "0" {
		return sp.Port, true
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == tp.String() && (cp.Protocol == sp.Protocol || cp.Protocol == "" || sp.Protocol == "") {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// hostsLines: cluster DNS for pods behind a headless Service, as CoreDNS answers it:
// <hostname>.<subdomain>.<namespace>.svc[.cluster.local] when the pod's subdomain names the Service.
func hostsLines(svcs []corev1.Service, pods []corev1.Pod) []string {
	var out []string
	for i := range svcs {
		svc := &svcs[i]
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			continue
		}
		for _, e := range serviceEndpoints(svc, pods) {
			if e.pod.Spec.Hostname == "" || e.pod.Spec.Subdomain != svc.Name {
				continue
			}
			base := fmt.Sprintf("%s.%s.%s", e.pod.Spec.Hostname, svc.Name, svc.Namespace)
			out = append(out, fmt.Sprintf("%s %s.svc.cluster.local %s.svc %s", e.ip, base, base, base))
		}
	}
	sort.Strings(out)
	return out
}
