package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"kafka-advertiser/testenv/harness/internal/proxy"
	"kafka-advertiser/testenv/harness/internal/watch"
)

const runAnnotation = "testenv.kafka-advertiser.io/run"

// proc: one pod the runner runs (its broker container; other containers are only reported running).
type proc struct {
	pod      *corev1.Pod // as first seen
	ip       string
	root     string
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	running  bool
	ready    bool
	restarts int32
	started  time.Time
	waiting  string // reason the container is not running, e.g. CreateContainerConfigError
	message  string
	lastExit *corev1.ContainerStateTerminated
	written  string     // the status last written, to write only on change
	ending   bool       // the pod is being deleted: the container is stopping
	finished bool       // exited for good (restartPolicy Never, or OnFailure after exit 0): the pod's phase ends
	volumes  sync.Mutex // held while the pod's volume directories are written
	kill     func()     // stops the running container (the liveness probe's restart)
	sigkill  func()     // kills the running container's process with SIGKILL (a crash)
	crashed  string     // the crash annotation's value last acted on (crash.go)
	off      bool       // the pod's node lost power (lost.go): the container does not run
	changed  func()     // called after each change of the container's state (asks for a pass)
}

type runner struct {
	product     string // kafka-advertiser's binary (the image's entrypoint)
	releases    string // earlier releases' binaries by image tag (productBinary)
	kubeService string // the `kubernetes` Service's ClusterIP:port, as the kubelet's env gives it
	apiserver   string // host:port of the API server (the `kubernetes` Service's endpoint)
	cs          kubernetes.Interface
	dyn         dynamic.Interface
	c           *caches     // the watched objects
	kicks       watch.Kicks // asks for a pass (a watched object or a container's state changed)
	state       string
	jvm         jvm
	ips         *allocator
	mu          sync.Mutex
	procs       map[types.UID]*proc
	nodes       map[string]string // node name -> InternalIP, as of the last pass
	lost        map[string]bool   // nodes that lost power (lost.go), as of the last pass
	health      *proxy.Health     // the load balancers' health checks of Local Services' nodes (passes only)
	libsFor     map[string]string // Kafka "major.minor" -> its jars (versions.go); others run jvm.libs
	defaultSaid map[string]bool   // images already logged as running the default jars
}

// hostIP: the address of the pod's node (every kwok node is this machine).
func (r *runner) hostIP(p *corev1.Pod) string {
	r.mu.Lock()
	ip := r.nodes[p.Spec.NodeName]
	r.mu.Unlock()
	if ip != "" {
		return ip
	}
	return "127.0.0.1"
}

// wanted: a pod this runner runs (opted in by annotation, scheduled), and its container: a Kafka
// image's (run: broker) or kafka-advertiser's image's (run: kafka-advertiser).
func wanted(p *corev1.Pod) (*corev1.Container, flavor, bool) {
	run := p.Annotations[runAnnotation]
	if (run != "broker" && run != productRun) || p.Spec.NodeName == "" {
		return nil, "", false
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		if f, ok := imageFlavor(c.Image); ok && run == "broker" {
			return c, f, true
		}
		if run == productRun && isProductImage(c.Image) {
			return c, product, true
		}
	}
	return nil, "", true
}

func (r *runner) syncPods(ctx context.Context, pods []corev1.Pod) {
	seen := map[types.UID]bool{}
	for i := range pods {
		p := &pods[i]
		if _, _, ok := wanted(p); !ok {
			continue
		}
		seen[p.UID] = true
		r.syncPod(ctx, p)
	}
	r.mu.Lock()
	var gone []*proc
	for uid, pr := range r.procs {
		if !seen[uid] && !pr.ending {
			gone = append(gone, pr)
			delete(r.procs, uid)
		}
	}
	r.mu.Unlock()
	for _, pr := range gone {
		r.stop(pr)
	}
}

func (r *runner) syncPod(ctx context.Context, p *corev1.Pod) {
	r.mu.Lock()
	pr, lost := r.procs[p.UID], r.lost[p.Spec.NodeName]
	r.mu.Unlock()
	if lost {
		// No kubelet: nothing is started, written or confirmed for the node's pods.
		if pr != nil {
			pr.powerOff()
		}
		return
	}
	if pr != nil {
		pr.powerOn()
	}
	if p.DeletionTimestamp != nil {
		if pr != nil {
			r.mu.Lock()
			first := !pr.ending
			pr.ending = true
			r.mu.Unlock()
			if first {
				go r.terminate(p, pr)
			}
		} else {
			r.remove(ctx, p)
		}
		return
	}
	if pr == nil {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return
		}
		pr = r.start(p)
	}
	pr.crashIfAsked(p)
	r.writeStatus(ctx, p, pr)
}

