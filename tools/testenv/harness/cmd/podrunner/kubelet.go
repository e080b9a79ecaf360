package main

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's timing, as pkg/kubelet/prober/worker.go and client-go's flowcontrol.Backoff (the
// container restart back-off of pkg/kubelet/kuberuntime) implement it, so that a test cannot pass
// here on a kindness a cluster does not show.

// probeTiming: a probe's settings with the API's defaults (a pod read from the API server has them
// set; a zero here means the field was left out of a pod built in a test).
type probeTiming struct {
	period, timeout, initialDelay time.Duration
	success, failure              int
}

func timingOf(p *corev1.Probe) probeTiming {
	t := probeTiming{period: 10 * time.Second, timeout: time.Second, success: 1, failure: 3}
	if p == nil {
		return t
	}
	if p.PeriodSeconds > 0 {
		t.period = time.Duration(p.PeriodSeconds) * time.Second
	}
	if p.TimeoutSeconds > 0 {
		t.timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	if p.SuccessThreshold > 0 {
		t.success = int(p.SuccessThreshold)
	}
	if p.FailureThreshold > 0 {
		t.failure = int(p.FailureThreshold)
	}
	t.initialDelay = time.Duration(p.InitialDelaySeconds) * time.Second
	return t
}

// readiness: a readiness probe worker's state for one container run. It starts not ready (the
// kubelet's initial readiness result is Failure); a result changes what is reported only after
// `success` (or `failure`) equal results in a row; nothing is probed during the initial delay.
type readiness struct {
	t         probeTiming
	ready     bool
	last      bool // the last result
	run       int  // how many times in a row `last` came
	haveFirst bool
}

// observe records one probe result (ok) and returns whether the container is now ready.
func (r *readiness) observe(ok bool) bool {
	if r.haveFirst && r.last == ok {
		r.run++
	} else {
		r.last, r.run, r.haveFirst = ok, 1, true
	}
	if (ok && r.run >= r.t.success) || (!ok && r.run >= r.t.failure) {
		r.ready = ok
	}
	return r.ready
}

// inInitialDelay: the kubelet skips the probe (keeping the last result) until the container has run
// for initialDelaySeconds.
func (r *readiness) inInitialDelay(started, now time.Time) bool {
	return now.Sub(started) < r.t.initialDelay
}

// crashBackoff: the kubelet's restart back-off per container: the first restart comes at once, each
// later one waits from the container's exit 10 s, then twice as long each time, at most 5 minutes; a
// container that ran more than 10 minutes since its last restart starts over at 10 s.
type crashBackoff struct {
	initial, max time.Duration
	current      time.Duration // 0: no restart yet
	last         time.Time     // when the container was last restarted
}

func kubeletBackoff() crashBackoff {
	return crashBackoff{initial: 10 * time.Second, max: 5 * time.Minute}
}

// expired: the container ran long enough since the last restart for the back-off to start over.
func (b *crashBackoff) expired(exited time.Time) bool {
	return b.current == 0 || exited.Sub(b.last) > 2*b.max
}

// wait: how long after `now` a container that exited at `exited` waits before it is started again.
func (b *crashBackoff) wait(exited, now time.Time) time.Duration {
	if b.expired(exited) {
		return 0
	}
	return max(b.current-now.Sub(exited), 0)
}

// restarted records a restart at `now` (for an exit at `exited`) and grows the back-off.
func (b *crashBackoff) restarted(exited, now time.Time) {
	if b.expired(exited) {
		b.current = b.initial
	} else {
		b.current = min(2*b.current, b.max)
	}
	b.last = now
}
