package relay

import (
	"io"
	"net"
	"testing"
)

// pair: two ends of one loopback TCP connection.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return c, <-accepted
}

// A request whose writer half-closes still gets its whole answer back through the relay.
func TestPipeRelaysBothWaysAndHalfCloses(t *testing.T) {
	client, front := pair(t)
	back, server := pair(t)
	go Pipe(front, back)
	go func() {
		req, _ := io.ReadAll(server) // until the client's half-close reaches it
		_, _ = server.Write(append([]byte("got "), req...))
		_ = server.Close()
	}()
	_, _ = client.Write([]byte("hello"))
	_ = client.(*net.TCPConn).CloseWrite()
	answer, err := io.ReadAll(client)
	if err != nil || string(answer) != "got hello" {
		t.Fatalf("answer %q, err %v", answer, err)
	}
}
