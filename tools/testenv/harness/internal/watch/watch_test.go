package watch

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
)

func TestKicksCoalesceAndPassesKeepTheirGap(t *testing.T) {
	k := NewKicks()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var passes atomic.Int32
	var last atomic.Int64
	var tooClose atomic.Bool
	go Loop(ctx, k, 50*time.Millisecond, time.Hour, func() {
		now := time.Now().UnixNano()
		if prev := last.Swap(now); prev != 0 && time.Duration(now-prev) < 50*time.Millisecond {
			tooClose.Store(true)
		}
		passes.Add(1)
	})
	waitFor(t, func() bool { return passes.Load() == 1 }) // the first pass needs no kick
	for range 100 {
		k.Kick() // never blocks, however many
	}
	waitFor(t, func() bool { return passes.Load() == 2 })
	time.Sleep(200 * time.Millisecond)
	if n := passes.Load(); n != 2 {
		t.Fatalf("100 kicks before a pass made %d passes after the first, want 1", n-1)
	}
	if tooClose.Load() {
		t.Fatal("two passes closer than the gap")
	}
}

func TestWithoutKicksAPassComesEveryPeriod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var passes atomic.Int32
	go Loop(ctx, NewKicks(), time.Millisecond, 30*time.Millisecond, func() { passes.Add(1) })
	waitFor(t, func() bool { return passes.Load() >= 3 })
}

func TestDynamicWatchesServedKindsAndListsOthersEmpty(t *testing.T) {
	gws := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
	routes := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1alpha2", Resource: "tcproutes"}
	scheme := runtime.NewScheme()
	dyn := fakedynamic.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		gws: "GatewayList", routes: "TCPRouteList"})
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	disc.Resources = []*metav1.APIResourceList{{GroupVersion: "gateway.networking.k8s.io/v1",
		APIResources: []metav1.APIResource{{Name: "gateways", Namespaced: true, Kind: "Gateway"}}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := NewKicks()
	d := NewDynamic(ctx, disc, dyn, k, gws, routes)
	if got := d.List(routes); len(got) != 0 {
		t.Fatalf("a kind that is not served listed %d objects", len(got))
	}
	gw := &unstructured.Unstructured{}
	gw.SetAPIVersion("gateway.networking.k8s.io/v1")
	gw.SetKind("Gateway")
	gw.SetNamespace("infra")
	gw.SetName("gw")
	if _, err := dyn.Resource(gws).Namespace("infra").Create(ctx, gw, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k:
	case <-time.After(5 * time.Second):
		t.Fatal("a created Gateway did not kick")
	}
	waitFor(t, func() bool { l := d.List(gws); return len(l) == 1 && l[0].GetName() == "gw" })
	// The route kind becomes served: it is watched from the next look (Recheck later).
	disc.Resources = append(disc.Resources, &metav1.APIResourceList{GroupVersion: "gateway.networking.k8s.io/v1alpha2",
		APIResources: []metav1.APIResource{{Name: "tcproutes", Namespaced: true, Kind: "TCPRoute"}}})
	d.mu.Lock()
	d.checked = time.Now().Add(-Recheck)
	d.mu.Unlock()
	if got := d.List(routes); got == nil {
		t.Fatal("a kind served since the last look is still not watched")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
