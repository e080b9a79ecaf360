// Command kafkaclients: an outside Kafka client for the e2e round trips, in Go: franz-go or sarama.
// It does what tests/e2e/kafka/client.py does for kafka-python and librdkafka: bootstraps through one
// address, creates a topic with one partition per broker, partition N led by broker N (replica
// assignment [N]), produces one message to every partition (so to every broker, at the address it
// advertises), then consumes them all back. Prints one JSON line:
//
//	{"ok": bool, "error": str|null, "client": str, "brokers": [[id, host, port]],
//	 "leaders": {partition: id}, "produced": {partition: offset}, "consumed": {partition: [values]}}
//
// and exits 0 only when every message came back. Names resolve as on a machine outside the cluster:
// IP literals, plus the names in -hosts (what a DNS zone would publish); nothing is looked up on the
// network.
//
// usage: kafkaclients -client franz-go|sarama -bootstrap HOST:PORT -topic T -brokers N [-timeout S]
//
//	[-hosts FILE] [-ca FILE]
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

type args struct {
	client, bootstrap, topic string
	brokers                  int
	timeout                  time.Duration
	hosts                    map[string]string
	tls                      *tls.Config
}

type result struct {
	OK       bool                `json:"ok"`
	Error    *string             `json:"error"`
	Client   string              `json:"client"`
	Brokers  [][]any             `json:"brokers"`
	Leaders  map[string]int32    `json:"leaders"`
	Produced map[string]int64    `json:"produced"`
	Consumed map[string][]string `json:"consumed"`
}

func main() {
	var a args
	var hosts, ca string
	var timeout int
	flag.StringVar(&a.client, "client", "", "franz-go or sarama")
	flag.StringVar(&a.bootstrap, "bootstrap", "", "HOST:PORT")
	flag.StringVar(&a.topic, "topic", "", "topic to create")
	flag.IntVar(&a.brokers, "brokers", 0, "how many brokers (one partition each)")
	flag.IntVar(&timeout, "timeout", 60, "seconds")
	flag.StringVar(&hosts, "hosts", "", "a hosts file: the names an outside resolver knows")
	flag.StringVar(&ca, "ca", "", "a PEM bundle to trust (then TLS is used)")
	flag.Parse()
	a.timeout = time.Duration(timeout) * time.Second
	res := &result{Client: a.client, Brokers: [][]any{}, Leaders: map[string]int32{}, Produced: map[string]int64{},
		Consumed: map[string][]string{}}
	err := setup(&a, hosts, ca)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
		defer cancel()
		switch a.client {
		case "franz-go":
			err = franz(ctx, a, res)
		case "sarama":
			err = saramaRoundTrip(ctx, a, res)
		default:
			err = fmt.Errorf("unknown client %q (franz-go, sarama)", a.client)
		}
	}
	total := 0
	for _, v := range res.Consumed {
		total += len(v)
	}
	res.OK = err == nil && total >= a.brokers
	if err != nil {
		msg := err.Error()
		res.Error = &msg
	}
	sort.Slice(res.Brokers, func(i, j int) bool { return res.Brokers[i][0].(int32) < res.Brokers[j][0].(int32) })
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if !res.OK {
		os.Exit(1)
	}
}

func setup(a *args, hosts, ca string) error {
	a.hosts = map[string]string{}
	if hosts != "" {
		f, err := os.Open(hosts)
		if err != nil {
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			fields := strings.Fields(strings.SplitN(s.Text(), "#", 2)[0])
			for _, name := range fields[min(1, len(fields)):] {
				a.hosts[name] = fields[0]
			}
		}
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificate", ca)
		}
		a.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// resolve: an IP literal as it is; a name only from the hosts file (as an outside resolver would).
func (a args) resolve(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if net.ParseIP(host) != nil {
		return addr, nil
	}
	ip, ok := a.hosts[host]
	if !ok {
		return "", fmt.Errorf("%s: name does not resolve outside the cluster", host)
	}
	return net.JoinHostPort(ip, port), nil
}

// dial: TCP to the resolved address, then TLS naming the host it was asked for (SNI, and the name the
// certificate must carry) when a CA was given.
func (a args) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	to, err := a.resolve(addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, network, to)
	if err != nil || a.tls == nil {
		return c, err
	}
	host, _, _ := net.SplitHostPort(addr)
	cfg := a.tls.Clone()
	cfg.ServerName = host
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return tc, nil
}

func values(n int) map[int32]string {
	out := map[int32]string{}
	for p := range n {
		out[int32(p)] = fmt.Sprintf("message-%d", p)
	}
	return out
}

// retry runs f until it succeeds or ctx ends (an application retries its set-up: a load balancer
// sends to a broker's node only once its health check has passed).
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}
