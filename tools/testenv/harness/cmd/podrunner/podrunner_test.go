package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestExpandAsTheKubelet(t *testing.T) {
	env := map[string]string{"POD_NAME": "kafka-0", "EMPTY": ""}
	for in, want := range map[string]string{
		"INTERNAL://$(POD_NAME).hs:9092": "INTERNAL://kafka-0.hs:9092",
		"$$(POD_NAME)":                   "$(POD_NAME)",
		"$(MISSING)-$(POD_NAME)":         "$(MISSING)-kafka-0",
		"a$(EMPTY)b":                     "ab",
		"unclosed $(POD_NAME":            "unclosed $(POD_NAME",
		"cost $5":                        "cost $5",
		"$":                              "$",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveEnv(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kafka-2", Namespace: "ns",
		Labels: map[string]string{"apps.kubernetes.io/pod-index": "2"}}, Status: corev1.PodStatus{PodIP: "127.0.64.9"}}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{
			{Name: "KAFKA_NODE_ID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['apps.kubernetes.io/pod-index']"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "p"}}},
			{Name: "L", Value: "X://$(POD_IP):1,$(CM_A)"},
		},
	}
	src := envSources{configMaps: map[string]map[string]string{"cm": {"A": "a"}}, secrets: map[string]map[string][]byte{"s": {"p": []byte("pw")}}}
	env, order, err := resolveEnv(pod, c, src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"CM_A": "a", "KAFKA_NODE_ID": "2", "POD_IP": "127.0.64.9", "PASS": "pw", "L": "X://127.0.64.9:1,a"}
	if !reflect.DeepEqual(env, want) || len(order) != 5 {
		t.Fatalf("env = %v (order %v), want %v", env, order, want)
	}
	c.Env[2].ValueFrom.SecretKeyRef.Key = "missing"
	if _, _, err := resolveEnv(pod, c, src); err == nil || !strings.Contains(err.Error(), `key "missing" of secret "s"`) {
		t.Fatalf("a missing secret key must fail the container's start: %v", err)
	}
}

func TestImageFlavor(t *testing.T) {
	for image, want := range map[string]flavor{
		"apache/kafka:4.1.1":                     apacheKafka,
		"docker.io/apache/kafka@sha256:0123abcd": apacheKafka,
		"apache/kafka-native:4.1.1":              apacheKafka,
		"registry.local:5000/apache/kafka:4.1.1": apacheKafka,
		"confluentinc/cp-kafka:8.0.0":            confluent,
		"bitnami/kafka:3.9":                      bitnami,
		"bitnamilegacy/kafka:3.9":                bitnami,
		"nginx:1.27":                             "",
		"ghcr.io/example/kafka-advertiser:0.1.0": "",
		"example.com/apache/kafka-connect:4.1.1": "",
	} {
		got, ok := imageFlavor(image)
		if got != want || ok != (want != "") {
			t.Errorf("imageFlavor(%q) = %q, %v; want %q", image, got, ok, want)
		}
	}
}

func TestDockerDefaultsFollowTheImageScripts(t *testing.T) {
	none := func(string) bool { return false }
	read := func(string) (string, error) { return "", nil }
	env := map[string]string{"KAFKA_PROCESS_ROLES": "broker", "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka-0.hs:9092,EXTERNAL://203.0.113.9:9094"}
	if err := dockerDefaults(env, none, read); err != nil {
		t.Fatal(err)
	}
	if env["KAFKA_LISTENERS"] != "PLAINTEXT://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094" || env["CLUSTER_ID"] == "" {
		t.Fatalf("listeners derived from advertised ones, CLUSTER_ID defaulted: %v", env)
	}
	ctl := map[string]string{"KAFKA_PROCESS_ROLES": "controller", "KAFKA_ADVERTISED_LISTENERS": "CONTROLLER://x:9093"}
	if err := dockerDefaults(ctl, none, read); err == nil || !strings.Contains(err.Error(), "not supported on a KRaft controller") {
		t.Fatalf("a controller with advertised listeners exits 1 in the image: %v", err)
	}
	ssl := map[string]string{"KAFKA_ADVERTISED_LISTENERS": "SSL://x:9093"}
	if err := dockerDefaults(ssl, none, read); err == nil || !strings.Contains(err.Error(), "KAFKA_SSL_KEYSTORE_FILENAME") {
		t.Fatalf("SSL without a keystore exits 1 in the image: %v", err)
	}
}

func TestBindToPod(t *testing.T) {
	got := bindToPod("INTERNAL://:9092,CONTROLLER://0.0.0.0:9093,EXTERNAL://127.0.64.7:9094,V6://[::]:9095", "127.0.64.7")
	want := "INTERNAL://127.0.64.7:9092,CONTROLLER://127.0.64.7:9093,EXTERNAL://127.0.64.7:9094,V6://127.0.64.7:9095"
	if got != want {
		t.Fatalf("bindToPod = %q, want %q", got, want)
	}
}

