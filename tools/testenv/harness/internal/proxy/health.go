package proxy

import (
	"kafka-advertiser/testenv/harness/internal/endpoints"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Health plays a cloud load balancer's health checks of the nodes behind an externalTrafficPolicy:
// Local Service (the health-check node port answers 200 only on a node with a ready endpoint of the
// Service). A node takes traffic once its check has passed for Healthy (the check's interval times
// its healthy threshold), and keeps taking it until the check has failed for Unhealthy, whether or not
// it still has an endpoint: the connections the load balancer sends to a node without one fail.
// Cloud defaults: GKE checks every 8 s, healthy after 1 pass, unhealthy after 3 fails; AWS NLB target
// groups every 10-30 s, 3-5 passes; Azure every 5 s.
type Health struct {
	Healthy, Unhealthy time.Duration
	nodes              map[string]*nodeHealth // "namespace/service node"
	down               map[string]bool        // nodes that lost power: nothing answers there
}

// Down: the nodes that lost power from now on (a runner's pass sets it before Routes). Their
// health checks fail at once, whatever the API server still says of their endpoints, and their
// node ports answer nothing.
func (h *Health) Down(nodes map[string]bool) {
	if h != nil {
		h.down = nodes
	}
}

type nodeHealth struct {
	serving bool
	// since: when the check's current streak (passing or failing) began.
	since time.Time
	up    bool
}

// NewHealth: every node starts out of rotation (a new load balancer's targets start unhealthy).
func NewHealth(healthy, unhealthy time.Duration) *Health {
	return &Health{Healthy: healthy, Unhealthy: unhealthy, nodes: map[string]*nodeHealth{}}
}

// serving: whether the load balancer sends to `node` for Service `owner` at `now`, given whether the
// node's check passes now (`up`). `seen` collects the keys of this pass (the others are forgotten).
func (h *Health) serving(owner, node string, up bool, now time.Time, seen map[string]bool) bool {
	key := owner + " " + node
	seen[key] = true
	n, ok := h.nodes[key]
	if !ok {
		n = &nodeHealth{since: now, up: up}
		h.nodes[key] = n
	}
	if n.up != up {
		n.up, n.since = up, now
	}
	switch {
	case up && !n.serving && now.Sub(n.since) >= h.Healthy:
		n.serving = true
	case !up && n.serving && now.Sub(n.since) >= h.Unhealthy:
		n.serving = false
	}
	return n.serving
}

// forget drops the nodes of Services and nodes not looked at in the last pass.
func (h *Health) forget(seen map[string]bool) {
	for k := range h.nodes {
		if !seen[k] {
			delete(h.nodes, k)
		}
	}
}

// noEndpoint stands for a node the load balancer sends to that has no ready endpoint of the Service:
// the connection fails there (kube-proxy drops it).
const noEndpoint = "(node without a ready endpoint)"

// localBackends: what a Local Service's load balancer sends to: per node in rotation, its ready
// endpoints, or noEndpoint.
func (h *Health) localBackends(owner string, sp corev1.ServicePort, eps []endpoints.Endpoint, nodes map[string]string,
	now time.Time, seen map[string]bool) []string {
	names := make([]string, 0, len(nodes))
	for node := range nodes {
		names = append(names, node)
	}
	sort.Strings(names)
	var out []string
	for _, node := range names {
		local := backendsOf(sp, eps, node)
		if !h.serving(owner, node, len(local) > 0 && !h.down[node], now, seen) {
			continue
		}
		if len(local) == 0 {
			local = []string{noEndpoint}
		}
		out = append(out, local...)
	}
	return out
}
