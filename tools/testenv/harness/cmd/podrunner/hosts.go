package main

import (
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// syncHosts writes the hosts file every broker JVM resolves names with (-Djdk.net.hosts.file).
func syncHosts(path string, svcs []corev1.Service, pods []corev1.Pod) error {
	text := "127.0.0.1 localhost\n" + strings.Join(hostsLines(svcs, pods), "\n") + "\n"
	if old, err := os.ReadFile(path); err == nil && string(old) == text {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
