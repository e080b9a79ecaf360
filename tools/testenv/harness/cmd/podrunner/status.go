package main

import (
	"context"
	"encoding/json"
	"log"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podStatus: what the kubelet would report for the pod now.
func podStatus(p *corev1.Pod, pr *proc, hostIP string) corev1.PodStatus {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: s}
		for _, old := range p.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = metav1.Now()
		}
		return c
	}
	st := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     pr.ip,
		PodIPs:    []corev1.PodIP{{IP: pr.ip}},
		StartTime: p.Status.StartTime,
		QOSClass:  p.Status.QOSClass, // set by the API server at creation, immutable
		Conditions: []corev1.PodCondition{
			cond(corev1.PodScheduled, true), cond(corev1.PodInitialized, true),
			cond(corev1.ContainersReady, pr.ready), cond(corev1.PodReady, pr.ready),
		},
	}
	if st.StartTime == nil {
		now := metav1.Now()
		st.StartTime = &now
	}
	if pr.finished && pr.lastExit != nil {
		st.Phase = corev1.PodSucceeded
		if pr.lastExit.ExitCode != 0 {
			st.Phase = corev1.PodFailed
		}
	}
	broker, _, _ := wanted(p)
	for _, c := range p.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: *st.StartTime}}}
		if broker != nil && c.Name == broker.Name {
			cs = brokerStatus(c, pr)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	return st
}

func brokerStatus(c corev1.Container, pr *proc) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: pr.ready,
		RestartCount: pr.restarts, Started: ptr(pr.running)}
	switch {
	case pr.finished && pr.lastExit != nil:
		cs.State.Terminated, cs.RestartCount = pr.lastExit, max(pr.restarts-1, 0)
	case pr.running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(pr.started)}
	case pr.waiting != "":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: pr.waiting, Message: pr.message}
	case pr.lastExit != nil:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off restarting the failed container"}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	if pr.lastExit != nil {
		cs.LastTerminationState.Terminated = pr.lastExit
	}
	return cs
}

func ptr[T any](v T) *T { return &v }

// writeStatus writes the pod's status when it changed (a merge patch of the status subresource).
func (r *runner) writeStatus(ctx context.Context, p *corev1.Pod, pr *proc) {
	st := podStatus(p, pr, r.hostIP(p))
	b, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return
	}
	key := string(b)
	pr.mu.Lock()
	same := pr.written == key
	pr.mu.Unlock()
	if same {
		return
	}
	if _, err := r.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, b, metav1.PatchOptions{}, "status"); err != nil {
		log.Printf("pod %s/%s: status: %v", p.Namespace, p.Name, err)
		return
	}
	pr.mu.Lock()
	pr.written = key
	pr.mu.Unlock()
}
