package main

import (
	"context"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// lostAnnotation marks a node that lost power (`scripts/testenv.sh node lose`): every container of
// the runner's pods on it dies at once (SIGKILL, no stop signal), and, its kubelet gone, nothing is
// written for them any more: no status (the node lifecycle controller marks them not ready), no
// confirmation of a deletion (they stay Terminating until the pod garbage collector force-deletes
// them: the node deleted, or tainted `node.kubernetes.io/out-of-service`). A pod bound there later is
// not started. When the mark goes (`node restore`: the node boots), the containers of the pods
// still bound there start again, as a kubelet starts them at boot.
const lostAnnotation = "testenv.kafka-advertiser.io/lost"

// lostNodes: the nodes marked lost.
func lostNodes(nodes []corev1.Node) map[string]bool {
	out := map[string]bool{}
	for _, n := range nodes {
		if n.Annotations[lostAnnotation] == "true" {
			out[n.Name] = true
		}
	}
	return out
}

// powerOff kills the container's process with SIGKILL, once per loss, and keeps it from starting
// again until powerOn; it reports whether a running process was killed.
func (pr *proc) powerOff() bool {
	pr.mu.Lock()
	first := !pr.off
	pr.off = true
	kill := pr.sigkill
	pr.mu.Unlock()
	if !first || kill == nil {
		return false
	}
	log.Printf("pod %s/%s: node %s lost power: container killed with SIGKILL", pr.pod.Namespace, pr.pod.Name, pr.pod.Spec.NodeName)
	kill()
	return true
}

func (pr *proc) powerOn() {
	pr.mu.Lock()
	was := pr.off
	pr.off = false
	pr.mu.Unlock()
	if was {
		log.Printf("pod %s/%s: node %s is back: the container starts again", pr.pod.Namespace, pr.pod.Name, pr.pod.Spec.NodeName)
	}
}

func (pr *proc) isOff() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.off
}

// powered waits while the pod's node is off; false when ctx ended first (the pod is gone).
func (pr *proc) powered(ctx context.Context) bool {
	for pr.isOff() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return ctx.Err() == nil
}
