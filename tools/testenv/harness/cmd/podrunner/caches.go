package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kafka-advertiser/testenv/harness/internal/proxy"
	"kafka-advertiser/testenv/harness/internal/watch"
)

// caches: what the runner reads of the cluster, kept by watches (the kubelet and kube-proxy watch
// too; its Secret and ConfigMap volumes follow watches, the kubelet's default change detection).
type caches struct {
	pods         corelisters.PodLister
	services     corelisters.ServiceLister
	nodes        corelisters.NodeLister
	configMaps   corelisters.ConfigMapLister
	secrets      corelisters.SecretLister
	claims       corelisters.PersistentVolumeClaimLister
	volumes      corelisters.PersistentVolumeLister
	statefulSets appslisters.StatefulSetLister
	gateway      *watch.Dynamic
}

// watchCluster starts the informers, waits for their first LIST, and kicks k on every change.
func watchCluster(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, k watch.Kicks) (*caches, error) {
	f := informers.NewSharedInformerFactory(cs, 0)
	c := &caches{
		pods: f.Core().V1().Pods().Lister(), services: f.Core().V1().Services().Lister(),
		nodes: f.Core().V1().Nodes().Lister(), configMaps: f.Core().V1().ConfigMaps().Lister(),
		secrets: f.Core().V1().Secrets().Lister(), claims: f.Core().V1().PersistentVolumeClaims().Lister(),
		volumes: f.Core().V1().PersistentVolumes().Lister(), statefulSets: f.Apps().V1().StatefulSets().Lister(),
	}
	for _, inf := range []cache.SharedIndexInformer{
		f.Core().V1().Pods().Informer(), f.Core().V1().Services().Informer(), f.Core().V1().Nodes().Informer(),
		f.Core().V1().PersistentVolumeClaims().Informer(), f.Core().V1().PersistentVolumes().Informer(),
		f.Apps().V1().StatefulSets().Informer(),
	} {
		if _, err := inf.AddEventHandler(k.Handler()); err != nil {
			return nil, err
		}
	}
	// ConfigMaps and Secrets are read when a container starts and by the volume refresh; a change
	// to them needs no pass. Their informers still have to exist before Start.
	f.Core().V1().ConfigMaps().Informer()
	f.Core().V1().Secrets().Informer()
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("the %v cache did not sync", typ)
		}
	}
	c.gateway = watch.NewDynamic(ctx, cs.Discovery(), dyn, k, proxy.GatewayKinds...)
	return c, nil
}

// snapshot: one consistent-enough view for a pass (each kind as its cache holds it now).
type snapshot struct {
	pods     []corev1.Pod
	services []corev1.Service
	nodes    []corev1.Node
}

func (c *caches) snapshot() (snapshot, error) {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return snapshot{}, err
	}
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return snapshot{}, err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{pods: watch.Values(pods), services: watch.Values(svcs), nodes: watch.Values(nodes)}, nil
}
