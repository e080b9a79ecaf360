// Package endpoints computes a Service's endpoints as the EndpointSlice controller does, for the
// pod runner's kube-proxy and DNS.
package endpoints

import (
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
// Endpoint is one ready (or published) pod of a Service, by its pod IP.
type Endpoint struct {
	Pod *corev1.Pod
	IP  string
}

// Of returns a Service's endpoints, in IP order.
func Of(svc *corev1.Service, pods []corev1.Pod) []Endpoint {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []Endpoint
	for i := range pods {
		p := &pods[i]
		ip := net.ParseIP(p.Status.PodIP)
		if p.Namespace != svc.Namespace || ip == nil || !ip.IsLoopback() || p.DeletionTimestamp != nil ||
			!sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		if !svc.Spec.PublishNotReadyAddresses && !PodReady(p) {
			continue
		}
		out = append(out, Endpoint{Pod: p, IP: p.Status.PodIP})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].IP < out[b].IP })
	return out
}

// PodReady reports the pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TargetPort: the pod port a Service port reaches (a number, or a container port's name).
func TargetPort(sp corev1.ServicePort, p *corev1.Pod) (int32, bool) {
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
