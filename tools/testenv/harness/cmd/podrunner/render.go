package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// renderConfigs: `podrunner render-configs PODS.json OUT`, the broker config each pod of a JSON
// array would start with, without a cluster or a JVM: the kubelet's env (resolveEnv, the pod given a
// loopback pod and host IP), then the image's rules up to the Java step. OUT/<i>/ gets
//   - refused: what the image prints before it exits (its shell checks), or why no broker runs;
//   - apache/kafka, cp-kafka: env.json and defaults/server.properties, the input of the image's
//     KafkaDockerWrapper (tests/e2e/kafka/ValidateConfigs.java runs it, then KafkaConfig);
//   - Bitnami: server.properties (bitnamiProperties).
//
// ConfigMap, Secret and volume references are not resolved: the table it serves uses none.
func renderConfigs(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var pods []corev1.Pod
	if err := json.Unmarshal(b, &pods); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	for i := range pods {
		dir := filepath.Join(out, fmt.Sprint(i))
		if err := os.MkdirAll(filepath.Join(dir, "defaults"), 0o755); err != nil {
			return err
		}
		files, refusal := renderConfig(&pods[i])
		if refusal != nil {
			files = map[string]string{"refused": refusal.Error()}
		}
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func renderConfig(pod *corev1.Pod) (map[string]string, error) {
	var c *corev1.Container
	var fl flavor
	for i := range pod.Spec.Containers {
		if f, ok := imageFlavor(pod.Spec.Containers[i].Image); ok && f != product {
			c, fl = &pod.Spec.Containers[i], f
			break
		}
	}
	if c == nil {
		return nil, fmt.Errorf("no container runs a Kafka image the runner knows")
	}
	pod.Status.PodIP, pod.Status.PodIPs, pod.Status.HostIP = "127.0.64.10", []corev1.PodIP{{IP: "127.0.64.10"}}, "127.0.1.1"
	env, _, err := resolveEnv(pod, c, envSources{})
	if err != nil {
		return nil, err
	}
	if fl == bitnami {
		return map[string]string{"server.properties": bitnamiProperties(serverDefaults("/bitnami/kafka/data"), env)}, nil
	}
	none := func(string) bool { return false }
	unread := func(p string) (string, error) { return "", fmt.Errorf("%s: not mounted offline", p) }
	if err := dockerDefaults(env, none, unread); err != nil {
		return nil, err
	}
	j, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"env.json":                   string(j),
		"defaults/server.properties": serverDefaults("/tmp/kraft-combined-logs"),
	}, nil
}
