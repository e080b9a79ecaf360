package main

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestProbeTimingHasTheAPIDefaults(t *testing.T) {
	got := timingOf(&corev1.Probe{})
	want := probeTiming{period: 10 * time.Second, timeout: time.Second, success: 1, failure: 3}
	if got != want {
		t.Fatalf("defaults: got %+v, want %+v", got, want)
	}
	got = timingOf(&corev1.Probe{PeriodSeconds: 5, TimeoutSeconds: 2, SuccessThreshold: 2, FailureThreshold: 4, InitialDelaySeconds: 7})
	want = probeTiming{period: 5 * time.Second, timeout: 2 * time.Second, success: 2, failure: 4, initialDelay: 7 * time.Second}
	if got != want {
		t.Fatalf("set: got %+v, want %+v", got, want)
	}
}

// Readiness starts false, turns true after successThreshold successes in a row, and false again only
// after failureThreshold failures in a row: one failed probe of a starved broker does not take it out
// of its Service's endpoints.
func TestReadinessFollowsTheThresholds(t *testing.T) {
	r := readiness{t: probeTiming{success: 2, failure: 3}}
	steps := []struct {
		ok, want bool
	}{
		{true, false}, // one success of two
		{false, false},
		{true, false},
		{true, true}, // two in a row
		{false, true},
		{false, true},
		{true, true}, // the run of failures is broken
		{false, true},
		{false, true},
		{false, false}, // three in a row
		{true, false},
		{true, true},
	}
	for i, s := range steps {
		if got := r.observe(s.ok); got != s.want {
			t.Fatalf("step %d (probe ok=%v): ready=%v, want %v", i, s.ok, got, s.want)
		}
	}
}

func TestNothingIsProbedDuringTheInitialDelay(t *testing.T) {
	r := readiness{t: probeTiming{initialDelay: 10 * time.Second}}
	start := time.Now()
	if !r.inInitialDelay(start, start.Add(9*time.Second)) || r.inInitialDelay(start, start.Add(10*time.Second)) {
		t.Fatal("the initial delay is 10 s from the container's start")
	}
}

// The kubelet's restart back-off: the first restart at once, then 10, 20, 40 … s after each exit,
// capped at 5 minutes; 10 minutes of running start it over.
func TestCrashBackoffIsTheKubelets(t *testing.T) {
	b := kubeletBackoff()
	now := time.Now()
	var waits []time.Duration
	for range 8 {
		exited := now.Add(time.Second) // each run crashes after 1 s
		w := b.wait(exited, exited)
		waits = append(waits, w)
		now = exited.Add(w)
		b.restarted(exited, now)
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("restart %d waited %v, want %v (all: %v)", i+1, waits[i], want[i], waits)
		}
	}
	// Time already spent since the exit counts toward the wait.
	exited := now.Add(time.Second)
	if w := b.wait(exited, exited.Add(100*time.Second)); w != 200*time.Second {
		t.Fatalf("100 s after the exit the wait is %v, want 200 s", w)
	}
	// A container that ran more than 10 minutes since its last restart starts over.
	long := now.Add(11 * time.Minute)
	if w := b.wait(long, long); w != 0 {
		t.Fatalf("after 11 minutes of running the restart waited %v, want 0", w)
	}
	b.restarted(long, long)
	if w := b.wait(long.Add(time.Second), long.Add(time.Second)); w != 10*time.Second {
		t.Fatalf("the back-off did not start over at 10 s: %v", w)
	}
}
