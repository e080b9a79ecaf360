package main

import (
	"fmt"
	"net/netip"
	"sync"
)

// allocator hands out pod IPs from a loopback prefix, one per pod UID.
type allocator struct {
	mu     sync.Mutex
	prefix netip.Prefix
	next   netip.Addr
	byUID  map[string]netip.Addr
	inUse  map[netip.Addr]bool
}

func newAllocator(cidr string) (*allocator, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, err
	}
	if !p.Addr().IsLoopback() || !p.Addr().Is4() {
		return nil, fmt.Errorf("%s is not an IPv4 loopback range", cidr)
	}
	p = p.Masked()
	return &allocator{prefix: p, next: p.Addr().Next(), byUID: map[string]netip.Addr{}, inUse: map[netip.Addr]bool{}}, nil
}

// take: the pod's IP (the same for the same UID); addresses are reused only after a full cycle.
func (a *allocator) take(uid string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byUID[uid]; ok {
		return ip.String()
	}
	for {
		ip := a.next
		a.next = a.next.Next()
		if !a.prefix.Contains(a.next) {
			a.next = a.prefix.Addr().Next()
		}
		if !a.inUse[ip] && ip.As4()[3] != 0 && ip.As4()[3] != 255 {
			a.inUse[ip] = true
			a.byUID[uid] = ip
			return ip.String()
		}
	}
}

func (a *allocator) release(uid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byUID[uid]; ok {
		delete(a.inUse, ip)
		delete(a.byUID, uid)
	}
}
