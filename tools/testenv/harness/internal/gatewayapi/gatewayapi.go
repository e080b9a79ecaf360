// Package gatewayapi reads the Gateway API objects the harness plays a controller and a data plane
// for (Gateway API v1.6, GEP-1713): a Gateway's or ListenerSet's listeners, the Gateway a
// ListenerSet names as its parent, and which of its listeners the Gateway's controller accepted.
// gatewayctl (the controller's part) and the pod runner (the data plane) read them alike.
package gatewayapi

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Listener is one entry of spec.listeners: what conflicts are judged on and what the data plane serves.
type Listener struct {
	Name     string
	Port     int64
	Protocol string
	Hostname string
}

// Listeners: an object's spec.listeners, in order.
func Listeners(obj map[string]any) []Listener {
	raw, _, _ := unstructured.NestedSlice(obj, "spec", "listeners")
	var out []Listener
	for _, r := range raw {
		m, _ := r.(map[string]any)
		port, _ := m["port"].(int64)
		name, _ := m["name"].(string)
		proto, _ := m["protocol"].(string)
		host, _ := m["hostname"].(string)
		out = append(out, Listener{Name: name, Port: port, Protocol: proto, Hostname: host})
	}
	return out
}

// Parent: the `namespace/name` of the Gateway a ListenerSet's spec.parentRef names (its own
// namespace when the ref gives none); "" when the parent is not a Gateway.
func Parent(ls *unstructured.Unstructured) string {
	p, _, _ := unstructured.NestedMap(ls.Object, "spec", "parentRef")
	if kind, ok := p["kind"].(string); ok && kind != "Gateway" {
		return ""
	}
	ns, _ := p["namespace"].(string)
	if ns == "" {
		ns = ls.GetNamespace()
	}
	name, _ := p["name"].(string)
	return ns + "/" + name
}

// Programmed: the names of a ListenerSet's listeners whose status says Accepted=True and
// Programmed=True (the Gateway's data plane serves only those).
func Programmed(ls map[string]any) map[string]bool {
	out := map[string]bool{}
	st, _, _ := unstructured.NestedSlice(ls, "status", "listeners")
	for _, l := range st {
		m, _ := l.(map[string]any)
		conds, _ := m["conditions"].([]any)
		accepted, programmed := false, false
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			accepted = accepted || (cm["type"] == "Accepted" && cm["status"] == "True")
			programmed = programmed || (cm["type"] == "Programmed" && cm["status"] == "True")
		}
		if accepted && programmed {
			out[fmt.Sprint(m["name"])] = true
		}
	}
	return out
}
