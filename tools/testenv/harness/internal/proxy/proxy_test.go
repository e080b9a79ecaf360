package proxy

import (
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kafka-advertiser/testenv/harness/internal/dns"
)

func brokerPod(name, ip string, ready bool) corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "kafka", "statefulset.kubernetes.io/pod-name": name}},
		Spec: corev1.PodSpec{Hostname: name, Subdomain: "kafka-hs", Containers: []corev1.Container{{Name: "kafka",
			Ports: []corev1.ContainerPort{{Name: "external", ContainerPort: 9094}}}}},
		Status: corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func obj(kind, ns, name string, fields map[string]any) unstructured.Unstructured {
	o := map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns}}
	for k, v := range fields {
		o[k] = v
	}
	return unstructured.Unstructured{Object: o}
}

func TestServicesReachReadyLoopbackEndpoints(t *testing.T) {
	pods := []corev1.Pod{brokerPod("kafka-0", "127.0.64.1", true), brokerPod("kafka-1", "127.0.64.2", false), brokerPod("kafka-2", "10.244.0.3", true)}
	lb := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kafka-bootstrap", Namespace: "ns"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "kafka"},
			Ports: []corev1.ServicePort{{Name: "external", Port: 19094, TargetPort: intstr.FromString("external")}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "127.0.2.10"}, {IP: "203.0.113.1"}}}}}
	hs := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kafka-hs", Namespace: "ns"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true, Selector: map[string]string{"app": "kafka"}}}
	lb.Spec.Ports[0].NodePort = 31094
	lb.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	pods[0].Spec.NodeName = "node-a"
	got := Routes([]corev1.Service{lb, hs}, pods, map[string]string{"node-a": "127.0.1.1", "node-b": "127.0.1.2"}, nil, time.Now())
	// Only the loopback ingress; only the ready pod; kwok's fake pod IPs never; with
	// externalTrafficPolicy Local, a node port reaches only that node's endpoints.
	own := "ns/kafka-bootstrap"
	want := map[string]Route{
		"127.0.2.10:19094": {owner: own, backends: []string{"127.0.64.1:9094"}},
		"127.0.1.1:31094":  {owner: own, backends: []string{"127.0.64.1:9094"}},
		"127.0.1.2:31094":  {owner: own},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes = %v, want %v", got, want)
	}
	hosts := dns.Lines([]corev1.Service{lb, hs}, pods)
	if len(hosts) != 2 || !strings.HasPrefix(hosts[1], "127.0.64.2 kafka-1.kafka-hs.ns.svc.cluster.local ") {
		t.Fatalf("a headless Service publishing not-ready addresses names both loopback pods: %v", hosts)
	}
}

