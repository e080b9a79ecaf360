"""An outside Kafka client for the e2e round trips: kafka-python or librdkafka (confluent-kafka).

Bootstraps through one address, creates a topic with one partition per broker, partition N led by
broker N (replica assignment [N]), produces one message to every partition (so to every broker, at the
address it advertises), then consumes them all back. Prints one JSON line:
{"ok": bool, "error": str|null, "client": str, "brokers": [[id, host, port]],
 "leaders": {partition: id}, "produced": {partition: offset}, "consumed": {partition: [values]}}
and exits 0 only when every message came back.

Names resolve as on a machine outside the cluster: IP literals, plus the names in --hosts (what a
DNS zone would publish) for kafka-python. librdkafka resolves with the C library: it is run only
where every advertised address is an IP literal, so no name is ever looked up on the network.

usage: python3 client.py --client kafka-python|librdkafka --bootstrap HOST:PORT --topic T --brokers N
                         [--timeout S] [--hosts FILE] [--ca FILE]
"""

import argparse
import ipaddress
import json
import logging
import socket
import sys
import time

_real_getaddrinfo = socket.getaddrinfo
HOSTS = {}


def outside_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        if name not in HOSTS:
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: name does not resolve outside the cluster")
        host = HOSTS[name]
    return _real_getaddrinfo(host, *args, **kwargs)


def load_hosts(path):
    for line in open(path):
        parts = line.split("#")[0].split()
        for name in parts[1:]:
            HOSTS[name] = parts[0]


def values(n):
    return {p: f"message-{p}" for p in range(n)}


def kafka_python(a, result):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.errors import KafkaConnectionError, NodeNotReadyError, TopicAlreadyExistsError

    common = dict(bootstrap_servers=[a.bootstrap], request_timeout_ms=int(a.timeout * 1000), reconnect_backoff_max_ms=500)
    if a.ca:
        common.update(security_protocol="SSL", ssl_cafile=a.ca, ssl_check_hostname=True)
    # kafka-python's admin client gives up on the first failed connection to a broker (the Java client and
    # librdkafka retry on their own): retry the admin step until the timeout, as an application would (a
    # load balancer sends to a broker's node only once its health check has passed).
    deadline = time.time() + a.timeout
    while True:
        last = time.time() + 2 > deadline
        try:
            admin = KafkaAdminClient(**common)
        except (KafkaConnectionError, NodeNotReadyError):
            if last:
                raise
            time.sleep(2)
            continue
        try:
            meta = admin.describe_cluster()
            # kafka-python 3 names a broker's id broker_id (DescribeCluster), 2.x node_id (Metadata).
            result["brokers"] = sorted([b.get("node_id", b.get("broker_id")), b["host"], b["port"]] for b in meta["brokers"])
            admin.create_topics([NewTopic(a.topic, num_partitions=-1, replication_factor=-1,
                                          replica_assignments={p: [p] for p in range(a.brokers)})])
            break
        except TopicAlreadyExistsError:
            break
        except (KafkaConnectionError, NodeNotReadyError):
            if last:
                raise
            time.sleep(2)
        finally:
            admin.close()
    producer = KafkaProducer(acks="all", linger_ms=0, max_block_ms=int(a.timeout * 1000), **common)
    try:
        futures = {p: producer.send(a.topic, value=v.encode(), partition=p) for p, v in values(a.brokers).items()}
        for p, fut in futures.items():
            result["produced"][str(p)] = fut.get(timeout=a.timeout).offset
        for p in range(a.brokers):
            result["leaders"][str(p)] = producer._metadata.leader_for_partition(TopicPartition(a.topic, p))
    finally:
        producer.close(timeout=1)
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", **common)
    try:
        tps = [TopicPartition(a.topic, p) for p in range(a.brokers)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.time() + a.timeout
        while sum(map(len, result["consumed"].values())) < a.brokers and time.time() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    result["consumed"].setdefault(str(tp.partition), []).append(r.value.decode())
    finally:
        consumer.close()


def librdkafka(a, result):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    common = {"bootstrap.servers": a.bootstrap, "socket.timeout.ms": int(a.timeout * 1000),
              "reconnect.backoff.max.ms": 500, "broker.address.family": "v4"}
    if a.ca:
        common.update({"security.protocol": "ssl", "ssl.ca.location": a.ca,
                       "ssl.endpoint.identification.algorithm": "https"})
    admin = AdminClient(common)
    fs = admin.create_topics([NewTopic(a.topic, num_partitions=a.brokers, replica_assignment=[[p] for p in range(a.brokers)])],
                             operation_timeout=a.timeout, request_timeout=a.timeout)
    fs[a.topic].result(timeout=a.timeout)
    meta = admin.list_topics(timeout=a.timeout)
    result["brokers"] = sorted([b.id, b.host, b.port] for b in meta.brokers.values())
    producer = Producer({**common, "acks": "all", "linger.ms": 0, "message.timeout.ms": int(a.timeout * 1000)})
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            result["produced"][str(msg.partition())] = msg.offset()

    for p, v in values(a.brokers).items():
        producer.produce(a.topic, value=v.encode(), partition=p, on_delivery=delivered)
    producer.flush(a.timeout)
    if errors:
        raise RuntimeError(f"produce failed: {errors}")
    topic = admin.list_topics(a.topic, timeout=a.timeout).topics[a.topic]
    result["leaders"] = {str(p): m.leader for p, m in topic.partitions.items()}
    consumer = Consumer({**common, "group.id": "e2e-" + a.topic, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(a.topic, p, 0) for p in range(a.brokers)])
        deadline = time.time() + a.timeout
        while sum(map(len, result["consumed"].values())) < a.brokers and time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                result["consumed"].setdefault(str(msg.partition()), []).append(msg.value().decode())
    finally:
        consumer.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", choices=["kafka-python", "librdkafka"], required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--brokers", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--hosts")
    ap.add_argument("--ca")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # the client's own warnings, for the test
    if a.hosts:
        load_hosts(a.hosts)
    socket.getaddrinfo = outside_getaddrinfo
    result = {"ok": False, "error": None, "client": a.client, "brokers": [], "leaders": {}, "produced": {}, "consumed": {}}
    if a.client == "kafka-python":
        import kafka
        result["version"] = kafka.__version__
    try:
        (kafka_python if a.client == "kafka-python" else librdkafka)(a, result)
        want = {str(p): [v] for p, v in values(a.brokers).items()}
        result["ok"] = result["consumed"] == want
        if not result["ok"]:
            result["error"] = f"consumed {result['consumed']}, expected {want}"
    except Exception as e:  # the control case: report why the client could not get through
        result["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
