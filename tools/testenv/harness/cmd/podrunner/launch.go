package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// fs: a pod's file system on this machine. Mounted volumes are directories of their own; any other
// container path lives under root/fs.
type fs struct {
	root   string
	mounts map[string]string // container mountPath -> host directory
}

// host: where container path p lives on this machine (the longest mount prefix wins).
func (f fs) host(p string) string {
	best := ""
	for m := range f.mounts {
		if (p == m || strings.HasPrefix(p, strings.TrimSuffix(m, "/")+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best == "" {
		return filepath.Join(f.root, "fs", p)
	}
	return filepath.Join(f.mounts[best], strings.TrimPrefix(p, best))
}

// hostPaths maps container paths in a config value into the pod's file system: every mounted path
// wherever it appears (e.g. `${dir:/etc/kafka/tls:tls.key}`), and each other comma-separated absolute
// path into the pod's own directory.
func (f fs) hostPaths(v string) string {
	mounts := make([]string, 0, len(f.mounts))
	for m := range f.mounts {
		mounts = append(mounts, m)
	}
	sort.Slice(mounts, func(a, b int) bool { return len(mounts[a]) > len(mounts[b]) })
	items := strings.Split(v, ",")
	for i, it := range items {
		mapped := it
		for _, m := range mounts {
			mapped = replacePath(mapped, strings.TrimSuffix(m, "/"), f.mounts[m])
		}
		if t := strings.TrimSpace(it); mapped == it && strings.HasPrefix(t, "/") {
			mapped = f.host(t)
		}
		items[i] = mapped
	}
	return strings.Join(items, ",")
}

// replacePath replaces path p in s where it stands as a whole path (or a path's leading directories).
func replacePath(s, p, with string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, p)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(p)
		before := i == 0 || strings.ContainsRune(" ,=:{\"'", rune(s[i-1]))
		after := end == len(s) || strings.ContainsRune("/:,} \"'", rune(s[end]))
		b.WriteString(s[:i])
		if before && after {
			b.WriteString(with)
		} else {
			b.WriteString(p)
		}
		s = s[end:]
	}
}

// launch: the processes one container start runs, in order (set-up steps, then the broker).
type launch struct {
	env   []string
	steps []step
	main  []string
	dir   string
	stop  os.Signal // what the container gets when it is stopped (default SIGINT: the JVM's shutdown hook)
	ownNS bool      // the main process gets a mount namespace of its own (mountexec.go)
}

type step struct {
	name string
	argv []string
}

type jvm struct {
	java, libs, heap, hosts string
	// log4j1: Kafka 3.x jars, whose image start-up writes log4j.properties (read through log4j2's 1.x bridge).
	log4j1 bool
}

// log4jFile: the broker's logging configuration as the image's start-up writes it.
func (j jvm) log4jFile() string {
	if j.log4j1 {
		return "log4j.properties"
	}
	return "log4j2.yaml"
}

func (j jvm) cmd(log4j string, extra []string, class string, args ...string) []string {
	cmd := []string{j.java, "-Xms32m", "-Xmx" + j.heap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-XX:-UsePerfData", "-Djava.awt.headless=true",
		// Cluster DNS: names come from the Services' EndpointSlices (the runner's hosts file), never the network.
		"-Djdk.net.hosts.file=" + j.hosts, "-Dsun.net.inetaddr.ttl=1", "-Dsun.net.inetaddr.negative.ttl=0"}
	if strings.HasSuffix(log4j, ".properties") {
		cmd = append(cmd, "-Dlog4j1.compatibility=true", "-Dlog4j.configuration=file:"+log4j)
	} else {
		cmd = append(cmd, "-Dlog4j2.configurationFile="+log4j)
	}
	cmd = append(cmd, extra...)
	cmd = append(cmd, "-cp", filepath.Join(j.libs, "*"), class)
	return append(cmd, args...)
}

// planApache: the apache/kafka (and cp-kafka) start-up: the image's shell rules (dockerDefaults),
// then its own Java wrapper, kafka.docker.KafkaDockerWrapper setup (KAFKA_* -> server.properties,
// the defaults when none is given, storage formatted with CLUSTER_ID), then kafka.Kafka.
func planApache(env map[string]string, f fs, ip string, j jvm) (launch, error) {
	for k, v := range env {
		if strings.HasPrefix(k, "KAFKA_") && !strings.HasSuffix(k, "_OPTS") {
			env[k] = f.hostPaths(v)
		}
	}
	exists := func(p string) bool { _, err := os.Stat(f.host(p)); return err == nil }
	read := func(p string) (string, error) {
		b, err := os.ReadFile(f.host(p))
		return strings.TrimSpace(string(b)), err
	}
	if err := dockerDefaults(env, exists, read); err != nil {
		return launch{}, err
	}
	for _, k := range []string{"KAFKA_SSL_KEYSTORE_LOCATION", "KAFKA_SSL_TRUSTSTORE_LOCATION"} {
		if v, ok := env[k]; ok {
			env[k] = f.hostPaths(v)
		}
	}
	defaults, final := filepath.Join(f.root, "defaults"), filepath.Join(f.root, "config")
	for _, d := range []string{defaults, final} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return launch{}, err
		}
	}
	files := map[string]string{
		filepath.Join(defaults, "server.properties"): serverDefaults(f.host("/tmp/kraft-combined-logs")),
		filepath.Join(defaults, "log4j2.yaml"):       log4j2Defaults,
		filepath.Join(defaults, "log4j.properties"):  log4jDefaults,
		filepath.Join(defaults, "tools-log4j2.yaml"): log4j2Defaults,
	}
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return launch{}, err
		}
	}
	opts := strings.Fields(env["KAFKA_OPTS"])
	setup := j.cmd(filepath.Join(defaults, "tools-log4j2.yaml"), nil, "kafka.docker.KafkaDockerWrapper", "setup",
		"--default-configs-dir", defaults, "--mounted-configs-dir", f.host("/mnt/shared/config"), "--final-configs-dir", final)
	// The pod's network namespace: listeners on every interface bind the pod's IP.
	bind := []string{os.Args[0], "bind-listeners", filepath.Join(final, "server.properties"), ip}
	return launch{
		env:   envList(env),
		steps: []step{{"KafkaDockerWrapper setup", setup}, {"bind listeners to the pod IP", bind}},
		main:  j.cmd(filepath.Join(final, j.log4jFile()), opts, "kafka.Kafka", filepath.Join(final, "server.properties")),
		dir:   f.root,
	}, nil
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env)+1)
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return append(out, "PATH=/usr/local/bin:/usr/bin:/bin")
}