func (r *runner) start(p *corev1.Pod) *proc {
	ip := r.ips.take(string(p.UID))
	root := filepath.Join(r.state, "pods", fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID))
	ctx, cancel := context.WithCancel(context.Background())
	pr := &proc{pod: p.DeepCopy(), ip: ip, root: root, cancel: cancel, done: make(chan struct{}), changed: r.kicks.Kick,
		crashed: p.Annotations[crashAnnotation]}
	r.mu.Lock()
	r.procs[p.UID] = pr
	r.mu.Unlock()
	log.Printf("pod %s/%s: ip %s, dir %s", p.Namespace, p.Name, ip, root)
	go r.loop(ctx, pr)
	// Without a container of a known image the loop reports CreateContainerConfigError; there is
	// nothing to probe or refresh.
	if c, _, _ := wanted(pr.pod); c != nil {
		go r.probe(ctx, pr, c)
		go r.refresh(ctx, pr, c)
		go r.live(ctx, pr, c)
	}
	return pr
}

// refresh: a running pod's Secret and ConfigMap volumes follow their objects, as the kubelet's
// periodic sync keeps them (every 2 s here), so a rotated certificate reaches the process.
func (r *runner) refresh(ctx context.Context, pr *proc, c *corev1.Container) {
	var vols []corev1.Volume
	for _, v := range pr.pod.Spec.Volumes {
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && (v.Secret != nil || v.ConfigMap != nil) {
				vols = append(vols, v)
			}
		}
	}
	if len(vols) == 0 {
		return
	}
	every(ctx, 2*time.Second, func() {
		src, err := r.sources(ctx, pr.pod)
		if err != nil {
			return
		}
		pr.volumes.Lock()
		defer pr.volumes.Unlock()
		for _, v := range vols {
			if wrote, err := refreshVolume(pr.pod, v, pr.root, src); err != nil {
				log.Printf("pod %s/%s: volume %s: %v", pr.pod.Namespace, pr.pod.Name, v.Name, err)
			} else if wrote {
				log.Printf("pod %s/%s: volume %s updated", pr.pod.Namespace, pr.pod.Name, v.Name)
			}
		}
	})
}

