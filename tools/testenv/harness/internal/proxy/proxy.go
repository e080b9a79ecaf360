// Package proxy plays kube-proxy and a cloud load balancer for the pods the pod runner starts (each
// loopback ingress address and node port relays to a Service's ready endpoints; ClusterIPs on
// loopback too), and a Gateway's data plane (gateway.go).
package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"kafka-advertiser/testenv/harness/internal/endpoints"
	"kafka-advertiser/testenv/harness/internal/relay"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The Service data path (what kube-proxy and a cloud load balancer do together): each loopback
// address in a LoadBalancer Service's status.loadBalancer.ingress accepts on each TCP port of the
// Service and relays to one of its ready endpoints (internal/endpoints) on the port's targetPort.
// Proxy holds one listener per routed "ip:port".
type Proxy struct {
	mu        sync.Mutex
	listeners map[string]*listener // "ip:port" -> listener
}

type listener struct {
	ln       net.Listener
	owner    string
	backends atomic.Pointer[[]string]
	sni      atomic.Pointer[map[string][]string]
	next     atomic.Uint64
	once     atomic.Bool
	sources  atomic.Pointer[[]*net.IPNet]
}

// Routes: "ip:port" -> (owning Service, ready backends). Load-balancer ingress addresses reach every
// ready endpoint (externalTrafficPolicy Local, with `h`: the endpoints of the nodes its health checks
// keep in rotation, at `now`); a node port reaches them on every node address (Local: only the
// endpoints on that node, as kube-proxy does). Only Services with endpoints here get node ports.
func Routes(svcs []corev1.Service, pods []corev1.Pod, nodes map[string]string, h *Health, now time.Time) map[string]Route {
	out := map[string]Route{}
	seen := map[string]bool{}
	if h != nil {
		defer h.forget(seen)
	}
	for i := range svcs {
		svc := &svcs[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeNodePort {
			continue
		}
		eps := endpoints.Of(svc, pods)
		owner := svc.Namespace + "/" + svc.Name
		for _, sp := range svc.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				continue
			}
			local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
			if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				rt := Route{owner: owner, backends: backendsOf(sp, eps, ""), sources: SourceRanges(svc)}
				if local && h != nil {
					// One target per connection, as a load balancer forwards it: no second try elsewhere.
					rt.backends, rt.once = h.localBackends(owner, sp, eps, nodes, now, seen), true
				}
				for _, ing := range svc.Status.LoadBalancer.Ingress {
					if ip := net.ParseIP(ing.IP); ip != nil && ip.IsLoopback() {
						out[net.JoinHostPort(ing.IP, fmt.Sprint(sp.Port))] = rt
					}
				}
			}
			if sp.NodePort == 0 || len(eps) == 0 {
				continue
			}
			for node, ip := range nodes {
				if h != nil && h.down[node] {
					continue
				}
				only := ""
				if local {
					only = node
				}
				out[net.JoinHostPort(ip, fmt.Sprint(sp.NodePort))] = Route{owner: owner, backends: backendsOf(sp, eps, only)}
			}
		}
	}
	return out
}

// clusterIPRoutes: kube-proxy's ClusterIP rules, for Services whose ClusterIP is a loopback address
// (the test control plane's service CIDR is on loopback): each TCP port relays to the ready endpoints.
// The `kubernetes` Service relays to the API server (its endpoint, which the API server's endpoint
// reconciler would publish if loopback addresses were allowed in Endpoints).
func ClusterIPRoutes(svcs []corev1.Service, pods []corev1.Pod, apiserver string) map[string]Route {
	out := map[string]Route{}
	for i := range svcs {
		svc := &svcs[i]
		ip := net.ParseIP(svc.Spec.ClusterIP)
		if ip == nil || !ip.IsLoopback() {
			continue
		}
		owner := svc.Namespace + "/" + svc.Name
		eps := endpoints.Of(svc, pods)
		for _, sp := range svc.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				continue
			}
			bs := backendsOf(sp, eps, "")
			if owner == "default/kubernetes" && sp.Name == "https" {
				bs = []string{apiserver}
			}
			out[net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(sp.Port))] = Route{owner: owner + " (ClusterIP)", backends: bs, once: true}
		}
	}
	return out
}