func TestContainerPathsMapIntoThePod(t *testing.T) {
	f := fs{root: "/r", mounts: map[string]string{"/etc/kafka/tls": "/v/tls", "/var/lib/kafka/data": "/v/pvc"}}
	for in, want := range map[string]string{
		"/var/lib/kafka/data":             "/v/pvc",
		"/var/lib/kafka/data/a,/tmp/b":    "/v/pvc/a,/r/fs/tmp/b",
		"${dir:/etc/kafka/tls:tls.key}":   "${dir:/v/tls:tls.key}",
		"/etc/kafka/tls/ca.crt":           "/v/tls/ca.crt",
		"/etc/kafka/tlsx/ca.crt":          "/r/fs/etc/kafka/tlsx/ca.crt",
		"INTERNAL:PLAINTEXT,EXTERNAL:SSL": "INTERNAL:PLAINTEXT,EXTERNAL:SSL",
	} {
		if got := f.hostPaths(in); got != want {
			t.Errorf("hostPaths(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBitnamiPropertiesFollowTheImage(t *testing.T) {
	base := "node.id=1\nlog.dirs=/d\nlisteners=PLAINTEXT://:9092\nprocess.roles=broker,controller\n"
	got := bitnamiProperties(base, map[string]string{
		"KAFKA_CFG_NODE_ID": "2", "KAFKA_CFG_ADVERTISED_LISTENERS": "EXTERNAL://203.0.113.1:9094",
		"KAFKA_CFG_LISTENER_NAME_EXTERNAL_SASL_PLAINTEXT_X": "y", "KAFKA_CFG_EMPTY": "", "KAFKA_NODE_ID": "9",
	})
	// The mode-specific defaults commented out (kafka_server_unify_conf); node.id set again in place.
	want := "node.id=2\nlog.dirs=/d\n#listeners=PLAINTEXT://:9092\n#process.roles=broker,controller\n" +
		"advertised.listeners=EXTERNAL://203.0.113.1:9094\nlistener.name.external.sasl_plaintext.x=y\n"
	if got != want {
		t.Fatalf("bitnamiProperties =\n%s\nwant\n%s", got, want)
	}
}

func TestRenderConfig(t *testing.T) {
	pod := func(image string, env ...corev1.EnvVar) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kafka-1", Labels: map[string]string{"apps.kubernetes.io/pod-index": "1"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sidecar", Image: "busybox"}, {Name: "kafka", Image: image, Env: env}}}}
	}
	id := corev1.EnvVar{Name: "KAFKA_NODE_ID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['apps.kubernetes.io/pod-index']"}}}
	// apache/kafka: the env the Java wrapper reads (the shell's defaults applied) and the image's defaults.
	files, err := renderConfig(pod("apache/kafka:4.1.1", id, corev1.EnvVar{Name: "KAFKA_ADVERTISED_LISTENERS", Value: "EXTERNAL://203.0.113.1:9094"}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(files["env.json"], `"KAFKA_NODE_ID":"1"`) || !strings.Contains(files["env.json"], `"KAFKA_LISTENERS":"EXTERNAL://0.0.0.0:9094"`) {
		t.Errorf("env.json: %s", files["env.json"])
	}
	if !strings.Contains(files["defaults/server.properties"], "process.roles=broker,controller") {
		t.Errorf("defaults: %s", files["defaults/server.properties"])
	}
	// Bitnami: the properties themselves.
	files, err = renderConfig(pod("bitnamilegacy/kafka:3.9.0", corev1.EnvVar{Name: "KAFKA_CFG_NODE_ID", Value: "7"}))
	if err != nil || !strings.Contains(files["server.properties"], "\nnode.id=7\n") {
		t.Errorf("bitnami: %v %s", err, files["server.properties"])
	}
	// The image's own refusal, and no Kafka image at all.
	if _, err := renderConfig(pod("apache/kafka:4.1.1", corev1.EnvVar{Name: "KAFKA_PROCESS_ROLES", Value: "controller"},
		corev1.EnvVar{Name: "KAFKA_ADVERTISED_LISTENERS", Value: "X://h:1"})); err == nil || !strings.Contains(err.Error(), "KRaft controller") {
		t.Errorf("controller with advertised listeners: %v", err)
	}
	if _, err := renderConfig(pod("redis:7")); err == nil {
		t.Error("a pod without a Kafka image was rendered")
	}
}

func TestServiceLinksAsTheKubelet(t *testing.T) {
	svc := func(ns, name, ip string, ports ...corev1.ServicePort) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	services := []corev1.Service{
		svc("ns", "kafka-0-external", "127.0.128.9", corev1.ServicePort{Name: "external", Port: 9094}),
		svc("ns", "kafka-headless", corev1.ClusterIPNone, corev1.ServicePort{Port: 9092}),
		svc("other", "elsewhere", "127.0.128.10", corev1.ServicePort{Port: 80}),
		svc("default", "kubernetes", "127.0.128.1", corev1.ServicePort{Name: "https", Port: 443}),
	}
	m := serviceEnv(services, "ns", true)
	want := map[string]string{
		"KAFKA_0_EXTERNAL_SERVICE_HOST":          "127.0.128.9",
		"KAFKA_0_EXTERNAL_SERVICE_PORT":          "9094",
		"KAFKA_0_EXTERNAL_SERVICE_PORT_EXTERNAL": "9094",
		"KAFKA_0_EXTERNAL_PORT":                  "tcp://127.0.128.9:9094",
		"KAFKA_0_EXTERNAL_PORT_9094_TCP":         "tcp://127.0.128.9:9094",
		"KAFKA_0_EXTERNAL_PORT_9094_TCP_PROTO":   "tcp",
		"KAFKA_0_EXTERNAL_PORT_9094_TCP_PORT":    "9094",
		"KAFKA_0_EXTERNAL_PORT_9094_TCP_ADDR":    "127.0.128.9",
		"KUBERNETES_SERVICE_HOST":                "127.0.128.1",
		"KUBERNETES_SERVICE_PORT":                "443",
		"KUBERNETES_SERVICE_PORT_HTTPS":          "443",
		"KUBERNETES_PORT":                        "tcp://127.0.128.1:443",
		"KUBERNETES_PORT_443_TCP":                "tcp://127.0.128.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO":          "tcp",
		"KUBERNETES_PORT_443_TCP_PORT":           "443",
		"KUBERNETES_PORT_443_TCP_ADDR":           "127.0.128.1",
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("serviceEnv = %v", m)
	}
	// enableServiceLinks: false keeps only the `kubernetes` Service's.
	if off := serviceEnv(services, "ns", false); len(off) != 8 || off["KUBERNETES_SERVICE_HOST"] == "" {
		t.Errorf("links off: %v", off)
	}
	// The container's own variables win, and $(VAR) may name a Service's.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kafka-0", Namespace: "ns"}}
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"},
		{Name: "BOOT", Value: "$(KAFKA_0_EXTERNAL_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
	}}
	env, _, err := resolveEnv(pod, c, envSources{services: m})
	if err != nil {
		t.Fatal(err)
	}
	if env["BOOT"] != "127.0.128.9:6443" || env["KUBERNETES_SERVICE_PORT"] != "6443" || env["KAFKA_0_EXTERNAL_PORT"] != "tcp://127.0.128.9:9094" {
		t.Errorf("env = %v", env)
	}
}