// loop runs the container until the pod goes, restarting it as the kubelet does (kubelet.go): a
// container that ran and exited with the crash back-off (restartPolicy Always: the first restart at
// once, then 10 s doubling, capped at 5 min); one that could not start is tried again as the volume
// manager retries a mount (500 ms doubling, at most 2 min 2 s) or, for an error in its env, as the pod
// worker retries a failed sync (every 10 s).
func (r *runner) loop(ctx context.Context, pr *proc) {
	defer close(pr.done)
	crash, mount := kubeletBackoff(), 500*time.Millisecond
	for pr.powered(ctx) {
		started, err := r.once(ctx, pr)
		if ctx.Err() != nil {
			return
		}
		if pr.isOff() {
			continue // a node that boots starts its containers at once
		}
		exited := time.Now()
		var wait time.Duration
		switch {
		case !started && errors.As(err, new(volumeWait)):
			wait, mount = mount, min(2*mount, 122*time.Second)
		case !started:
			wait = 10 * time.Second
		default:
			log.Printf("pod %s/%s: container exited: %v (log: %s)", pr.pod.Namespace, pr.pod.Name, err, filepath.Join(pr.root, "container.log"))
			if policy := pr.pod.Spec.RestartPolicy; policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && err == nil) {
				pr.set(func() { pr.finished = true })
				return
			}
			wait = crash.wait(exited, time.Now())
		}
		if wait > 0 {
			log.Printf("pod %s/%s: next start in %v (%v)", pr.pod.Namespace, pr.pod.Name, wait.Round(time.Millisecond), err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if started {
			crash.restarted(exited, time.Now())
		}
	}
}

// volumeWait: a volume of the pod is not ready yet (a claim not bound, a Secret not there).
type volumeWait struct{ err error }

func (v volumeWait) Error() string { return v.err.Error() }
func (v volumeWait) Unwrap() error { return v.err }

// once starts the container and waits for it to end; started is false when it could not start.
func (r *runner) once(ctx context.Context, pr *proc) (started bool, err error) {
	l, err := r.plan(ctx, pr)
	if err != nil {
		pr.set(func() { pr.waiting, pr.message = "CreateContainerConfigError", err.Error() })
		return false, err
	}
	if err := os.MkdirAll(pr.root, 0o755); err != nil {
		return false, err
	}
	logf, err := os.OpenFile(filepath.Join(pr.root, "container.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return false, err
	}
	defer logf.Close()
	grace := time.Duration(30) * time.Second
	if g := pr.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	run, kill := context.WithCancel(ctx)
	defer kill()
	err = l.run(run, logf, grace, func(c *exec.Cmd) {
		sigkill := func() { _ = c.Process.Kill() }
		pr.set(func() {
			pr.running, pr.waiting, pr.message, pr.started, pr.kill, pr.sigkill = true, "", "", time.Now(), kill, sigkill
		})
		if pr.isOff() { // the node lost power while the container was starting
			sigkill()
		}
	})
	code := int32(0)
	if ee, ok := err.(*exec.ExitError); ok {
		code = int32(ee.ExitCode())
	} else if err != nil {
		code = 1
	}
	pr.set(func() {
		pr.running, pr.ready, pr.sigkill = false, false, nil
		pr.restarts++
		reason := "Error"
		if code == 0 {
			reason = "Completed"
		}
		pr.lastExit = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason,
			Message: tail(filepath.Join(pr.root, "container.log"), 2048), FinishedAt: metav1.Now()}
	})
	return true, err
}

func (pr *proc) set(f func()) {
	pr.mu.Lock()
	f()
	pr.mu.Unlock()
	if pr.changed != nil {
		pr.changed()
	}
}

func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// plan: the container's environment, volumes and start-up, read from the API server as the kubelet would.
func (r *runner) plan(ctx context.Context, pr *proc) (launch, error) {
	p := pr.pod
	c, fl, _ := wanted(p)
	if c == nil {
		return launch{}, fmt.Errorf("no container runs an image the test runner knows (run: broker: apache/kafka, confluentinc/cp-kafka, bitnami*/kafka; run: kafka-advertiser: .../kafka-advertiser)")
	}
	src, err := r.sources(ctx, p)
	if err != nil {
		return launch{}, err
	}
	pod := p.DeepCopy()
	pod.Status.PodIP, pod.Status.PodIPs, pod.Status.HostIP = pr.ip, []corev1.PodIP{{IP: pr.ip}}, r.hostIP(p)
	env, _, err := resolveEnv(pod, c, src)
	if err != nil {
		return launch{}, err
	}
	pr.volumes.Lock()
	defer pr.volumes.Unlock()
	mounts, err := volumeDirs(pod, c, pr.root, src, volumeAPI{
		claim: func(claim string) (string, error) { return r.volumes().ClaimPath(ctx, p.Namespace, claim) },
		token: func(aud string, exp *int64) (string, error) { return r.token(ctx, p, aud, exp) },
	})
	if err != nil {
		return launch{}, volumeWait{err}
	}
	f := fs{root: pr.root, mounts: mounts}
	switch fl {
	case product:
		return r.planProduct(pod, c, env, f, pr.ip)
	case apacheKafka, confluent:
		if argv := containerArgv(c); argv != nil {
			hostname := pod.Spec.Hostname
			if hostname == "" {
				hostname = pod.Name
			}
			return planScript(argv, env, f, pr.ip, r.jvmFor(fl, c.Image), hostname)
		}
		return planApache(env, f, pr.ip, r.jvmFor(fl, c.Image))
	}
	return planBitnami(env, f, pr.ip, r.jvmFor(fl, c.Image))
}

// sources: the ConfigMaps and Secrets of the pod's namespace the container refers to, and the
// Services the kubelet makes variables of.
func (r *runner) sources(ctx context.Context, p *corev1.Pod) (envSources, error) {
	src := envSources{configMaps: map[string]map[string]string{}, secrets: map[string]map[string][]byte{}}
	cms, err := r.c.configMaps.ConfigMaps(p.Namespace).List(labels.Everything())
	if err != nil {
		return src, err
	}
	for _, cm := range cms {
		src.configMaps[cm.Name] = cm.Data
	}
	ss, err := r.c.secrets.Secrets(p.Namespace).List(labels.Everything())
	if err != nil {
		return src, err
	}
	for _, s := range ss {
		src.secrets[s.Name] = s.Data
	}
	svcs, err := r.c.services.Services(p.Namespace).List(labels.Everything())
	if err != nil {
		return src, err
	}
	all := watch.Values(svcs)
	if master, err := r.c.services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil && p.Namespace != metav1.NamespaceDefault {
		all = append(all, *master)
	}
	links := p.Spec.EnableServiceLinks == nil || *p.Spec.EnableServiceLinks
	src.services = serviceEnv(all, p.Namespace, links)
	return src, nil
}

// probe: readiness as the kubelet's readiness worker sees it (kubelet.go: its period, timeout,
// initial delay and thresholds; a new container run starts not ready). Without a readiness probe the
// container is ready once it runs (the kubelet's rule); a TCP probe (and, approximated, an HTTP or
// exec probe, by the probe's port or else the container's first port) is ready when that port accepts
// a connection on the pod's IP.
func (r *runner) probe(ctx context.Context, pr *proc, c *corev1.Container) {
	port, probed := probePort(c, c.ReadinessProbe)
	t := timingOf(c.ReadinessProbe)
	if !probed {
		t.period = time.Second // no probe: ready as soon as it runs; this only notices the start
	}
	st, run := readiness{t: t}, time.Time{}
	every(ctx, t.period, func() {
		pr.mu.Lock()
		running, started := pr.running, pr.started
		pr.mu.Unlock()
		if !running || !started.Equal(run) {
			st, run = readiness{t: t}, started
		}
		ready := false
		switch {
		case !running:
		case !probed:
			ready = true
		case st.inInitialDelay(started, time.Now()):
			ready = st.ready
		default:
			ready = st.observe(port != "" && probeOnce(c.ReadinessProbe, pr.ip, port, t.timeout))
		}
		pr.set(func() { pr.ready = ready && pr.running })
	})
}

// every runs f each period until ctx ends.
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// probeOnce: an HTTP probe's GET (ready on a status from 200 to 399, as the kubelet's prober), any
// other probe a TCP connection to its port.
func probeOnce(p *corev1.Probe, ip, port string, timeout time.Duration) bool {
	addr := net.JoinHostPort(ip, port)
	if h := p.HTTPGet; h != nil {
		scheme := "http"
		if h.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		cl := http.Client{Timeout: timeout, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the kubelet does not verify either
		resp, err := cl.Get(scheme + "://" + addr + h.Path)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// probePort: the port a probe checks, and whether the container has that probe.
func probePort(c *corev1.Container, p *corev1.Probe) (string, bool) {
	if c == nil || p == nil {
		return "", false
	}
	h := p.ProbeHandler
	var port intstr.IntOrString
	switch {
	case h.TCPSocket != nil:
		port = h.TCPSocket.Port
	case h.HTTPGet != nil:
		port = h.HTTPGet.Port
	case len(c.Ports) > 0:
		return fmt.Sprint(c.Ports[0].ContainerPort), true
	default:
		return "", true
	}
	if port.IntValue() > 0 {
		return port.String(), true
	}
	for _, cp := range c.Ports {
		if cp.Name == port.String() {
			return fmt.Sprint(cp.ContainerPort), true
		}
	}
	return "", true
}

// live: the liveness probe as the kubelet runs it: from initialDelaySeconds after the start, every
// periodSeconds (default 10), failureThreshold (default 3) failures in a row restart the container,
// stopped as for a deletion (the stop signal, SIGKILL after the grace period); the restart shows in
// the pod's status. An exec probe is approximated by its port, as readiness is.
func (r *runner) live(ctx context.Context, pr *proc, c *corev1.Container) {
	port, probed := probePort(c, c.LivenessProbe)
	if !probed || port == "" {
		return
	}
	p := c.LivenessProbe
	period, threshold := time.Duration(p.PeriodSeconds)*time.Second, int(p.FailureThreshold)
	if period <= 0 {
		period = 10 * time.Second
	}
	if threshold <= 0 {
		threshold = 3
	}
	failures, killed := 0, time.Time{}
	every(ctx, period, func() {
		pr.mu.Lock()
		running, started, kill := pr.running, pr.started, pr.kill
		pr.mu.Unlock()
		// Not probed: a container not running, in its initial delay, or being stopped for a failure.
		if !running || started.Equal(killed) || time.Since(started) < time.Duration(p.InitialDelaySeconds)*time.Second ||
			probeOnce(p, pr.ip, port, timingOf(p).timeout) {
			failures = 0
			return
		}
		if failures++; failures >= threshold && kill != nil {
			log.Printf("pod %s/%s: liveness probe failed %d times: restarting the container", pr.pod.Namespace, pr.pod.Name, failures)
			failures, killed = 0, started
			kill()
		}
	})
}

// terminate: a deleted pod's container gets SIGTERM (SIGINT for the JVM's shutdown hook), then
// SIGKILL after the grace period; then the pod object is removed, as the kubelet does.
func (r *runner) terminate(p *corev1.Pod, pr *proc) {
	r.stop(pr)
	r.remove(context.Background(), p)
	r.mu.Lock()
	delete(r.procs, p.UID)
	r.mu.Unlock()
}

func (r *runner) stop(pr *proc) {
	pr.cancel()
	<-pr.done
	r.ips.release(string(pr.pod.UID))
	log.Printf("pod %s/%s: stopped", pr.pod.Namespace, pr.pod.Name)
}

func (r *runner) remove(ctx context.Context, p *corev1.Pod) {
	zero := int64(0)
	uid := p.UID
	err := r.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		log.Printf("pod %s/%s: delete: %v", p.Namespace, p.Name, err)
	}
}
