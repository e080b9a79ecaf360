package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kafka-advertiser's own pods (pod annotation testenv.kafka-advertiser.io/run: kafka-advertiser, a
// container of its image): the runner starts the image's binary (its entrypoint, `kafka-advertiser
// serve`, or the container's command) with the container's args, expanded as the kubelet does, in a
// mount namespace of its own where each volume is mounted at its mountPath (the ServiceAccount token
// at /var/run/secrets/kubernetes.io/serviceaccount, the serving certificate's Secret), as the pod's
// user. In-cluster config finds the API server through KUBERNETES_SERVICE_HOST/PORT, the `kubernetes`
// Service's ClusterIP, which the runner's proxy relays to the API server (kube-proxy's part).
const productRun = "kafka-advertiser"

// product: the image kafka-advertiser ships, by the repository's last path element.
func isProductImage(image string) bool {
	repo, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	return repo == productRun || strings.HasSuffix(repo, "/"+productRun)
}

// productBinary: the binary a container of the product's image runs: releases/TAG/kafka-advertiser
// when the image's tag names a release built there (`scripts/testenv.sh previous`: the previous
// release, for upgrade tests), else the default (this checkout's build). A digest or no tag is the
// default's.
func productBinary(image, def, releases string) string {
	if releases == "" || strings.Contains(image, "@") {
		return def
	}
	i := strings.LastIndexByte(image, ':')
	if i <= strings.LastIndexByte(image, '/') {
		return def
	}
	tag := image[i+1:]
	if tag == "" || tag == "." || tag == ".." || strings.ContainsAny(tag, "/\\") {
		return def
	}
	bin := filepath.Join(releases, tag, productRun)
	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return bin
	}
	return def
}

// productArgv: the container's command line with the image's binary in place of its entrypoint
// (the image's only binary: /kafka-advertiser, entrypoint `kafka-advertiser serve`), $(VAR) expanded
// and wildcard binds made the pod's IP (the pod's own network namespace).
func productArgv(c *corev1.Container, env map[string]string, binary, ip string) ([]string, error) {
	argv := []string{binary, "serve"}
	if len(c.Command) > 0 {
		if filepath.Base(c.Command[0]) != productRun {
			return nil, fmt.Errorf("command %q: the image has only the %s binary", c.Command[0], productRun)
		}
		argv = []string{binary}
		for _, a := range c.Command[1:] {
			argv = append(argv, expand(a, env))
		}
	}
	for _, a := range c.Args {
		argv = append(argv, bindAny(expand(a, env), ip))
	}
	return argv, nil
}

// bindAny: an address on every interface (0.0.0.0:P, [::]:P, :P at a value's start or after `=`)
// becomes the pod's IP.
func bindAny(v, ip string) string {
	for _, wild := range []string{"0.0.0.0:", "[::]:"} {
		v = strings.ReplaceAll(v, wild, ip+":")
	}
	if strings.HasPrefix(v, ":") {
		return ip + v
	}
	if k, rest, ok := strings.Cut(v, "=:"); ok && strings.HasPrefix(k, "--") {
		return k + "=" + ip + ":" + rest
	}
	return v
}

// identity: the user and group the container runs as (container securityContext over the pod's);
// the image's own user, 65532, when neither sets one.
func identity(p *corev1.Pod, c *corev1.Container) (int64, int64) {
	uid, gid := int64(65532), int64(65532)
	if s := p.Spec.SecurityContext; s != nil {
		if s.RunAsUser != nil {
			uid = *s.RunAsUser
		}
		if s.RunAsGroup != nil {
			gid = *s.RunAsGroup
		}
	}
	if s := c.SecurityContext; s != nil {
		if s.RunAsUser != nil {
			uid = *s.RunAsUser
		}
		if s.RunAsGroup != nil {
			gid = *s.RunAsGroup
		}
	}
	return uid, gid
}

// planProduct: kafka-advertiser's container as its image runs it.
func (r *runner) planProduct(pod *corev1.Pod, c *corev1.Container, env map[string]string, f fs, ip string) (launch, error) {
	if r.product == "" {
		return launch{}, fmt.Errorf("the runner was started without -product-binary")
	}
	r.mu.Lock()
	kube := r.kubeService
	r.mu.Unlock()
	if _, ok := env["KUBERNETES_SERVICE_HOST"]; !ok && kube != "" {
		host, port, _ := net.SplitHostPort(kube)
		env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"] = host, port
		env["KUBERNETES_SERVICE_PORT_HTTPS"] = port
	}
	for k, v := range env {
		env[k] = bindAny(v, ip)
	}
	argv, err := productArgv(c, env, productBinary(c.Image, r.product, r.releases), ip)
	if err != nil {
		return launch{}, err
	}
	uid, gid := identity(pod, c)
	helper := []string{os.Args[0], "mount-exec", "-uid", strconv.FormatInt(uid, 10), "-gid", strconv.FormatInt(gid, 10),
		"-scratch", filepath.Join(f.root, "overlay")}
	targets := make([]string, 0, len(f.mounts))
	for t := range f.mounts {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		helper = append(helper, "-bind", f.mounts[t]+"="+t)
	}
	if err := os.RemoveAll(filepath.Join(f.root, "overlay")); err != nil {
		return launch{}, err
	}
	return launch{env: envList(env), main: append(append(helper, "--"), argv...), dir: "/", stop: syscall.SIGTERM, ownNS: true}, nil
}

// token: a bound ServiceAccount token for the pod (TokenRequest), as the kubelet writes into a
// projected serviceAccountToken volume.
func (r *runner) token(ctx context.Context, p *corev1.Pod, audience string, seconds *int64) (string, error) {
	exp := int64(3607)
	if seconds != nil {
		exp = *seconds
	}
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp,
		BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	out, err := r.cs.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for serviceaccount %s: %w", sa, err)
	}
	return out.Status.Token, nil
}