func TestGatewayDataPlaneFollowsListenersAndRoutes(t *testing.T) {
	gw := obj("Gateway", "infra", "edge", map[string]any{
		"spec": map[string]any{"listeners": []any{
			map[string]any{"name": "sni", "port": int64(9443), "protocol": "TLS"},
			map[string]any{"name": "web", "port": int64(443), "protocol": "HTTPS"},
		}},
		"status": map[string]any{"addresses": []any{map[string]any{"type": "IPAddress", "value": "127.0.2.99"}, map[string]any{"value": "203.0.113.5"}}},
	})
	ls := obj("ListenerSet", "ns", "kafka-external", map[string]any{
		"spec": map[string]any{"parentRef": map[string]any{"name": "edge", "namespace": "infra"}, "listeners": []any{
			map[string]any{"name": "kafka-0", "port": int64(19092), "protocol": "TCP"},
			map[string]any{"name": "kafka-1", "port": int64(443), "protocol": "TCP"},
		}},
		"status": map[string]any{"listeners": []any{
			map[string]any{"name": "kafka-0", "conditions": []any{map[string]any{"type": "Accepted", "status": "True"},
				map[string]any{"type": "Programmed", "status": "True"}}},
			map[string]any{"name": "kafka-1", "conditions": []any{map[string]any{"type": "Accepted", "status": "False"}}},
		}},
	})
	tcp := obj("TCPRoute", "ns", "kafka-0-external", map[string]any{"spec": map[string]any{
		"parentRefs": []any{map[string]any{"kind": "ListenerSet", "name": "kafka-external", "sectionName": "kafka-0"}},
		"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": "kafka-0-external", "port": int64(19092)}}}},
	}})
	tlsr := obj("TLSRoute", "ns", "kafka-1-external", map[string]any{"spec": map[string]any{
		"parentRefs": []any{map[string]any{"name": "edge", "namespace": "infra", "sectionName": "sni"}},
		"hostnames":  []any{"b1.example.test"},
		"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": "kafka-1-external", "port": int64(9094)}}}},
	}})
	svc := func(name, pod string, port int32) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"statefulset.kubernetes.io/pod-name": pod},
			Ports:    []corev1.ServicePort{{Port: port, TargetPort: intstr.FromString("external")}}}}
	}
	pods := []corev1.Pod{brokerPod("kafka-0", "127.0.64.1", true), brokerPod("kafka-1", "127.0.64.2", true)}
	svcs := []corev1.Service{svc("kafka-0-external", "kafka-0", 19092), svc("kafka-1-external", "kafka-1", 9094)}
	got := gatewayRoutes(gatewayListeners([]unstructured.Unstructured{gw}, []unstructured.Unstructured{ls}),
		[]unstructured.Unstructured{tcp}, []unstructured.Unstructured{tlsr}, svcs, pods)
	want := map[string]Route{
		// The Gateway's own TLS listener, by SNI; its HTTPS listener and the refused listener are not served.
		"127.0.2.99:9443":  {owner: "Gateway infra/edge sni", sni: map[string][]string{"b1.example.test": {"127.0.64.2:9094"}}},
		"127.0.2.99:19092": {owner: "ListenerSet ns/kafka-external kafka-0", backends: []string{"127.0.64.1:9094"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("gateway routes = %#v\nwant %#v", got, want)
	}
	if bs := matchSNI(map[string][]string{"*.example.test": {"a"}, "b1.example.test": {"b"}}, "b2.example.test"); !reflect.DeepEqual(bs, []string{"a"}) {
		t.Fatalf("wildcard hostname: %v", bs)
	}
}

func TestClusterIPsRelayToEndpointsAndTheAPIServer(t *testing.T) {
	web := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ka", Namespace: "ops"}, Spec: corev1.ServiceSpec{
		ClusterIP: "127.0.128.20", Selector: map[string]string{"app": "ka"},
		Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromString("webhook")}}}}
	kube := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{
		ClusterIP: "127.0.128.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(36443)}}}}
	fake := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ops"}, Spec: corev1.ServiceSpec{
		ClusterIP: "10.96.0.5", Ports: []corev1.ServicePort{{Port: 80}}}}
	pod := func(name, ip string, ready bool) corev1.Pod {
		s := corev1.ConditionFalse
		if ready {
			s = corev1.ConditionTrue
		}
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ops", Labels: map[string]string{"app": "ka"}},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "webhook", ContainerPort: 8443}}}}},
			Status: corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: s}}}}
	}
	svcs := []corev1.Service{web, kube, fake}
	got := ClusterIPRoutes(svcs, []corev1.Pod{pod("a", "127.0.64.1", true), pod("b", "127.0.64.2", false)}, "127.0.0.1:36443")
	if len(got) != 2 {
		t.Fatalf("routes: %v", got)
	}
	if b := got["127.0.128.20:443"].backends; !reflect.DeepEqual(b, []string{"127.0.64.1:8443"}) {
		t.Errorf("webhook Service: %v (only the ready pod, on the named target port)", b)
	}
	if b := got["127.0.128.1:443"].backends; !reflect.DeepEqual(b, []string{"127.0.0.1:36443"}) {
		t.Errorf("kubernetes Service: %v", b)
	}
	if k := KubeService(svcs); k != "127.0.128.1:443" {
		t.Errorf("kubeService = %q", k)
	}
}

// loadBalancerSourceRanges are enforced as a cloud load balancer does: a client outside them is
// dropped, one inside is relayed; the annotation counts when the field is empty.
func TestLoadBalancerSourceRangesAreEnforced(t *testing.T) {
	svc := corev1.Service{Spec: corev1.ServiceSpec{LoadBalancerSourceRanges: []string{"203.0.113.0/24"}}}
	if got := SourceRanges(&svc); len(got) != 1 || got[0].String() != "203.0.113.0/24" {
		t.Fatalf("spec ranges: %v", got)
	}
	ann := corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		"service.beta.kubernetes.io/load-balancer-source-ranges": "127.0.0.0/8, 10.0.0.0/8"}}}
	if got := SourceRanges(&ann); len(got) != 2 {
		t.Fatalf("annotation ranges: %v", got)
	}
	if SourceRanges(&corev1.Service{}) != nil {
		t.Fatal("no ranges must admit any client")
	}
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hi"))
			_ = c.Close()
		}
	}()
	px := New()
	for _, tc := range []struct {
		sources []*net.IPNet
		reached bool
	}{{SourceRanges(&svc), false}, {SourceRanges(&ann), true}, {nil, true}} {
		free, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := free.Addr().String()
		_ = free.Close()
		px.Apply(map[string]Route{addr: {owner: "ns/lb", backends: []string{backend.Addr().String()}, sources: tc.sources}})
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		got, _ := io.ReadAll(c)
		_ = c.Close()
		if reached := string(got) == "hi"; reached != tc.reached {
			t.Fatalf("sources %v: reached the backend = %v, want %v", tc.sources, reached, tc.reached)
		}
	}
	px.Apply(nil)
}
