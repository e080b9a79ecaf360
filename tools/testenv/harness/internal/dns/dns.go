// Package dns plays cluster DNS for the brokers the pod runner starts: a hosts file their JVMs resolve
// names with, as CoreDNS would answer for pods behind a headless Service.
package dns

import (
	"fmt"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"kafka-advertiser/testenv/harness/internal/endpoints"
)

// Sync writes the hosts file every broker JVM resolves names with (-Djdk.net.hosts.file).
func Sync(path string, svcs []corev1.Service, pods []corev1.Pod) error {
	text := "127.0.0.1 localhost\n" + strings.Join(Lines(svcs, pods), "\n") + "\n"
	if old, err := os.ReadFile(path); err == nil && string(old) == text {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Lines: cluster DNS for pods behind a headless Service, as CoreDNS answers it:
// <hostname>.<subdomain>.<namespace>.svc[.cluster.local] when the pod's subdomain names the Service.
func Lines(svcs []corev1.Service, pods []corev1.Pod) []string {
	var out []string
	for i := range svcs {
		svc := &svcs[i]
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			continue
		}
		for _, e := range endpoints.Of(svc, pods) {
			if e.Pod.Spec.Hostname == "" || e.Pod.Spec.Subdomain != svc.Name {
				continue
			}
			base := fmt.Sprintf("%s.%s.%s", e.Pod.Spec.Hostname, svc.Name, svc.Namespace)
			out = append(out, fmt.Sprintf("%s %s.svc.cluster.local %s.svc %s", e.IP, base, base, base))
		}
	}
	sort.Strings(out)
	return out
}
