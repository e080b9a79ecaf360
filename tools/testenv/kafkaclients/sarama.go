package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// dialer: sarama's proxy dialer, so names resolve from the hosts file (sarama then does TLS itself,
// naming the broker's host).
type dialer struct{ a args }

func (d dialer) Dial(network, addr string) (net.Conn, error) {
	to, err := d.a.resolve(addr)
	if err != nil {
		return nil, err
	}
	return net.DialTimeout(network, to, 10*time.Second)
}

// saramaRoundTrip: the round trip with sarama (ClusterAdmin, SyncProducer, Consumer).
func saramaRoundTrip(ctx context.Context, a args, res *result) error {
	cfg := sarama.NewConfig()
	cfg.ClientID = "kafka-advertiser-e2e"
	cfg.Version = sarama.V3_9_0_0
	cfg.Net.Proxy.Enable, cfg.Net.Proxy.Dialer = true, dialer{a}
	if a.tls != nil {
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, a.tls
	}
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Metadata.Retry.Max, cfg.Metadata.Retry.Backoff = 10, time.Second
	var admin sarama.ClusterAdmin
	err := retry(ctx, func() error {
		var err error
		if admin == nil {
			if admin, err = sarama.NewClusterAdmin([]string{a.bootstrap}, cfg); err != nil {
				return err
			}
		}
		assign := map[int32][]int32{}
		for p := range a.brokers {
			assign[int32(p)] = []int32{int32(p)}
		}
		err = admin.CreateTopic(a.topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: assign}, false)
		if errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	defer admin.Close()
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return fmt.Errorf("describe cluster: %w", err)
	}
	for _, b := range brokers {
		host, port, _ := net.SplitHostPort(b.Addr())
		n, _ := strconv.Atoi(port)
		res.Brokers = append(res.Brokers, []any{b.ID(), host, n})
	}
	client, err := sarama.NewClient([]string{a.bootstrap}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return err
	}
	defer producer.Close()
	for p, v := range values(a.brokers) {
		_, off, err := producer.SendMessage(&sarama.ProducerMessage{Topic: a.topic, Partition: p, Value: sarama.StringEncoder(v)})
		if err != nil {
			return fmt.Errorf("produce to partition %d: %w", p, err)
		}
		res.Produced[strconv.Itoa(int(p))] = off
		leader, err := client.Leader(a.topic, p)
		if err != nil {
			return fmt.Errorf("leader of partition %d: %w", p, err)
		}
		res.Leaders[strconv.Itoa(int(p))] = leader.ID()
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	for p := range a.brokers {
		pc, err := consumer.ConsumePartition(a.topic, int32(p), sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("consume partition %d: %w", p, err)
		}
		select {
		case m := <-pc.Messages():
			res.Consumed[strconv.Itoa(p)] = append(res.Consumed[strconv.Itoa(p)], string(m.Value))
		case <-ctx.Done():
			_ = pc.Close()
			return fmt.Errorf("consume partition %d: %w", p, ctx.Err())
		}
		_ = pc.Close()
	}
	return nil
}
