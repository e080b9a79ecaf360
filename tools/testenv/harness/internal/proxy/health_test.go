package proxy

import (
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A Local Service's load balancer sends to a node only after its health check has passed for the
// healthy delay, and keeps sending to a node that lost its endpoint until the check has failed for
// the unhealthy delay (those connections fail): a broker that moves nodes is unreachable for a while,
// as behind a cloud load balancer. Without health checks (nil) every ready endpoint is reached.
func TestALocalServicesLoadBalancerFollowsItsHealthChecks(t *testing.T) {
	svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kafka-0-external", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector: map[string]string{"statefulset.kubernetes.io/pod-name": "kafka-0"},
			Ports:    []corev1.ServicePort{{Name: "external", Port: 9094, TargetPort: intstr.FromString("external")}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "127.0.2.10"}}}}}
	on := func(node, ip string) []corev1.Pod {
		p := brokerPod("kafka-0", ip, true)
		p.Spec.NodeName = node
		return []corev1.Pod{p}
	}
	nodes := map[string]string{"node-a": "127.0.1.1", "node-b": "127.0.1.2"}
	h := NewHealth(10*time.Second, 20*time.Second)
	t0 := time.Unix(1_000_000, 0)
	at := func(pods []corev1.Pod, after time.Duration) Route {
		return Routes([]corev1.Service{svc}, pods, nodes, h, t0.Add(after))["127.0.2.10:9094"]
	}
	steps := []struct {
		pods  []corev1.Pod
		after time.Duration
		want  []string
	}{
		{on("node-a", "127.0.64.1"), 0, nil},                                        // a new load balancer: no node in rotation
		{on("node-a", "127.0.64.1"), 9 * time.Second, nil},                          // not yet
		{on("node-a", "127.0.64.1"), 10 * time.Second, []string{"127.0.64.1:9094"}}, // passed for 10 s
		{on("node-b", "127.0.64.2"), 30 * time.Second, []string{noEndpoint}},        // moved: node-a still in rotation
		{on("node-b", "127.0.64.2"), 40 * time.Second, []string{noEndpoint, "127.0.64.2:9094"}},
		{on("node-b", "127.0.64.2"), 50 * time.Second, []string{"127.0.64.2:9094"}}, // node-a failed for 20 s
	}
	for i, s := range steps {
		rt := at(s.pods, s.after)
		if !reflect.DeepEqual(rt.backends, s.want) || !rt.once {
			t.Fatalf("step %d (+%v): backends %v once %v, want %v once", i, s.after, rt.backends, rt.once, s.want)
		}
	}
	// A pod restarted in place, back before the check failed for 20 s: never out of rotation.
	if rt := at(nil, 55*time.Second); !reflect.DeepEqual(rt.backends, []string{noEndpoint}) {
		t.Fatalf("restarting: %v", rt.backends)
	}
	if rt := at(on("node-b", "127.0.64.3"), 60*time.Second); !reflect.DeepEqual(rt.backends, []string{"127.0.64.3:9094"}) {
		t.Fatalf("back in place: %v", rt.backends)
	}
	// The Service gone: its nodes are forgotten.
	Routes(nil, nil, nodes, h, t0.Add(61*time.Second))
	if len(h.nodes) != 0 {
		t.Fatalf("kept %v", h.nodes)
	}
	// Without health checks, or with externalTrafficPolicy Cluster: every ready endpoint at once.
	if rt := Routes([]corev1.Service{svc}, on("node-a", "127.0.64.1"), nodes, nil, t0)["127.0.2.10:9094"]; rt.once ||
		!reflect.DeepEqual(rt.backends, []string{"127.0.64.1:9094"}) {
		t.Fatalf("no health checks: %+v", rt)
	}
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	if rt := Routes([]corev1.Service{svc}, on("node-a", "127.0.64.1"), nodes, h, t0)["127.0.2.10:9094"]; rt.once ||
		!reflect.DeepEqual(rt.backends, []string{"127.0.64.1:9094"}) {
		t.Fatalf("Cluster: %+v", rt)
	}
}

// A connection the load balancer sends to a node without a ready endpoint fails: closed, nothing relayed.
func TestAConnectionToANodeWithoutAnEndpointFails(t *testing.T) {
	px := New()
	defer px.Apply(nil)
	addr := freeAddr(t)
	px.Apply(map[string]Route{addr: {owner: "ns/lb", backends: []string{noEndpoint}, once: true}})
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("read %d, %v: want the connection closed", n, err)
	}
}

func freeAddr(t *testing.T) string {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer free.Close()
	return free.Addr().String()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A node that lost power: its health check fails at once, though the API server still lists its
// endpoint as ready (until the node lifecycle controller marks the pod), so the load balancer drops
// it after the unhealthy delay; its node port answers nothing from the start. Back, it rejoins after
// the healthy delay.
func TestALostNodeFailsItsHealthCheckAtOnceAndItsNodePortsGo(t *testing.T) {
	svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kafka-0-external", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector: map[string]string{"statefulset.kubernetes.io/pod-name": "kafka-0"},
			Ports:    []corev1.ServicePort{{Name: "external", Port: 9094, NodePort: 31094, TargetPort: intstr.FromString("external")}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "127.0.2.10"}}}}}
	p := brokerPod("kafka-0", "127.0.64.1", true)
	p.Spec.NodeName = "node-a"
	pods := []corev1.Pod{p}
	nodes := map[string]string{"node-a": "127.0.1.1", "node-b": "127.0.1.2"}
	h := NewHealth(10*time.Second, 20*time.Second)
	t0 := time.Unix(1_000_000, 0)
	at := func(after time.Duration) map[string]Route {
		return Routes([]corev1.Service{svc}, pods, nodes, h, t0.Add(after))
	}
	at(0)
	if rt := at(10 * time.Second)["127.0.2.10:9094"]; !reflect.DeepEqual(rt.backends, []string{"127.0.64.1:9094"}) {
		t.Fatalf("in rotation: %v", rt.backends)
	}
	h.Down(map[string]bool{"node-a": true})
	routes := at(11 * time.Second)
	if rt := routes["127.0.2.10:9094"]; !reflect.DeepEqual(rt.backends, []string{"127.0.64.1:9094"}) {
		t.Fatalf("still in rotation until the check has failed for 20 s: %v", rt.backends)
	}
	if _, ok := routes["127.0.1.1:31094"]; ok {
		t.Fatal("the lost node's node port still relays")
	}
	if _, ok := routes["127.0.1.2:31094"]; !ok {
		t.Fatal("the other node's node port went too")
	}
	if rt := at(31 * time.Second)["127.0.2.10:9094"]; len(rt.backends) != 0 {
		t.Fatalf("failed for 20 s, yet in rotation: %v", rt.backends)
	}
	h.Down(nil)
	if rt := at(40 * time.Second)["127.0.2.10:9094"]; len(rt.backends) != 0 {
		t.Fatalf("back, but not yet healthy for 10 s: %v", rt.backends)
	}
	if rt := at(50 * time.Second)["127.0.2.10:9094"]; !reflect.DeepEqual(rt.backends, []string{"127.0.64.1:9094"}) {
		t.Fatalf("back in rotation: %v", rt.backends)
	}
}