// kubeService: the `kubernetes` Service's ClusterIP and https port (KUBERNETES_SERVICE_HOST/PORT).
func KubeService(svcs []corev1.Service) string {
	for _, s := range svcs {
		if s.Namespace != "default" || s.Name != "kubernetes" {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Name == "https" && s.Spec.ClusterIP != "" {
				return net.JoinHostPort(s.Spec.ClusterIP, fmt.Sprint(p.Port))
			}
		}
	}
	return ""
}

// backendsOf: pod IP and target port of each endpoint (on node `only`, when set).
func backendsOf(sp corev1.ServicePort, eps []endpoints.Endpoint, only string) []string {
	var bs []string
	for _, e := range eps {
		if only != "" && e.Pod.Spec.NodeName != only {
			continue
		}
		if port, ok := endpoints.TargetPort(sp, e.Pod); ok {
			bs = append(bs, net.JoinHostPort(e.IP, fmt.Sprint(port)))
		}
	}
	return bs
}

// Route is what one "ip:port" relays to.
type Route struct {
	owner    string
	backends []string
	sni      map[string][]string // TLS passthrough: backends by the client's server name
	// once: one backend per connection, as kube-proxy's ClusterIP rules pick it: a backend that refuses
	// fails the connection (no second try, unlike a load balancer's health-checked pool).
	once bool
	// sources: the client addresses a load balancer lets in (nil: any).
	sources []*net.IPNet
}

