package main

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A node that loses power kills its container with SIGKILL, once; the container stays down until the
// node is back.
func TestALostNodesContainerIsKilledAndStaysDownUntilTheNodeIsBack(t *testing.T) {
	nodes := []corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "n1", Annotations: map[string]string{lostAnnotation: "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n2", Annotations: map[string]string{lostAnnotation: "false"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n3"}},
	}
	if got := lostNodes(nodes); len(got) != 1 || !got["n1"] {
		t.Fatalf("lost nodes %v, want n1", got)
	}
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill() }()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kafka-0", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "n1"}}
	pr := &proc{pod: pod, sigkill: func() { _ = c.Process.Kill() }}
	if !pr.powerOff() {
		t.Fatal("the running container was not killed")
	}
	var ee *exec.ExitError
	if err := c.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit: %v, want killed by SIGKILL", err)
	}
	if pr.powerOff() {
		t.Fatal("killed twice for one loss")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up := make(chan bool, 1)
	go func() { up <- pr.powered(ctx) }()
	select {
	case <-up:
		t.Fatal("the container may start while its node is off")
	case <-time.After(time.Second):
	}
	pr.powerOn()
	select {
	case ok := <-up:
		if !ok {
			t.Fatal("powered: false, the pod is not gone")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("still waiting after the node came back")
	}
	pr.powerOff()
	go func() { up <- pr.powered(ctx) }()
	cancel()
	if ok := <-up; ok {
		t.Fatal("a pod gone while its node was off still starts")
	}
}
