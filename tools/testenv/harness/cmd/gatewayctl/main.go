package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"k8s.io/apimachinery/pkg/runtime"
	"kafka-advertiser/testenv/harness/internal/gatewayapi"
	"log"
	"os"
	"os/signal"
	"reflect"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"kafka-advertiser/testenv/harness/internal/watch"
)

var (
	gateways     = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
	listenerSets = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "listenersets"}
	namespaces   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the test control plane")
	gap := flag.Duration("gap", 100*time.Millisecond, "least time between two passes over the watched objects")
	every := flag.Duration("every", time.Second, "a pass at least this often (passes also follow every change; a listener's programming delay ends without one)")
	delay := flag.Duration("program-delay", 2*time.Second, "time from a listener's Accepted to its Programmed (the data plane taking the configuration)")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		log.Fatalf("client: %v", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		log.Fatalf("client: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Printf("playing the Gateway controller for ListenerSets of Gateways given an address by `scripts/testenv.sh gateway`")
	// Watched, not polled: a pass follows each change of a Gateway, ListenerSet or Namespace.
	kicks := watch.NewKicks()
	w := watch.NewDynamic(ctx, disc, client, kicks, gateways, listenerSets, namespaces)
	watch.Loop(ctx, kicks, *gap, *every, func() { once(ctx, client, w.List, *delay) })
}

// played: a Gateway whose status `scripts/testenv.sh gateway` wrote (Programmed, message testenv).
func played(gw *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(gw.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Programmed" && m["status"] == "True" && m["message"] == "testenv" {
			return true
		}
	}
	return false
}

// once: one pass over the watched Gateways, ListenerSets and Namespaces; writes what changed.
func once(ctx context.Context, client dynamic.Interface, list func(schema.GroupVersionResource) []unstructured.Unstructured, delay time.Duration) {
	gws, sets := list(gateways), list(listenerSets)
	labels := map[string]map[string]string{}
	for _, ns := range list(namespaces) {
		labels[ns.GetName()] = ns.GetLabels()
	}
	for i := range gws {
		gw := &gws[i]
		if !played(gw) {
			continue
		}
		var mine []*unstructured.Unstructured
		for j := range sets {
			if gatewayapi.Parent(&sets[j]) == gw.GetNamespace()+"/"+gw.GetName() {
				mine = append(mine, &sets[j])
			}
		}
		res := Resolve(gatewayOf(gw), listenerSetsOf(mine), labels)
		for _, ls := range mine {
			writeSet(ctx, client, ls, res.Sets[ls.GetNamespace()+"/"+ls.GetName()], delay)
		}
		writeAttached(ctx, client, gw, res.Attached)
	}
}

func gatewayOf(gw *unstructured.Unstructured) Gateway {
	g := Gateway{Namespace: gw.GetNamespace(), Name: gw.GetName(), Listeners: gatewayapi.Listeners(gw.Object)}
	g.From, _, _ = unstructured.NestedString(gw.Object, "spec", "allowedListeners", "namespaces", "from")
	if sel, ok, _ := unstructured.NestedMap(gw.Object, "spec", "allowedListeners", "namespaces", "selector"); ok {
		var s metav1.LabelSelector
		// A selector that does not read as one selects nothing (Selector stays nil).
		if runtime.DefaultUnstructuredConverter.FromUnstructured(sel, &s) == nil {
			g.Selector = &s
		}
	}
	return g
}

func listenerSetsOf(items []*unstructured.Unstructured) []ListenerSet {
	var out []ListenerSet
	for _, ls := range items {
		out = append(out, ListenerSet{Namespace: ls.GetNamespace(), Name: ls.GetName(),
			Created: ls.GetCreationTimestamp().Time, Listeners: gatewayapi.Listeners(ls.Object)})
	}
	return out
}

// conditions as the API stores them; an unchanged condition keeps its lastTransitionTime.
func conditions(cs []Condition, gen int64, old []any) []any {
	now := time.Now().UTC().Format(time.RFC3339)
	var out []any
	for _, c := range cs {
		ts := now
		for _, o := range old {
			m, _ := o.(map[string]any)
			if m["type"] == c.Type && m["status"] == c.Status {
				if t, ok := m["lastTransitionTime"].(string); ok {
					ts = t
				}
			}
		}
		out = append(out, map[string]any{"type": c.Type, "status": c.Status, "reason": c.Reason,
			"message": c.Message, "observedGeneration": gen, "lastTransitionTime": ts})
	}
	return out
}

func writeSet(ctx context.Context, client dynamic.Interface, ls *unstructured.Unstructured, st SetStatus, delay time.Duration) {
	gen := ls.GetGeneration()
	oldConds, _, _ := unstructured.NestedSlice(ls.Object, "status", "conditions")
	oldListeners, _, _ := unstructured.NestedSlice(ls.Object, "status", "listeners")
	st = Program(st, acceptedSince(oldListeners), time.Now(), delay)
	var listeners []any
	for _, l := range st.Listeners {
		var prev []any
		for _, o := range oldListeners {
			if m, _ := o.(map[string]any); m["name"] == l.Name {
				prev, _ = m["conditions"].([]any)
			}
		}
		listeners = append(listeners, map[string]any{"name": l.Name, "attachedRoutes": int64(0),
			"supportedKinds": []any{map[string]any{"group": "gateway.networking.k8s.io", "kind": "TCPRoute"}},
			"conditions":     conditions(l.Conditions, gen, prev)})
	}
	status := map[string]any{"conditions": conditions(st.Conditions, gen, oldConds), "listeners": listeners}
	if listeners == nil {
		status["listeners"] = []any{}
	}
	if same(ls.Object["status"], status) {
		return
	}
	patch(ctx, client, listenerSets, ls.GetNamespace(), ls.GetName(), map[string]any{"status": status})
}

func writeAttached(ctx context.Context, client dynamic.Interface, gw *unstructured.Unstructured, n int) {
	cur, found, _ := unstructured.NestedInt64(gw.Object, "status", "attachedListenerSets")
	if found && cur == int64(n) {
		return
	}
	patch(ctx, client, gateways, gw.GetNamespace(), gw.GetName(), map[string]any{"status": map[string]any{"attachedListenerSets": n}})
}

// acceptedSince: when each listener's Accepted=True began, from the status as last written.
func acceptedSince(listeners []any) map[string]time.Time {
	out := map[string]time.Time{}
	for _, o := range listeners {
		m, _ := o.(map[string]any)
		conds, _ := m["conditions"].([]any)
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] != "Accepted" || cm["status"] != "True" {
				continue
			}
			if t, err := time.Parse(time.RFC3339, fmt.Sprint(cm["lastTransitionTime"])); err == nil {
				out[fmt.Sprint(m["name"])] = t
			}
		}
	}
	return out
}

// same: equal once round-tripped through JSON (int64 and float64 alike).
func same(a, b any) bool {
	var x, y any
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	_ = json.Unmarshal(ra, &x)
	_ = json.Unmarshal(rb, &y)
	return reflect.DeepEqual(x, y)
}

func patch(ctx context.Context, client dynamic.Interface, gvr schema.GroupVersionResource, ns, name string, body map[string]any) {
	raw, _ := json.Marshal(body)
	_, err := client.Resource(gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType, raw, metav1.PatchOptions{}, "status")
	if err != nil {
		log.Printf("%s %s/%s: status: %v", gvr.Resource, ns, name, err)
		return
	}
	log.Printf("%s %s/%s: status %s", gvr.Resource, ns, name, raw)
}
