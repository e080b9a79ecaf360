// Package provisioner plays a volume provisioner for the pod runner: a directory of this machine per
// claim of the volumeClaimTemplates of the StatefulSets whose pods it runs.
package provisioner

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

const provisionedBy = "testenv.kafka-advertiser.io/provisioned"

// Provisioner provisions under Root for the StatefulSets whose pod template carries Run: "broker".
// It reads through the listers (watched caches) and writes through Client.
type Provisioner struct {
	Client       kubernetes.Interface
	StatefulSets appslisters.StatefulSetLister
	Claims       corelisters.PersistentVolumeClaimLister
	Volumes      corelisters.PersistentVolumeLister
	// Root holds the volumes' directories (`<Root>/volumes/pvc-<claim uid>`).
	Root string
	// Run is the pod-template annotation that marks the StatefulSets whose pods the runner runs.
	Run string
}

// Sync plays a volume provisioner for the claims of volumeClaimTemplates of StatefulSets whose
// pods the runner runs: each pending claim gets a PersistentVolume (a directory of this machine,
// pre-bound to the claim; kube-controller-manager's binder completes the binding). A volume whose
// claim is gone is deleted with its directory.
func (r *Provisioner) Sync(ctx context.Context) error {
	stss, err := r.StatefulSets.List(labels.Everything())
	if err != nil {
		return err
	}
	claims, err := r.Claims.List(labels.Everything())
	if err != nil {
		return err
	}
	prefixes := map[string][]string{} // namespace -> "<template>-<sts>-"
	for _, s := range stss {
		if s.Spec.Template.Annotations[r.Run] != "broker" {
			continue
		}
		for _, t := range s.Spec.VolumeClaimTemplates {
			prefixes[s.Namespace] = append(prefixes[s.Namespace], t.Name+"-"+s.Name+"-")
		}
	}
	live := map[string]bool{}
	for _, c := range claims {
		live[string(c.UID)] = true
		if c.Spec.VolumeName != "" || c.DeletionTimestamp != nil || !hasPrefix(c.Name, prefixes[c.Namespace]) {
			continue
		}
		if err := r.provision(ctx, c); err != nil && !apierrors.IsAlreadyExists(err) {
			log.Printf("claim %s/%s: %v", c.Namespace, c.Name, err)
		}
	}
	return r.reclaim(ctx, live)
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (r *Provisioner) provision(ctx context.Context, c *corev1.PersistentVolumeClaim) error {
	dir := filepath.Join(r.Root, "volumes", "pvc-"+string(c.UID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	size, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		size = resource.MustParse("1Gi")
	}
	class := ""
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	modes := c.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + string(c.UID), Labels: map[string]string{provisionedBy: "true"},
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": "testenv-podrunner"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
		},
	}
	_, err := r.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err == nil {
		log.Printf("claim %s/%s: volume %s at %s", c.Namespace, c.Name, pv.Name, dir)
	}
	return err
}

func (r *Provisioner) reclaim(ctx context.Context, live map[string]bool) error {
	pvs, err := r.Volumes.List(labels.SelectorFromSet(labels.Set{provisionedBy: "true"}))
	if err != nil {
		return err
	}
	for _, pv := range pvs {
		if pv.Spec.ClaimRef == nil || live[string(pv.Spec.ClaimRef.UID)] {
			continue
		}
		if err := r.Client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err == nil {
			_ = os.RemoveAll(pv.Spec.HostPath.Path)
			log.Printf("volume %s: its claim is gone; deleted", pv.Name)
		}
	}
	return nil
}

// ClaimPath: the directory of the volume bound to a claim.
func (r *Provisioner) ClaimPath(ctx context.Context, ns, claim string) (string, error) {
	c, err := r.Claims.PersistentVolumeClaims(ns).Get(claim)
	if err != nil {
		return "", err
	}
	if c.Spec.VolumeName == "" {
		return "", fmt.Errorf("claim %q is not bound yet", claim)
	}
	pv, err := r.Volumes.Get(c.Spec.VolumeName)
	if err != nil {
		return "", err
	}
	if pv.Spec.HostPath == nil {
		return "", fmt.Errorf("volume %q is not a directory of this machine", pv.Name)
	}
	return pv.Spec.HostPath.Path, nil
}