// A Secret volume as the kubelet's atomic writer lays it out, refreshed in place: the directory stays
// (a bind mount of it sees the change), names are symlinks into ..data, a key gone is gone.
func TestSecretVolumeRefreshedAtomically(t *testing.T) {
	root := t.TempDir()
	v := corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}
	src := func(data map[string][]byte) envSources {
		return envSources{secrets: map[string]map[string][]byte{"s": data}}
	}
	dir, err := volumeDir(&corev1.Pod{}, v, root, src(map[string][]byte{"tls.crt": []byte("one"), "old.key": []byte("k")}), volumeAPI{})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(dir)
	if wrote, err := refreshVolume(&corev1.Pod{}, v, root, src(map[string][]byte{"tls.crt": []byte("one"), "old.key": []byte("k")})); err != nil || wrote {
		t.Fatalf("unchanged content rewritten: %v %v", wrote, err)
	}
	if wrote, err := refreshVolume(&corev1.Pod{}, v, root, src(map[string][]byte{"tls.crt": []byte("two")})); err != nil || !wrote {
		t.Fatalf("changed content not written: %v %v", wrote, err)
	}
	after, _ := os.Stat(dir)
	if !os.SameFile(before, after) {
		t.Error("the volume directory was replaced")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "tls.crt")); err != nil || string(b) != "two" {
		t.Errorf("tls.crt = %q %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "tls.crt")); err != nil || l != "..data/tls.crt" {
		t.Errorf("tls.crt is not a link into ..data: %q %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "old.key")); !os.IsNotExist(err) {
		t.Errorf("old.key stayed: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 { // ..<time>, ..data, tls.crt
		t.Errorf("entries: %v", entries)
	}
}

// A version that cannot be written (here a key that is both a file and a directory) leaves the
// volume as it was: the old content served, no half-written `..<time>` directory behind.
func TestAFailedVolumeWriteLeavesTheOldVersion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "v")
	if _, err := atomicWrite(dir, map[string][]byte{"ca.crt": []byte("one")}, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{"ca.crt": []byte("two"), "a": []byte("x"), "a/b": []byte("y")}
	if wrote, err := atomicWrite(dir, bad, 0o644); err == nil || wrote {
		t.Fatalf("a conflicting version was written: %v %v", wrote, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ca.crt")); err != nil || string(b) != "one" {
		t.Errorf("ca.crt = %q %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 { // ..<time>, ..data, ca.crt
		t.Errorf("entries: %v", entries)
	}
}

// A pod opted in whose image the runner does not know (with probes and a Secret volume, which the
// probe, liveness and refresh loops would read from its container) is reported as the kubelet reports
// a container it cannot configure, and the runner keeps running.
func TestAPodOfAnUnknownImageIsReportedNotRun(t *testing.T) {
	ips, err := newAllocator("127.0.99.0/24")
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{state: t.TempDir(), ips: ips, procs: map[types.UID]*proc{}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9092)}}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kafka-0", Namespace: "ns", UID: "u1", Annotations: map[string]string{runAnnotation: "broker"}},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Containers: []corev1.Container{{
				Name: "kafka", Image: "example.com/not-kafka:1", ReadinessProbe: probe, LivenessProbe: probe,
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/tls"}},
			}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}},
		},
	}
	pr := r.start(pod)
	defer pr.cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pr.mu.Lock()
		waiting, message, ready := pr.waiting, pr.message, pr.ready
		pr.mu.Unlock()
		if waiting == "CreateContainerConfigError" {
			if !strings.Contains(message, "image the test runner knows") || ready {
				t.Errorf("message %q, ready %v", message, ready)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reported: waiting %q", waiting)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a probe period: a loop reading the container would have run
}

// A container's own command: `command` replaces the entrypoint, `args` alone the CMD.
func TestContainerArgvAsTheRuntime(t *testing.T) {
	c := &corev1.Container{}
	if got := containerArgv(c); got != nil {
		t.Fatalf("no command: the image's CMD, got %v", got)
	}
	c.Args = []string{"/etc/kafka/docker/run"}
	if got := containerArgv(c); !reflect.DeepEqual(got, []string{"/etc/kafka/docker/run"}) {
		t.Fatalf("args only: %v", got)
	}
	c.Command = []string{"/bin/bash", "-c"}
	c.Args = []string{"exec /etc/kafka/docker/run"}
	if got := containerArgv(c); !reflect.DeepEqual(got, []string{"/bin/bash", "-c", "exec /etc/kafka/docker/run"}) {
		t.Fatalf("command and args: %v", got)
	}
}

// The manual setup's start-up script runs as in the container (HOSTNAME the pod's, the pod's env),
// and the image's start-up it ends in is the runner's image-run, given the environment the script left.
func TestAStartUpScriptRunsAndHandsItsEnvironmentToTheImage(t *testing.T) {
	root := t.TempDir()
	f := fs{root: root, mounts: map[string]string{}}
	j := jvm{java: "java", libs: "/libs", heap: "256m", hosts: "/hosts"}
	script := `ORDINAL=${HOSTNAME##*-}; set -- $BROKER_ADDRESSES; shift $ORDINAL
export KAFKA_ADVERTISED_LISTENERS="EXTERNAL://$1:9094"
exec /etc/kafka/docker/run`
	env := map[string]string{"BROKER_ADDRESSES": "127.0.9.1 127.0.9.2 127.0.9.3"}
	l, err := planScript([]string{"/bin/bash", "-c", script}, env, f, "127.0.64.9", j, "kafka-2")
	if err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(root, "image", imageRun)
	if !strings.HasSuffix(l.main[0], "/bash") || !strings.Contains(l.main[2], "exec "+shim) {
		t.Fatalf("the script runs with the image's start-up replaced: %v", l.main)
	}
	b, _ := os.ReadFile(shim)
	if !strings.Contains(string(b), "image-run '"+filepath.Join(root, "image-run.json")+"'") {
		t.Fatalf("the image's start-up is the runner's image-run: %s", b)
	}
	// Run the script with a stand-in for image-run that records the environment it is given.
	seen := filepath.Join(root, "seen")
	if err := os.WriteFile(shim, []byte("#!/bin/sh\nenv > '"+seen+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := l.command(t.Context(), l.main, nil, 0)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(seen)
	if !strings.Contains(string(got), "KAFKA_ADVERTISED_LISTENERS=EXTERNAL://127.0.9.3:9094\n") {
		t.Fatalf("the script's listeners reach the image: %s", got)
	}
	if _, err := planScript([]string{"python3", "start.py"}, env, f, "127.0.64.9", j, "kafka-2"); err == nil {
		t.Fatal("a program the runner cannot run is an error")
	}
}
