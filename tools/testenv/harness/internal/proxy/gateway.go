package proxy

import (
	"fmt"
	"kafka-advertiser/testenv/harness/internal/endpoints"
	"kafka-advertiser/testenv/harness/internal/gatewayapi"
	"net"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The Gateway data plane, played by the spec (Gateway API v1.6): each loopback address in a Gateway's
// status.addresses accepts on the port of each of its listeners and of each listener of the
// ListenerSets attached to it (GEP-1713; only listeners the Gateway's controller accepted and programmed, which
// gatewayctl decides); a TCP listener relays to the backend of the TCPRoute attached to it, a TLS
// passthrough listener to the backend of the TLSRoute whose hostname matches the client's SNI.
var (
	gwGroup      = "gateway.networking.k8s.io"
	gatewaysGVR  = schema.GroupVersionResource{Group: gwGroup, Version: "v1", Resource: "gateways"}
	listenerSets = schema.GroupVersionResource{Group: gwGroup, Version: "v1", Resource: "listenersets"}
	tcpRoutes    = schema.GroupVersionResource{Group: gwGroup, Version: "v1", Resource: "tcproutes"}
	tlsRoutes    = schema.GroupVersionResource{Group: gwGroup, Version: "v1", Resource: "tlsroutes"}
)

// parent: what a route's parentRef names (kind, namespace, name, sectionName).
type parent struct{ kind, ns, name, section string }

type gwListener struct {
	parent   parent
	addrs    []string
	port     int64
	protocol string
}

// GatewayKinds: the kinds the Gateway data plane reads.
var GatewayKinds = []schema.GroupVersionResource{gatewaysGVR, listenerSets, tcpRoutes, tlsRoutes}

// Lister gives the objects of one kind (none when the kind is not served).
type Lister func(schema.GroupVersionResource) []unstructured.Unstructured

// gatewayListeners: every listener that answers on a loopback Gateway address.
func gatewayListeners(gws, sets []unstructured.Unstructured) []gwListener {
	var out []gwListener
	addrs := map[string][]string{} // ns/name -> loopback addresses
	for _, gw := range gws {
		st, _, _ := unstructured.NestedSlice(gw.Object, "status", "addresses")
		for _, a := range st {
			v, _ := a.(map[string]any)["value"].(string)
			if ip := net.ParseIP(v); ip != nil && ip.IsLoopback() {
				addrs[gw.GetNamespace()+"/"+gw.GetName()] = append(addrs[gw.GetNamespace()+"/"+gw.GetName()], v)
			}
		}
		out = append(out, listenersOf(gw.Object, parent{"Gateway", gw.GetNamespace(), gw.GetName(), ""}, addrs[gw.GetNamespace()+"/"+gw.GetName()], nil)...)
	}
	for _, s := range sets {
		out = append(out, listenersOf(s.Object, parent{"ListenerSet", s.GetNamespace(), s.GetName(), ""}, addrs[gatewayapi.Parent(&s)], gatewayapi.Programmed(s.Object))...)
	}
	return out
}

// listenersOf: the TCP and TLS listeners of a Gateway or ListenerSet (`only`: those accepted and programmed) on `addrs`.
func listenersOf(obj map[string]any, p parent, addrs []string, only map[string]bool) []gwListener {
	if len(addrs) == 0 {
		return nil
	}
	var out []gwListener
	for _, l := range gatewayapi.Listeners(obj) {
		if only != nil && !only[l.Name] || (l.Protocol != "TCP" && l.Protocol != "TLS") {
			continue
		}
		lp := p
		lp.section = l.Name
		out = append(out, gwListener{parent: lp, addrs: addrs, port: l.Port, protocol: l.Protocol})
	}
	return out
}

// gatewayRoutes: "ip:port" -> route, for TCP and TLS-passthrough listeners with attached routes.
func gatewayRoutes(listeners []gwListener, tcp, tls []unstructured.Unstructured, svcs []corev1.Service, pods []corev1.Pod) map[string]Route {
	out := map[string]Route{}
	for _, l := range listeners {
		rs := tcp
		if l.protocol == "TLS" {
			rs = tls
		}
		rt := Route{owner: fmt.Sprintf("%s %s/%s %s", l.parent.kind, l.parent.ns, l.parent.name, l.parent.section)}
		if l.protocol == "TLS" {
			rt.sni = map[string][]string{}
		}
		for _, r := range rs {
			if !attached(r, l.parent) {
				continue
			}
			bs := routeBackends(r, svcs, pods)
			if rt.sni == nil {
				rt.backends = append(rt.backends, bs...)
				continue
			}
			hosts, _, _ := unstructured.NestedStringSlice(r.Object, "spec", "hostnames")
			for _, h := range hosts {
				rt.sni[h] = append(rt.sni[h], bs...)
			}
		}
		for _, a := range l.addrs {
			out[net.JoinHostPort(a, fmt.Sprint(l.port))] = rt
		}
	}
	return out
}

func attached(r unstructured.Unstructured, p parent) bool {
	refs, _, _ := unstructured.NestedSlice(r.Object, "spec", "parentRefs")
	for _, x := range refs {
		m, _ := x.(map[string]any)
		kind, _ := m["kind"].(string)
		if kind == "" {
			kind = "Gateway"
		}
		ns, _ := m["namespace"].(string)
		if ns == "" {
			ns = r.GetNamespace()
		}
		section, _ := m["sectionName"].(string)
		if kind == p.kind && ns == p.ns && m["name"] == p.name && (section == "" || section == p.section) {
			return true
		}
	}
	return false
}

// routeBackends: the first rule's backends (Services), as their ready endpoints' target ports.
func routeBackends(r unstructured.Unstructured, svcs []corev1.Service, pods []corev1.Pod) []string {
	rules, _, _ := unstructured.NestedSlice(r.Object, "spec", "rules")
	if len(rules) == 0 {
		return nil
	}
	refs, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "backendRefs")
	var out []string
	for _, x := range refs {
		m, _ := x.(map[string]any)
		ns, _ := m["namespace"].(string)
		if ns == "" {
			ns = r.GetNamespace()
		}
		port, _ := m["port"].(int64)
		for i := range svcs {
			svc := &svcs[i]
			if svc.Namespace != ns || svc.Name != m["name"] {
				continue
			}
			for _, sp := range svc.Spec.Ports {
				if int64(sp.Port) == port {
					out = append(out, backendsOf(sp, endpoints.Of(svc, pods), "")...)
				}
			}
		}
	}
	return out
}

// GatewayRoutes: every listener of a Gateway with a loopback address (and of the ListenerSets
// attached to it) and the backends of the routes attached to it, by "ip:port".
func GatewayRoutes(list Lister, svcs []corev1.Service, pods []corev1.Pod) map[string]Route {
	ls := gatewayListeners(list(gatewaysGVR), list(listenerSets))
	if len(ls) == 0 {
		return nil
	}
	return gatewayRoutes(ls, list(tcpRoutes), list(tlsRoutes), svcs, pods)
}
