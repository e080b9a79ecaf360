package main

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A new value of the crash annotation kills the container's process with SIGKILL, once; the value
// the pod had when first seen, the same value again, or no running container ask for nothing.
func TestTheCrashAnnotationKillsTheContainerWithSigkillOnce(t *testing.T) {
	pod := func(v string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "c-0", Namespace: "ns", Annotations: map[string]string{crashAnnotation: v}}}
	}
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill() }()
	pr := &proc{crashed: "1", sigkill: func() { _ = c.Process.Kill() }}
	if pr.crashIfAsked(pod("1")) {
		t.Fatal("the value the pod was first seen with killed it")
	}
	if !pr.crashIfAsked(pod("2")) {
		t.Fatal("a new value did not kill it")
	}
	err := c.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit: %v, want killed by SIGKILL", err)
	}
	if pr.crashIfAsked(pod("2")) {
		t.Fatal("the same value killed it again")
	}
	pr.sigkill = nil
	if pr.crashIfAsked(pod("3")) {
		t.Fatal("no running container, yet a kill")
	}
}
