package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franz: the round trip with franz-go (kgo, kadm and a raw CreateTopics for the replica assignment).
func franz(ctx context.Context, a args, res *result) error {
	opts := []kgo.Opt{kgo.SeedBrokers(a.bootstrap), kgo.Dialer(a.dial), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks())}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := retry(ctx, func() error { return franzCreate(ctx, cl, a) }); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("list brokers: %w", err)
	}
	for _, b := range brokers {
		res.Brokers = append(res.Brokers, []any{b.NodeID, b.Host, b.Port})
	}
	for p, v := range values(a.brokers) {
		r := cl.ProduceSync(ctx, &kgo.Record{Topic: a.topic, Partition: p, Value: []byte(v)})
		rec, err := r.First()
		if err != nil {
			return fmt.Errorf("produce to partition %d: %w", p, err)
		}
		res.Produced[strconv.Itoa(int(p))] = rec.Offset
	}
	meta, err := adm.Metadata(ctx, a.topic)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	for _, p := range meta.Topics[a.topic].Partitions {
		res.Leaders[strconv.Itoa(int(p.Partition))] = p.Leader
	}
	parts := map[int32]kgo.Offset{}
	for p := range a.brokers {
		parts[int32(p)] = kgo.NewOffset().AtStart()
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(a.bootstrap), kgo.Dialer(a.dial),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{a.topic: parts}))
	if err != nil {
		return err
	}
	defer consumer.Close()
	for got := 0; got < a.brokers; {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("consume: %d of %d: %w", got, a.brokers, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			k := strconv.Itoa(int(r.Partition))
			res.Consumed[k] = append(res.Consumed[k], string(r.Value))
			got++
		})
	}
	return nil
}

func franzCreate(ctx context.Context, cl *kgo.Client, a args) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = a.topic, -1, -1
	for p := range a.brokers {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(p), []int32{int32(p)}
		t.ReplicaAssignment = append(t.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return err
		}
	}
	return nil
}
