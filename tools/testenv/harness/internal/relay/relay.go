// Package relay copies bytes both ways between two connections, as a TCP proxy does: when one
// direction's source ends, its destination is half-closed (the peer reads EOF and may still answer),
// and Pipe returns once both directions have ended. The forwarder and the pod runner's kube-proxy
// and Gateway data plane relay through it.
package relay

import (
	"io"
	"net"
)

// Pipe relays between a and b until both directions have ended.
func Pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	half := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go half(a, b)
	go half(b, a)
	<-done
	<-done
}
