package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// imageRun: the apache/kafka image's start-up script, its CMD (docker/jvm/Dockerfile:
// CMD ["/etc/kafka/docker/run"]; the base image's ENTRYPOINT runs its arguments).
const imageRun = "/etc/kafka/docker/run"

// containerArgv: what a container runs when it sets its own command or arguments (nil: the image's
// CMD). `command` replaces the entrypoint, `args` the CMD; the apache/kafka base image's entrypoint
// runs its arguments, so `args` alone is the program.
func containerArgv(c *corev1.Container) []string {
	if len(c.Command) > 0 {
		return append(append([]string{}, c.Command...), c.Args...)
	}
	if len(c.Args) > 0 {
		return append([]string{}, c.Args...)
	}
	return nil
}

// imageRunConfig: what `podrunner image-run` needs to start the broker as planApache does, written
// beside the pod's files.
type imageRunConfig struct {
	Root   string            `json:"root"`
	Mounts map[string]string `json:"mounts"`
	IP     string            `json:"ip"`
	Java   string            `json:"java"`
	Libs   string            `json:"libs"`
	Heap   string            `json:"heap"`
	Hosts  string            `json:"hosts"`
}

// planScript: an apache/kafka container that runs its own start-up script (the manual setup's way:
// work out the advertised listeners from the ordinal, then run the image's start-up). The script
// runs as in the container: sh or bash, the pod's environment, HOSTNAME the pod's host name. The
// image's /etc/kafka/docker/run it ends in is a file of the pod's that runs `podrunner image-run`,
// which reads the environment the script left and starts the broker as planApache does (the same
// process: the script's `exec` keeps the broker the container's main process).
func planScript(argv []string, env map[string]string, f fs, ip string, j jvm, hostname string) (launch, error) {
	if argv[0] == imageRun {
		return planApache(env, f, ip, j)
	}
	shell := filepath.Base(argv[0])
	if shell != "sh" && shell != "bash" {
		return launch{}, fmt.Errorf("command %q: the test runner runs sh or bash scripts and the image's %s", argv[0], imageRun)
	}
	hostShell, err := exec.LookPath(shell)
	if err != nil {
		return launch{}, fmt.Errorf("command %q: %w", argv[0], err)
	}
	cfg := imageRunConfig{Root: f.root, Mounts: f.mounts, IP: ip, Java: j.java, Libs: j.libs, Heap: j.heap, Hosts: j.hosts}
	conf := filepath.Join(f.root, "image-run.json")
	b, err := json.Marshal(cfg)
	if err != nil {
		return launch{}, err
	}
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		return launch{}, err
	}
	shim := filepath.Join(f.root, "image", imageRun)
	if err := os.MkdirAll(filepath.Dir(shim), 0o755); err != nil {
		return launch{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return launch{}, err
	}
	script := fmt.Sprintf("#!/bin/sh\nexec '%s' image-run '%s'\n", self, conf)
	if err := os.WriteFile(shim, []byte(script), 0o755); err != nil {
		return launch{}, err
	}
	main := []string{hostShell}
	for _, a := range argv[1:] {
		main = append(main, strings.ReplaceAll(a, imageRun, shim))
	}
	env["HOSTNAME"] = hostname
	return launch{env: envList(env), main: main, dir: f.root}, nil
}

// imageRunMain: `podrunner image-run CONFIG`, the image's start-up as a container script runs it:
// planApache on the environment the script left, its set-up steps, then the broker in this process.
func imageRunMain(conf string) error {
	b, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	var cfg imageRunConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "PATH" {
			env[k] = v
		}
	}
	j := jvm{java: cfg.Java, libs: cfg.Libs, heap: cfg.Heap, hosts: cfg.Hosts}
	l, err := planApache(env, fs{root: cfg.Root, mounts: cfg.Mounts}, cfg.IP, j)
	if err != nil {
		return err
	}
	if err := l.runSteps(context.Background(), os.Stdout); err != nil {
		return err
	}
	java, err := exec.LookPath(l.main[0])
	if err != nil {
		return err
	}
	return syscall.Exec(java, l.main, l.env)
}
