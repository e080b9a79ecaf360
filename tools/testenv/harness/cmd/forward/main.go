// Command forward is the test environment's stand-in for a Service data path: it accepts TCP
// connections on one loopback address and relays each to the first backend that accepts it,
// starting from the next backend in turn (round robin, skipping backends that refuse).
//
//	forward -listen 127.0.0.1:9443 -to 127.0.0.1:9444,127.0.0.1:9445
//
// It is used in front of the two webhook replicas (so stopping one is what a user sees when a
// pod dies) and on each load-balancer address of the Kafka round trip.
package main

import (
	"errors"
	"flag"
	"fmt"
	"kafka-advertiser/testenv/harness/internal/relay"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to accept on, host:port (loopback only)")
	to := flag.String("to", "", "comma-separated backend addresses, host:port")
	flag.Parse()
	backends := splitList(*to)
	if *listen == "" || len(backends) == 0 {
		fmt.Fprintln(os.Stderr, "usage: forward -listen HOST:PORT -to HOST:PORT[,HOST:PORT...]")
		os.Exit(2)
	}
	if err := checkLoopback(*listen); err != nil {
		log.Fatalf("forward: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("forward: listen %s: %v", *listen, err)
	}
	log.Printf("forward: %s -> %s", ln.Addr(), strings.Join(backends, ","))
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = ln.Close()
	}()
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("forward: accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go forward(c, backends, int(next.Add(1)))
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}

func forward(c net.Conn, backends []string, start int) {
	defer c.Close()
	var b net.Conn
	for i := range backends {
		addr := backends[(start+i)%len(backends)]
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			b = conn
			break
		}
	}
	if b == nil {
		log.Printf("forward: no backend of %v accepts connections", backends)
		return
	}
	defer b.Close()
	if tc, ok := b.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	relay.Pipe(c, b)
}
