package main

import (
	"log"

	corev1 "k8s.io/api/core/v1"
)

// crashAnnotation: a test's fault. When its value changes on a running pod, the runner kills the
// container with SIGKILL, as a crash or the kernel's OOM killer does: no stop signal, no grace period,
// no shutdown hook (a controller leading keeps its Lease until the Lease expires). The container is
// restarted as after any exit (the crash back-off). `scripts/testenv.sh crash NAMESPACE/POD` sets it.
const crashAnnotation = "testenv.kafka-advertiser.io/crash"

// crashIfAsked kills the pod's container when the annotation's value is new; the value a pod had when
// the runner first saw it asks for nothing.
func (pr *proc) crashIfAsked(p *corev1.Pod) bool {
	want := p.Annotations[crashAnnotation]
	pr.mu.Lock()
	asked := want != "" && want != pr.crashed
	pr.crashed = want
	kill := pr.sigkill
	pr.mu.Unlock()
	if !asked || kill == nil {
		return false
	}
	log.Printf("pod %s/%s: container killed with SIGKILL (%s=%s)", p.Namespace, p.Name, crashAnnotation, want)
	kill()
	return true
}
