package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestProductImageAndCommandLine(t *testing.T) {
	for image, want := range map[string]bool{
		"ghcr.io/kafka-advertiser/kafka-advertiser:0.1.0": true,
		"kafka-advertiser@sha256:0123":                    true,
		"registry.local:5000/team/kafka-advertiser":       true,
		"apache/kafka:4.1.1":                              false,
		"example/kafka-advertiser-sidecar:1":              false,
	} {
		if got := isProductImage(image); got != want {
			t.Errorf("isProductImage(%q) = %v", image, got)
		}
	}
	c := &corev1.Container{Args: []string{"--listen=0.0.0.0:8443", "--role=controller", "--lease-namespace=$(POD_NAMESPACE)", "--admin-listen=[::]:8080", "--x=:9"}}
	got, err := productArgv(c, map[string]string{"POD_NAMESPACE": "ops"}, "/bin/ka", "127.0.64.7")
	want := []string{"/bin/ka", "serve", "--listen=127.0.64.7:8443", "--role=controller", "--lease-namespace=ops", "--admin-listen=127.0.64.7:8080", "--x=127.0.64.7:9"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("productArgv = %q, %v; want %q", got, err, want)
	}
	c.Command = []string{"/kafka-advertiser", "check"}
	if got, err := productArgv(c, nil, "/bin/ka", "127.0.64.7"); err != nil || got[1] != "check" || got[0] != "/bin/ka" {
		t.Errorf("with a command: %q, %v", got, err)
	}
	c.Command = []string{"/bin/sh", "-c", "true"}
	if _, err := productArgv(c, nil, "/bin/ka", "127.0.64.7"); err == nil {
		t.Error("a shell the image does not have was accepted")
	}
}

func TestIdentityFollowsTheSecurityContexts(t *testing.T) {
	p := &corev1.Pod{}
	c := &corev1.Container{}
	if u, g := identity(p, c); u != 65532 || g != 65532 {
		t.Errorf("the image's user: %d:%d", u, g)
	}
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(2000))}
	c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(1001))}
	if u, g := identity(p, c); u != 1001 || g != 2000 {
		t.Errorf("container over pod: %d:%d", u, g)
	}
}

func TestProjectedVolumeAsTheKubeletWritesIt(t *testing.T) {
	dir := t.TempDir()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ka-1", Namespace: "ops"}}
	src := envSources{configMaps: map[string]map[string]string{"kube-root-ca.crt": {"ca.crt": "CA"}}}
	v := &corev1.ProjectedVolumeSource{DefaultMode: ptr(int32(0o644)), Sources: []corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
			Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
		{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
	}}
	api := volumeAPI{token: func(aud string, exp *int64) (string, error) { return "tok-" + aud, nil }}
	if _, err := volumeDir(pod, corev1.Volume{Name: "api", VolumeSource: corev1.VolumeSource{Projected: v}}, dir, src, api); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(dir, "volumes", "api")
	for name, want := range map[string]string{"token": "tok-", "ca.crt": "CA", "namespace": "ops"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v", name, st.Mode().Perm())
		}
	}
	v.Sources[1].ConfigMap.Name = "missing"
	if err := projectedFiles(pod, map[string][]byte{}, v, src, api); err == nil {
		t.Error("a missing ConfigMap was not an error")
	}
}

func TestProductBinaryByTag(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "0.1.0", productRun)
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "0.0.9", productRun), 0o755); err != nil { // a directory, not a binary
		t.Fatal(err)
	}
	for image, want := range map[string]string{
		"ghcr.io/kafka-advertiser/kafka-advertiser:0.1.0":             bin,
		"registry.local:5000/kafka-advertiser:0.1.0":                  bin,
		"ghcr.io/kafka-advertiser/kafka-advertiser:0.2.0":             "/default",
		"ghcr.io/kafka-advertiser/kafka-advertiser:0.0.9":             "/default",
		"ghcr.io/kafka-advertiser/kafka-advertiser":                   "/default",
		"registry.local:5000/kafka-advertiser":                        "/default",
		"ghcr.io/kafka-advertiser/kafka-advertiser:0.1.0@sha256:0123": "/default",
		"kafka-advertiser:..":                                         "/default",
	} {
		if got := productBinary(image, "/default", dir); got != want {
			t.Errorf("productBinary(%q) = %q, want %q", image, got, want)
		}
	}
	if got := productBinary("kafka-advertiser:0.1.0", "/default", ""); got != "/default" {
		t.Errorf("without -product-releases: %q", got)
	}
}
