// Package watch is how the harness's components see the cluster: informers (one LIST, then a
// WATCH per kind), read from their caches, as a kubelet, kube-proxy or Gateway controller does. A
// component that LISTs every kind it reads each half second costs the API server, on the two
// cores the benchmarks share with it, more than everything kafka-advertiser does; nothing here
// polls the API server.
//
// A change to any watched object kicks the component (Kicks), which then does one pass over the
// caches; Loop spaces the passes (at least Gap apart) and adds a slow pass (Every) for what changes
// without an API event (a broker process turning ready is reported through a kick of its own).
package watch

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// Kicks coalesces "something changed" signals: any number of kicks before the next pass is one.
type Kicks chan struct{}

// NewKicks makes a kick channel.
func NewKicks() Kicks { return make(Kicks, 1) }

// Kick asks for a pass; it never blocks.
func (k Kicks) Kick() {
	select {
	case k <- struct{}{}:
	default:
	}
}

// Handler kicks on every add, update and delete of an informer's objects.
func (k Kicks) Handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { k.Kick() },
		UpdateFunc: func(any, any) { k.Kick() },
		DeleteFunc: func(any) { k.Kick() },
	}
}

// Loop calls pass once, then after each kick or every `every`, at most once per `gap`, until ctx ends.
func Loop(ctx context.Context, k Kicks, gap, every time.Duration, pass func()) {
	for ctx.Err() == nil {
		pass()
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
		select {
		case <-ctx.Done():
		case <-k:
		case <-time.After(every):
		}
	}
}

// Dynamic watches custom kinds that may or may not be served: a kind whose CRD is not installed
// (yet) is looked up again by discovery at most once per Recheck, and lists as empty until then.
type Dynamic struct {
	disc    discovery.DiscoveryInterface
	factory dynamicinformer.DynamicSharedInformerFactory
	kicks   Kicks
	stop    <-chan struct{}
	mu      sync.Mutex
	kinds   []schema.GroupVersionResource
	started map[schema.GroupVersionResource]cache.GenericLister
	checked time.Time
}

// Recheck: how often kinds that were not served are looked up again.
const Recheck = 10 * time.Second

// NewDynamic watches the given kinds (those served now; the others from when they are).
func NewDynamic(ctx context.Context, disc discovery.DiscoveryInterface, dyn dynamic.Interface, k Kicks, kinds ...schema.GroupVersionResource) *Dynamic {
	d := &Dynamic{disc: disc, factory: dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0), kicks: k,
		stop: ctx.Done(), kinds: kinds, started: map[schema.GroupVersionResource]cache.GenericLister{}}
	d.refresh(true)
	return d
}

// refresh starts informers for kinds that are now served (forced, or Recheck after the last look).
func (d *Dynamic) refresh(force bool) {
	if len(d.started) == len(d.kinds) || (!force && time.Since(d.checked) < Recheck) {
		return
	}
	d.checked = time.Now()
	var added []cache.InformerSynced
	for _, gvr := range d.kinds {
		if _, ok := d.started[gvr]; ok || !served(d.disc, gvr) {
			continue
		}
		inf := d.factory.ForResource(gvr)
		_, _ = inf.Informer().AddEventHandler(d.kicks.Handler())
		d.started[gvr] = inf.Lister()
		added = append(added, inf.Informer().HasSynced)
	}
	if len(added) > 0 {
		d.factory.Start(d.stop)
		cache.WaitForCacheSync(d.stop, added...)
	}
}

func served(disc discovery.DiscoveryInterface, gvr schema.GroupVersionResource) bool {
	list, err := disc.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if err != nil {
		return false
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			return true
		}
	}
	return false
}

// List: the cached objects of one kind (none while it is not served).
func (d *Dynamic) List(gvr schema.GroupVersionResource) []unstructured.Unstructured {
	d.mu.Lock()
	d.refresh(false)
	l := d.started[gvr]
	d.mu.Unlock()
	if l == nil {
		return nil
	}
	objs, err := l.List(labels.Everything())
	if err != nil {
		return nil
	}
	out := make([]unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, *u)
		}
	}
	return out
}

// Values copies a lister's pointers into the value slice the harness's functions take (a shallow
// copy: callers read, never write, what the cache holds).
func Values[T any](ptrs []*T) []T {
	out := make([]T, 0, len(ptrs))
	for _, p := range ptrs {
		out = append(out, *p)
	}
	return out
}
