package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The Service data path (what kube-proxy and a cloud load balancer do together): each loopback
// address in a LoadBalancer Service's status.loadBalancer.ingress accepts on each TCP port of the
// Service and relays to one of its ready endpoints (endpoints.go) on the port's targetPort.
type proxy struct {
	mu        sync.Mutex
	listeners map[string]*listener // "ip:port" -> listener
}

type listener struct {
	ln       net.Listener
	owner    string
	backends atomic.Pointer[[]string]
	next     atomic.Uint64
}

// routes: "ip:port" -> (owning Service, ready backends). Load-balancer ingress addresses reach every
// ready endpoint; a node port reaches them on every node address (externalTrafficPolicy Local: only the
// endpoints on that node, as kube-proxy does). Only Services with endpoints here get node ports.
func routes(svcs []corev1.Service, pods []corev1.Pod, nodes map[string]string) map[string]route {
	out := map[string]route{}
	for i := range svcs {
		svc := &svcs[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeNodePort {
			continue
		}
		eps := serviceEndpoints(svc, pods)
		owner := svc.Namespace + "/" + svc.Name
		for _, sp := range svc.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
				continue
			}
			if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				for _, ing := range svc.Status.LoadBalancer.Ingress {
					if ip := net.ParseIP(ing.IP); ip != nil && ip.IsLoopback() {
						out[net.JoinHostPort(ing.IP, fmt.Sprint(sp.Port))] = route{owner: owner, backends: backendsOf(sp, eps, "")}
					}
				}
			}
			if sp.NodePort == 0 || len(eps) == 0 {
				continue
			}
			local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
			for node, ip := range nodes {
				only := ""
				if local {
					only = node
				}
				out[net.JoinHostPort(ip, fmt.Sprint(sp.NodePort))] = route{owner: owner, backends: backendsOf(sp, eps, only)}
			}
		}
	}
	return out
}

// backendsOf: pod IP and target port of each endpoint (on node `only`, when set).
func backendsOf(sp corev1.ServicePort, eps []endpoint, only string) []string {
	var bs []string
	for _, e := range eps {
		if only != "" && e.pod.Spec.NodeName != only {
			continue
		}
		if port, ok := targetPort(sp, e.pod); ok {
			bs = append(bs, net.JoinHostPort(e.ip, fmt.Sprint(port)))
		}
	}
	return bs
}

type route struct {
	owner    string
	backends []string
}

func (px *proxy) apply(want map[string]route) {
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
		b := rt.backends
		l.backends.Store(&b)
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
	bs := *l.backends.Load()
	start := int(l.next.Add(1))
	for i := range bs {
		b, err := net.DialTimeout("tcp", bs[(start+i)%len(bs)], 3*time.Second)
		if err != nil {
			continue
		}
		defer b.Close()
		done := make(chan struct{}, 2)
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			done <- struct{}{}
		}
		go pipe(b, c)
		go pipe(c, b)
		<-done
		<-done
		return
	}
}