// SourceRanges: the clients a load balancer admits, as cloud providers and kube-proxy read them:
// spec.loadBalancerSourceRanges, else the service.beta.kubernetes.io/load-balancer-source-ranges
// annotation (comma-separated); none means any. A range that does not parse admits nobody through it.
func SourceRanges(svc *corev1.Service) []*net.IPNet {
	ranges := svc.Spec.LoadBalancerSourceRanges
	if len(ranges) == 0 {
		if a := strings.TrimSpace(svc.Annotations["service.beta.kubernetes.io/load-balancer-source-ranges"]); a != "" {
			ranges = strings.Split(a, ",")
		}
	}
	if len(ranges) == 0 {
		return nil
	}
	out := []*net.IPNet{}
	for _, r := range ranges {
		if _, n, err := net.ParseCIDR(strings.TrimSpace(r)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// admits: whether a client at addr may pass (sources nil: any).
func admits(sources []*net.IPNet, addr net.Addr) bool {
	if sources == nil {
		return true
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	for _, n := range sources {
		if n.Contains(tcp.IP) {
			return true
		}
	}
	return false
}

// Apply listens on every address of want (and stops the others), relaying as each Route says.
func (px *Proxy) Apply(want map[string]Route) {
	px.mu.Lock()
	defer px.mu.Unlock()
	for addr, l := range px.listeners {
		if rt, ok := want[addr]; !ok || rt.owner != l.owner {
			_ = l.ln.Close()
			delete(px.listeners, addr)
			log.Printf("proxy: %s (%s) closed", addr, l.owner)
		}
	}
	for addr, rt := range want {
		l, ok := px.listeners[addr]
		if !ok {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				log.Printf("proxy: %s (%s): %v", addr, rt.owner, err)
				continue
			}
			l = &listener{ln: ln, owner: rt.owner}
			px.listeners[addr] = l
			log.Printf("proxy: %s (%s) open", addr, rt.owner)
			go l.serve()
		}
		b, sni, src := rt.backends, rt.sni, rt.sources
		l.backends.Store(&b)
		l.sni.Store(&sni)
		l.once.Store(rt.once)
		l.sources.Store(&src)
	}
}

func (l *listener) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go l.relay(c)
	}
}

// relay: to the next ready backend that accepts (none ready: the connection is refused by closing it).
func (l *listener) relay(c net.Conn) {
	defer c.Close()
	if src := l.sources.Load(); src != nil && !admits(*src, c.RemoteAddr()) {
		log.Printf("proxy: %s (%s): %s is outside loadBalancerSourceRanges: dropped", l.ln.Addr(), l.owner, c.RemoteAddr())
		return
	}
	bs := *l.backends.Load()
	var hello []byte
	if sni := *l.sni.Load(); sni != nil {
		name, read, err := serverName(c)
		if err != nil {
			log.Printf("proxy: %s (%s): no TLS ClientHello from %s: %v", l.ln.Addr(), l.owner, c.RemoteAddr(), err)
			return
		}
		bs, hello = matchSNI(sni, name), read
		if len(bs) == 0 {
			log.Printf("proxy: %s (%s): no route for server name %q", l.ln.Addr(), l.owner, name)
		}
	}
	start := int(l.next.Add(1))
	if l.once.Load() && len(bs) > 1 {
		bs = bs[start%len(bs) : start%len(bs)+1]
	}
	if len(bs) == 0 {
		log.Printf("proxy: %s (%s): no ready endpoint for %s", l.ln.Addr(), l.owner, c.RemoteAddr())
	}
	for i := range bs {
		if bs[(start+i)%len(bs)] == noEndpoint {
			log.Printf("proxy: %s (%s): %s sent to a node without a ready endpoint: dropped", l.ln.Addr(), l.owner, c.RemoteAddr())
			return
		}
		b, err := net.DialTimeout("tcp", bs[(start+i)%len(bs)], 3*time.Second)
		if err != nil {
			log.Printf("proxy: %s (%s): backend %s: %v", l.ln.Addr(), l.owner, bs[(start+i)%len(bs)], err)
			continue
		}
		defer b.Close()
		if _, err := b.Write(hello); err != nil {
			return
		}
		relay.Pipe(c, b)
		return
	}
}

// serverName reads the client's TLS ClientHello (without answering it) and returns its SNI and the
// bytes read, which are then replayed to the backend: TLS passthrough.
func serverName(c net.Conn) (string, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	rec := &recorder{r: c}
	var name string
	err := tls.Server(rec, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		name = h.ServerName
		return nil, errHelloRead
	}}).Handshake()
	if name == "" && !errors.Is(err, errHelloRead) {
		return "", nil, err
	}
	return name, rec.buf.Bytes(), nil
}

var errHelloRead = errors.New("client hello read")

// recorder: a connection that only reads (and keeps what it read); writes go nowhere.
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}
func (r *recorder) Write(p []byte) (int, error)      { return len(p), nil }
func (r *recorder) Close() error                     { return nil }
func (r *recorder) LocalAddr() net.Addr              { return nil }
func (r *recorder) RemoteAddr() net.Addr             { return nil }
func (r *recorder) SetDeadline(time.Time) error      { return nil }
func (r *recorder) SetReadDeadline(time.Time) error  { return nil }
func (r *recorder) SetWriteDeadline(time.Time) error { return nil }

// matchSNI: the backends of the route whose hostname matches (exact first, then a `*.` wildcard of one
// or more leading labels, the longest first).
func matchSNI(sni map[string][]string, name string) []string {
	if bs, ok := sni[name]; ok {
		return bs
	}
	best, out := 0, []string(nil)
	for h, bs := range sni {
		if suffix, ok := strings.CutPrefix(h, "*"); ok && strings.HasSuffix(name, suffix) && len(suffix) > best {
			best, out = len(suffix), bs
		}
	}
	return out
}

// New returns a proxy that listens nowhere yet.
func New() *Proxy {
	return &Proxy{listeners: map[string]*listener{}}
}