// bindListeners rewrites `listeners=` of a server.properties in place (bindToPod).
func bindListeners(path, ip string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "listeners="); ok {
			line = "listeners=" + bindToPod(v, ip)
		}
		out = append(out, line)
	}
	return os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}

// run: the set-up steps, then the main process; returns when the main process exits (or a step fails).
func (l launch) run(ctx context.Context, log *os.File, grace time.Duration, started func(*exec.Cmd)) error {
	if err := l.runSteps(ctx, log); err != nil {
		return err
	}
	c := l.command(ctx, l.main, log, grace)
	if l.ownNS {
		c.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	if err := c.Start(); err != nil {
		return err
	}
	started(c)
	return c.Wait()
}

// runSteps: the set-up steps, in order.
func (l launch) runSteps(ctx context.Context, log *os.File) error {
	for _, s := range l.steps {
		var out bytes.Buffer
		c := l.command(ctx, s.argv, log, 0)
		c.Stdout, c.Stderr = io.MultiWriter(log, &out), io.MultiWriter(log, &out)
		// The image's launch script goes on when the storage is already formatted (a restart).
		if err := c.Run(); err != nil && !strings.Contains(strings.ToLower(out.String()), "already formatted") {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func (l launch) command(ctx context.Context, argv []string, log *os.File, grace time.Duration) *exec.Cmd {
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env, c.Dir, c.Stdout, c.Stderr = l.env, l.dir, log, log
	stop := l.stop
	if stop == nil {
		stop = os.Interrupt
	}
	c.Cancel = func() error { return c.Process.Signal(stop) }
	// After a cancel: the grace period, then SIGKILL. After an exit: how long the output may take to
	// drain. A step's grace is 0, and 10 ms to drain its output failed a broker's start under load
	// ("WaitDelay expired before I/O complete"); 5 s does not make a stop noticeably slower.
	c.WaitDelay = max(grace, 5*time.Second)
	// The broker dies with the runner, as containers die with their node.
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return c
}

// volumeAPI: what a volume needs from the API server: a claim's volume directory, a ServiceAccount token.
type volumeAPI struct {
	claim func(claim string) (string, error)
	token func(audience string, seconds *int64) (string, error)
}

// volumes: the container's mounts as directories of this machine.
func volumeDirs(pod *corev1.Pod, c *corev1.Container, root string, src envSources, api volumeAPI) (map[string]string, error) {
	byName := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		byName[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		v, ok := byName[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q not found", m.Name)
		}
		dir, err := volumeDir(pod, v, root, src, api)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", m.Name, err)
		}
		if m.SubPath != "" {
			dir = filepath.Join(dir, m.SubPath)
		}
		mounts[m.MountPath] = dir
	}
	return mounts, nil
}

func volumeDir(pod *corev1.Pod, v corev1.Volume, root string, src envSources, api volumeAPI) (string, error) {
	dir := filepath.Join(root, "volumes", v.Name)
	if v.PersistentVolumeClaim != nil {
		return api.claim(v.PersistentVolumeClaim.ClaimName)
	}
	files, m, err := volumeFiles(pod, v, src, api)
	if err != nil {
		return "", err
	}
	if files == nil {
		return dir, os.MkdirAll(dir, 0o755) // emptyDir and anything else: a directory
	}
	_, err = atomicWrite(dir, files, m)
	return dir, err
}

// volumeFiles: the files of a Secret, ConfigMap or projected volume, path -> content (nil for other
// kinds), and their mode.
func volumeFiles(pod *corev1.Pod, v corev1.Volume, src envSources, api volumeAPI) (map[string][]byte, os.FileMode, error) {
	files := map[string][]byte{}
	switch {
	case v.Secret != nil:
		m := mode(v.Secret.DefaultMode)
		return files, m, secretFiles(files, v.Secret.SecretName, v.Secret.Optional, v.Secret.Items, src)
	case v.ConfigMap != nil:
		m := mode(v.ConfigMap.DefaultMode)
		return files, m, configMapFiles(files, v.ConfigMap.Name, v.ConfigMap.Optional, v.ConfigMap.Items, src)
	case v.Projected != nil:
		return files, mode(v.Projected.DefaultMode), projectedFiles(pod, files, v.Projected, src, api)
	}
	return nil, 0, nil
}

// atomicWrite lays files out as the kubelet's atomic writer does (pkg/volume/util/atomic_writer.go):
// the content in a timestamped directory `..<time>`, the symlink `..data` to it (swapped by rename),
// and each top-level name a symlink into `..data`. A reader sees the old set or the new one, never a
// mix, and the directory itself stays (a bind mount of it sees the new content). Unchanged content is
// not rewritten; reports whether it wrote.
func atomicWrite(dir string, files map[string][]byte, m os.FileMode) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	if same(dir, files) {
		return false, nil
	}
	ts, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	top, err := writeTree(ts, files, m)
	if err != nil {
		_ = os.RemoveAll(ts) // a half-written version never becomes `..data`, nor stays behind
		return false, err
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return false, err
	}
	return true, links(dir, top, old)
}

// writeTree writes one version of the files under ts (mode m past the umask, as the kubelet sets
// it) and returns their top-level names.
func writeTree(ts string, files map[string][]byte, m os.FileMode) (map[string]bool, error) {
	top := map[string]bool{}
	for p, d := range files {
		full := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, d, m); err != nil {
			return nil, err
		}
		if err := os.Chmod(full, m); err != nil {
			return nil, err
		}
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	return top, os.Chmod(ts, 0o755)
}

// links: a top-level symlink into `..data` for each name, none for names gone; the old content goes.
func links(dir string, top map[string]bool, old string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "..") && !top[n] {
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	for n := range top {
		link := filepath.Join(dir, n)
		if t, err := os.Readlink(link); err == nil && t == filepath.Join("..data", n) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join("..data", n), link); err != nil {
			return err
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// same: whether dir's `..data` holds exactly these files.
func same(dir string, files map[string][]byte) bool {
	data := filepath.Join(dir, "..data")
	n := 0
	err := filepath.WalkDir(data+"/", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(data, p)
		b, rerr := os.ReadFile(p)
		if want, ok := files[rel]; rerr != nil || !ok || !bytes.Equal(b, want) {
			return fmt.Errorf("differs")
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}

// mode: a volume's defaultMode (the API server defaults it to 0644).
func mode(m *int32) os.FileMode {
	if m == nil {
		return 0o644
	}
	return os.FileMode(*m)
}

func secretFiles(files map[string][]byte, name string, opt *bool, items []corev1.KeyToPath, src envSources) error {
	data, ok := src.secrets[name]
	if !ok && !optional(opt) {
		return fmt.Errorf("secret %q not found", name)
	}
	return keyFiles(files, data, items)
}

func configMapFiles(files map[string][]byte, name string, opt *bool, items []corev1.KeyToPath, src envSources) error {
	cm, ok := src.configMaps[name]
	if !ok && !optional(opt) {
		return fmt.Errorf("configmap %q not found", name)
	}
	data := map[string][]byte{}
	for k, s := range cm {
		data[k] = []byte(s)
	}
	return keyFiles(files, data, items)
}

// projectedFiles: a projected volume's sources in one directory (the kubelet's kube-api-access-*
// volume: a bound ServiceAccount token, the kube-root-ca.crt ConfigMap, the namespace).
func projectedFiles(pod *corev1.Pod, files map[string][]byte, v *corev1.ProjectedVolumeSource, src envSources, api volumeAPI) error {
	for _, s := range v.Sources {
		var err error
		switch {
		case s.ServiceAccountToken != nil:
			var tok string
			if tok, err = api.token(s.ServiceAccountToken.Audience, s.ServiceAccountToken.ExpirationSeconds); err == nil {
				files[s.ServiceAccountToken.Path] = []byte(tok)
			}
		case s.ConfigMap != nil:
			err = configMapFiles(files, s.ConfigMap.Name, s.ConfigMap.Optional, s.ConfigMap.Items, src)
		case s.Secret != nil:
			err = secretFiles(files, s.Secret.Name, s.Secret.Optional, s.Secret.Items, src)
		case s.DownwardAPI != nil:
			for _, it := range s.DownwardAPI.Items {
				if it.FieldRef == nil {
					continue
				}
				val, ferr := fieldRef(pod, it.FieldRef.FieldPath)
				if ferr != nil {
					return ferr
				}
				files[it.Path] = []byte(val)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// keyFiles: the keys of data as files (all, or the items' keys at their paths).
func keyFiles(files map[string][]byte, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		for k, d := range data {
			files[k] = d
		}
		return nil
	}
	for _, it := range items {
		if d, ok := data[it.Key]; ok {
			files[filepath.Clean(it.Path)] = d
		}
	}
	return nil
}

// bitnamiUnified: what the Bitnami image keeps of the tarball's server.properties for either mode
// (libkafka.sh, kafka_server_unify_conf, 3.7 and later): the ZooKeeper- and KRaft-specific settings
// commented out, so a 3.x ZooKeeper broker does not inherit the 4.x defaults' node.id or roles.
var bitnamiUnified = []string{"zookeeper.", "group.initial", "broker.", "node.", "process.", "listeners=",
	"listener.", "controller.", "inter.broker", "advertised.listeners"}

// bitnamiProperties: the Bitnami image's KAFKA_CFG_* rule (bitnami/containers, kafka's libkafka.sh,
// kafka_configure_from_environment_variables) over the unified base: drop the prefix, `_` -> `.`,
// lower case, then `sasl.ssl` -> `sasl_ssl` and `sasl.plaintext` -> `sasl_plaintext`; empty values are
// skipped. Each property replaces the same key of the base file, commented out or not, or is added.
func bitnamiProperties(base string, env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := strings.Split(strings.TrimSpace(base), "\n")
	for i, l := range lines {
		for _, p := range bitnamiUnified {
			if strings.HasPrefix(l, p) {
				lines[i] = "#" + l
				break
			}
		}
	}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, "KAFKA_CFG_")
		if !ok || env[k] == "" {
			continue
		}
		key := strings.ToLower(strings.ReplaceAll(rest, "_", "."))
		key = strings.ReplaceAll(strings.ReplaceAll(key, "sasl.ssl", "sasl_ssl"), "sasl.plaintext", "sasl_plaintext")
		set := false
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimLeft(l, "# \t"), key+"=") {
				lines[i], set = key+"="+env[k], true
			}
		}
		if !set {
			lines = append(lines, key+"="+env[k])
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// planBitnami: the Bitnami image's start-up: its defaults (data in /bitnami/kafka/data), KAFKA_CFG_*
// over them, storage formatted with KAFKA_KRAFT_CLUSTER_ID (--ignore-formatted), then kafka.Kafka.
func planBitnami(env map[string]string, f fs, ip string, j jvm) (launch, error) {
	for k, v := range env {
		if strings.HasPrefix(k, "KAFKA_CFG_") {
			env[k] = f.hostPaths(v)
		}
	}
	id := env["KAFKA_KRAFT_CLUSTER_ID"]
	if id == "" {
		return launch{}, fmt.Errorf("KAFKA_KRAFT_CLUSTER_ID is not set (every node of a KRaft cluster needs the same one)")
	}
	dir := filepath.Join(f.root, "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return launch{}, err
	}
	props := filepath.Join(dir, "server.properties")
	text := bitnamiProperties(serverDefaults(f.host("/bitnami/kafka/data")), env)
	if err := os.WriteFile(props, []byte(text), 0o644); err != nil {
		return launch{}, err
	}
	log4j := filepath.Join(dir, "log4j2.yaml")
	if err := os.WriteFile(log4j, []byte(log4j2Defaults), 0o644); err != nil {
		return launch{}, err
	}
	format := j.cmd(log4j, nil, "kafka.tools.StorageTool", "format", "--config", props, "--cluster-id", id, "--ignore-formatted")
	bind := []string{os.Args[0], "bind-listeners", props, ip}
	return launch{
		env:   envList(env),
		steps: []step{{"kafka-storage format", format}, {"bind listeners to the pod IP", bind}},
		main:  j.cmd(log4j, strings.Fields(env["KAFKA_OPTS"]), "kafka.Kafka", props),
		dir:   f.root,
	}, nil
}

// refreshVolume: a running pod's Secret or ConfigMap volume rewritten when its object changed, as
// the kubelet's periodic sync does (projected volumes keep what they got at start: their token
// outlives the tests). Reports whether it wrote.
func refreshVolume(pod *corev1.Pod, v corev1.Volume, root string, src envSources) (bool, error) {
	if v.Secret == nil && v.ConfigMap == nil {
		return false, nil
	}
	files, m, err := volumeFiles(pod, v, src, volumeAPI{})
	if err != nil {
		return false, err
	}
	return atomicWrite(filepath.Join(root, "volumes", v.Name), files, m)
}
